// eventfd and eventfd_sem: the shared memory slot ring (transports/os/shm_ring.hpp), one per
// direction, whose sides sleep in read() on an eventfd and are woken by the other side's write()
// (EventfdWait, transports/os/eventfd_wait.hpp). The eventfds are made before fork() and
// inherited. eventfd: a plain counter, so notifications the reader has not yet read coalesce into
// one read() (counted: transports/eventfd.hpp); eventfd_sem: EFD_SEMAPHORE, each read() takes one.
// Messages never coalesce: they sit in the ring, and the reader takes them one by one.
#include "transports/eventfd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "transports/os/eventfd_wait.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// Blocking (a read() sleeps until the counter is above 0), close-on-exec.
int eventfd_flags(bool semaphore) { return EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0); }

UniqueFd open_eventfd(bool semaphore, const std::string& object) {
  const int fd = ::eventfd(0, eventfd_flags(semaphore));
  if (fd < 0) throw_sys_error(errno, "eventfd", object);
  return UniqueFd(fd);
}

// The two eventfds of one ring: the reader sleeps on `data`, the writer on `space`.
struct RingBells {
  UniqueFd data, space;
};

class EventfdTransport final : public Transport {
  using Ring = SlotRing<EventfdWait>;

 public:
  EventfdTransport(const TransportOptions& options, bool semaphore, const char* id)
      : geometry_(ring_geometry_for(options.message_bytes)),
        segment_(options.name, 2 * Ring::bytes_for(geometry_)),
        object_(std::string(id) + " /dev/shm/" + options.name) {
    down_bells_ = {open_eventfd(semaphore, object_ + " (down ring, data eventfd)"),
                   open_eventfd(semaphore, object_ + " (down ring, space eventfd)")};
    up_bells_ = {open_eventfd(semaphore, object_ + " (up ring, data eventfd)"),
                 open_eventfd(semaphore, object_ + " (up ring, space eventfd)")};
    Ring::create(segment_.data(), geometry_);
    Ring::create(segment_.data() + Ring::bytes_for(geometry_), geometry_);
    down_.emplace(segment_.data(), wait_for(down_bells_, options), object_ + " (down ring)");
    up_.emplace(segment_.data() + Ring::bytes_for(geometry_), wait_for(up_bells_, options),
                object_ + " (up ring)");
  }

  // Both sides keep all four eventfds: each writes the data eventfd of the ring it writes and the
  // space eventfd of the ring it reads, and sleeps on the other two.
  void attach(Role role, pid_t /*peer*/) override {
    producer_ = role == Role::kProducer;
    stats_ = {};
    segment_.touch();  // a forked child faults the pages in now, not in the timed part
  }
  void send(std::span<const std::byte> msg) override { (producer_ ? *down_ : *up_).send(msg); }
  Received recv(std::span<std::byte> msg) override {
    (producer_ ? *up_ : *down_).recv(msg);
    return Received::kMessage;
  }

  [[nodiscard]] const EventfdStats& stats() const noexcept { return stats_; }
  // Both rings' waits of this process: data it waited for, space it waited for.
  [[nodiscard]] WakeCounts wake_counts() const noexcept override {
    return {.counted = true,
            .reads = stats_.data.reads + stats_.space.reads,
            .notifications = stats_.data.notifications + stats_.space.notifications};
  }

 private:
  EventfdWait wait_for(const RingBells& bells, const TransportOptions& options) noexcept {
    return EventfdWait(bells.data.get(), bells.space.get(), options.same_cpu, &stats_);
  }

  RingGeometry geometry_;
  ShmSegment segment_;
  std::string object_;
  RingBells down_bells_, up_bells_;  // producer -> consumer, consumer -> producer
  EventfdStats stats_;               // this process's reads (the rings' policies point here)
  std::optional<Ring> down_, up_;    // built once the segment is mapped
  bool producer_ = true;
};

// "" when this process can make an eventfd of that kind, else why not (a seccomp filter or a
// kernel built without CONFIG_EVENTFD). Asked once per kind.
const std::string& eventfd_unavailable(bool semaphore) {
  static const auto probe = [](bool sem) -> std::string {
    const int fd = ::eventfd(0, eventfd_flags(sem));
    if (fd < 0) {
      const int err = errno;
      return std::string("eventfd(") + (sem ? "EFD_SEMAPHORE" : "0") +
             ") fails here: " + std::strerror(err);
    }
    ::close(fd);
    return {};
  };
  static const std::string plain = probe(false);
  static const std::string sem = probe(true);
  return semaphore ? sem : plain;
}

Capabilities describe(bool semaphore) {
  return {.limit_source = "none: any size, streamed through the ring piece by piece when larger",
          .busy_polls = false,
          .waits_by = semaphore
                          ? "read() of an EFD_SEMAPHORE eventfd when the ring is empty: each read "
                            "takes one notification; the writer write()s 1 after every message"
                          : "read() of an eventfd when the ring is empty: one read takes every "
                            "notification posted since the last (they coalesce and are counted); "
                            "the writer write()s 1 after every message",
          .unavailable = eventfd_unavailable(semaphore)};
}

constexpr std::string_view kNoFanIn =
    "not written yet: a ring has one writer, so fan-in needs one ring per client and a server "
    "waiting on all their eventfds at once (epoll can: eventfds are pollable)";
constexpr std::string_view kNoBroadcast =
    "not written yet: the broadcast ring builds its wait policy from the options alone, and an "
    "eventfd wake-up for every reader needs one eventfd per reader; FanOut uses one pair "
    "channel per consumer";

}  // namespace

std::optional<EventfdStats> eventfd_stats(const Transport& transport) noexcept {
  if (const auto* t = dynamic_cast<const EventfdTransport*>(&transport)) return t->stats();
  return std::nullopt;
}

TransportPtr make_eventfd(const TransportOptions& options) {
  return std::make_unique<EventfdTransport>(options, false, "eventfd");
}

Capabilities describe_eventfd() { return describe(false); }

TransportForms forms_eventfd() { return {.no_fan_in = kNoFanIn, .no_broadcast = kNoBroadcast}; }

TransportPtr make_eventfd_sem(const TransportOptions& options) {
  return std::make_unique<EventfdTransport>(options, true, "eventfd_sem");
}

Capabilities describe_eventfd_sem() { return describe(true); }

TransportForms forms_eventfd_sem() { return {.no_fan_in = kNoFanIn, .no_broadcast = kNoBroadcast}; }

}  // namespace ipcbench
