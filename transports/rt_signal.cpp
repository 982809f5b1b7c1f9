// rt_signal: realtime signals sent with sigqueue(), each carrying one 8-byte word in its sigval;
// received with sigwaitinfo() on blocked signals (no signal handler). They queue, never coalesce.
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "transports/os/signal_mask.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

static_assert(sizeof(sigval) == kWordBytes, "the word travels in one sigval");

// One signal number per direction. Offsets from SIGRTMIN (glibc already keeps its own realtime
// signals below SIGRTMIN); nothing else in the suite uses these two.
int down_signal() { return SIGRTMIN; }    // producer -> consumer
int up_signal() { return SIGRTMIN + 1; }  // consumer -> producer

std::string sigpending_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_SIGPENDING, &lim) != 0) return "unreadable";
  if (lim.rlim_cur == RLIM_INFINITY) return "unlimited";
  return std::to_string(lim.rlim_cur);
}

class RtSignalTransport final : public Transport {
 public:
  // Both signals are blocked here, before fork(), so the child inherits the mask.
  RtSignalTransport() : blocked_({down_signal(), up_signal()}, "SIGRTMIN/SIGRTMIN+1") {
    if (up_signal() > SIGRTMAX) {
      throw_sys_error(EINVAL, "sigqueue", "SIGRTMIN+1 is above SIGRTMAX on this system");
    }
    rlimit lim{};
    if (::getrlimit(RLIMIT_SIGPENDING, &lim) == 0 && lim.rlim_cur == 0) {
      throw_sys_error(EAGAIN, "sigqueue",
                      "RLIMIT_SIGPENDING = 0: no realtime signal can be queued");
    }
  }

  void attach(Role role, pid_t peer) override {
    assert(peer > 0);  // never a process group
    peer_ = peer;
    const bool producer = role == Role::kProducer;
    out_signal_ = producer ? down_signal() : up_signal();
    sigemptyset(&wanted_);
    sigaddset(&wanted_, producer ? up_signal() : down_signal());
    name_ = std::string("realtime signals to and from ") + (producer ? "consumer" : "producer") +
            " pid " + std::to_string(peer);
  }
  void send(std::span<const std::byte> msg) override {
    check_size(msg.size(), "sigqueue");
    sigval value{};
    std::memcpy(&value, msg.data(), sizeof value);
    int waits = 0;
    while (::sigqueue(peer_, out_signal_, value) != 0) {
      const int err = errno;
      if (err != EAGAIN) throw_sys_error(err, "sigqueue", name_);
      // The user's queued signals reached RLIMIT_SIGPENDING: the send blocks until the receiver
      // takes some, sleeping briefly so it does not take the CPU the receiver may need. Full for
      // 2 s (100'000 pauses of 20 us) means nobody drains it: an error naming the limit.
      throw_if_interrupted("sigqueue", name_);
      if (++waits > 100'000) {
        throw_sys_error(EAGAIN, "sigqueue",
                        name_ + ": RLIMIT_SIGPENDING = " + sigpending_limit() +
                            " reached and not drained for 2 s");
      }
      const timespec pause{0, 20'000};
      ::nanosleep(&pause, nullptr);
    }
  }
  Received recv(std::span<std::byte> msg) override {
    check_size(msg.size(), "sigwaitinfo");
    siginfo_t info;
    do {
      (void)wait_signal_from(wanted_, peer_, info, name_);
    } while (info.si_code != SI_QUEUE);  // a kill() carries no word: not one of ours
    std::memcpy(msg.data(), &info.si_value, kWordBytes);
    return Received::kMessage;
  }

 private:
  void check_size(std::size_t bytes, const char* call) const {
    if (bytes != kWordBytes) {
      throw_sys_error(EMSGSIZE, call,
                      name_ + ": a realtime signal carries exactly " + std::to_string(kWordBytes) +
                          " bytes (one sigval), not " + std::to_string(bytes));
    }
  }

  BlockedSignals blocked_;
  sigset_t wanted_{};
  pid_t peer_ = -1;
  int out_signal_ = 0;
  std::string name_;
};

}  // namespace

TransportPtr make_rt_signal(const TransportOptions&) {
  return std::make_unique<RtSignalTransport>();
}

Capabilities describe_rt_signal() {
  return {.payload = Payload::kWord,
          .max_message_bytes = kWordBytes,
          .limit_source =
              "one sigval (8 bytes) per signal; queued signals are bounded by "
              "RLIMIT_SIGPENDING = " +
              sigpending_limit() +
              " (getrlimit), beyond which sigqueue() fails with EAGAIN and the "
              "sender waits",
          .waits_by = "sigwaitinfo() on blocked signals"};
}

TransportForms forms_rt_signal() {
  return {.no_fan_in =
              "the fan-in form carries framed byte requests (sequence number, time "
              "stamp, payload) and a realtime signal carries one 8-byte word",
          .no_broadcast = "sigqueue() signals one process: FanOut sends one signal per consumer"};
}

}  // namespace ipcbench
