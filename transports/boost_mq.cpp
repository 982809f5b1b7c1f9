// boost_mq: boost::interprocess::message_queue, a queue built in POSIX shared memory (a ring of
// fixed-size slots under an interprocess mutex and two conditions), one queue per direction.
#include <algorithm>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <boost/interprocess/permissions.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "transports/os/boost_ipc.hpp"
#include "transports/os/ledger.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

namespace bip = boost::interprocess;

// Queue depth: about 4 MiB of messages (a stream's producer runs ahead as it does into a pipe),
// at least 2 so a writer can fill one slot while the reader empties another, at most 64.
constexpr std::size_t kQueueBytes = std::size_t{4} << 20;
constexpr std::size_t kMinDepth = 2, kMaxDepth = 64;
constexpr std::size_t kQueues = 2;

std::size_t depth_for(std::size_t max_message) {
  return std::clamp(kQueueBytes / max_message, kMinDepth, kMaxDepth);
}

class BoostMqTransport final : public Transport {
 public:
  explicit BoostMqTransport(const TransportOptions& options)
      // The largest message is the run's size; acks (16 bytes) are never larger.
      : max_(std::max<std::size_t>(options.message_bytes, 64)), scratch_(max_) {
    create(down_, options.name + "-down", down_object_);
    create(up_, options.name + "-up", up_object_);
  }

  void attach(Role role, pid_t /*peer*/) override { producer_ = role == Role::kProducer; }

  void send(std::span<const std::byte> msg) override {
    bip::message_queue& q = producer_ ? *down_ : *up_;
    const std::string& object = producer_ ? down_object_ : up_object_;
    if (msg.size() > max_) {
      throw_sys_error(EMSGSIZE, "message_queue::send",
                      object + ": " + std::to_string(msg.size()) +
                          " bytes, the queue's largest is " + std::to_string(max_));
    }
    try {
      // Timed, so a full queue whose reader died still lets us see interrupted().
      while (!q.timed_send(msg.data(), msg.size(), 0, deadline_)) {
        throw_if_interrupted("message_queue::timed_send", object);
        deadline_ = wait_slice_deadline();
      }
    } catch (const bip::interprocess_exception& e) {
      rethrow_interprocess(e, "message_queue::timed_send", object);
    }
  }

  Received recv(std::span<std::byte> msg) override {
    bip::message_queue& q = producer_ ? *up_ : *down_;
    const std::string& object = producer_ ? up_object_ : down_object_;
    // Boost refuses a buffer smaller than the queue's largest message: a smaller message (an ack)
    // is received into the scratch buffer and copied out.
    const bool direct = msg.size() >= max_;
    std::byte* into = direct ? msg.data() : scratch_.data();
    const std::size_t room = direct ? msg.size() : scratch_.size();
    bip::message_queue::size_type got = 0;
    unsigned int priority = 0;
    try {
      // The deadline is refreshed only when a slice ran out: no clock read per message.
      while (!q.timed_receive(into, room, got, priority, deadline_)) {
        throw_if_interrupted("message_queue::timed_receive", object);
        deadline_ = wait_slice_deadline();
      }
    } catch (const bip::interprocess_exception& e) {
      rethrow_interprocess(e, "message_queue::timed_receive", object);
    }
    if (got != msg.size()) {
      throw_sys_error(EMSGSIZE, "message_queue::timed_receive",
                      object + ": message of " + std::to_string(got) + " bytes where " +
                          std::to_string(msg.size()) + " were expected");
    }
    if (!direct) std::memcpy(msg.data(), scratch_.data(), got);
    return Received::kMessage;
  }

 private:
  void create(std::optional<bip::message_queue>& q, const std::string& name, std::string& object) {
    object = "boost message_queue /dev/shm/" + name;
    const NameRecord record(ObjectKind::kPosixShm, name);  // covers a kill before remove()
    try {
      bip::permissions only_us;
      only_us.set_permissions(0600);
      // create_only: O_EXCL, never someone else's queue.
      q.emplace(bip::create_only, name.c_str(), depth_for(max_), max_, only_us);
    } catch (const bip::interprocess_exception& e) {
      rethrow_interprocess(e, "message_queue", object);
    }
    // The queue stays usable through its mapping, which fork() hands to the child: the name is not
    // needed any more, so nothing can leak.
    bip::message_queue::remove(name.c_str());
  }

  std::size_t max_;
  std::vector<std::byte> scratch_;
  std::optional<bip::message_queue> down_, up_;  // producer -> consumer, consumer -> producer
  std::string down_object_, up_object_;
  boost::posix_time::ptime deadline_ = wait_slice_deadline();
  bool producer_ = true;
};

}  // namespace

TransportPtr make_boost_mq(const TransportOptions& options) {
  return std::make_unique<BoostMqTransport>(options);
}

Capabilities describe_boost_mq() {
  return {.limit_source =
              "none: any size /dev/shm has room for (2 queues of at least 2 messages; "
              "creating a queue that does not fit fails naming it)",
          .waits_by = "interprocess_condition (process-shared pthread) under the queue's mutex"};
}

TransportForms forms_boost_mq() {
  return {.no_fan_in =
              "not written yet: a message_queue has no sender identity, so a shared "
              "request queue needs the client's index in each message, as posix_mq's "
              "fan-in form does",
          .no_broadcast =
              "a message is taken by one receiver only: FanOut uses one queue pair "
              "per consumer"};
}

}  // namespace ipcbench
