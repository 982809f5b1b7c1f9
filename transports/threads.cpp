// threads: the two roles as two threads of one process, handing messages through a mutex and a
// condition variable (the lecture's thread section): what the process boundary itself costs.
#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// How long a wait lasts before it looks at interrupted() (the watchdog) again.
constexpr std::chrono::milliseconds kWaitSlice{50};

// A bounded queue of message slots for one direction: copy in under the mutex, copy out under it.
class Mailbox {
 public:
  Mailbox(std::size_t slot_bytes, std::size_t slots, std::string object)
      : slot_bytes_(slot_bytes),
        buffer_(slot_bytes * slots),
        sizes_(slots),
        object_(std::move(object)) {}

  void put(std::span<const std::byte> msg) {
    if (msg.size() > slot_bytes_) {
      throw_sys_error(EMSGSIZE, "send",
                      object_ + ": " + std::to_string(msg.size()) + " bytes, a slot holds " +
                          std::to_string(slot_bytes_));
    }
    {
      std::unique_lock lock(mutex_);
      while (count_ == sizes_.size()) {
        not_full_.wait_for(lock, kWaitSlice);
        throw_if_interrupted("condition_variable::wait_for", object_);
      }
      const std::size_t slot = (first_ + count_) % sizes_.size();
      std::memcpy(buffer_.data() + slot * slot_bytes_, msg.data(), msg.size());
      sizes_[slot] = msg.size();
      ++count_;
    }
    not_empty_.notify_one();
  }

  void take(std::span<std::byte> msg) {
    {
      std::unique_lock lock(mutex_);
      while (count_ == 0) {
        not_empty_.wait_for(lock, kWaitSlice);
        throw_if_interrupted("condition_variable::wait_for", object_);
      }
      const std::size_t got = sizes_[first_];
      if (got != msg.size()) {
        throw_sys_error(EMSGSIZE, "recv",
                        object_ + ": message of " + std::to_string(got) + " bytes where " +
                            std::to_string(msg.size()) + " were expected");
      }
      std::memcpy(msg.data(), buffer_.data() + first_ * slot_bytes_, got);
      first_ = (first_ + 1) % sizes_.size();
      --count_;
    }
    not_full_.notify_one();
  }

 private:
  std::size_t slot_bytes_;
  std::vector<std::byte> buffer_;
  std::vector<std::size_t> sizes_;  // of each slot's message
  std::string object_;
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::size_t first_ = 0, count_ = 0;  // guarded by mutex_
};

// About 1 MiB of slots per direction (a stream's producer runs ahead, as into a pipe), at least 2
// so one slot fills while the other empties, at most 64.
std::size_t slots_for(std::size_t slot_bytes) {
  return std::clamp<std::size_t>((std::size_t{1} << 20) / slot_bytes, 2, 64);
}

class ThreadsTransport final : public Transport {
 public:
  explicit ThreadsTransport(const TransportOptions& options)
      : slot_bytes_(std::max<std::size_t>(options.message_bytes, 64)),  // acks are 16 bytes
        down_(slot_bytes_, slots_for(slot_bytes_), "threads down mailbox"),
        up_(slot_bytes_, slots_for(slot_bytes_), "threads up mailbox") {}

  // Both threads use this one object; which mailbox a call uses depends on the calling thread's
  // role, kept thread-local. attach() changes nothing shared.
  void attach(Role role, pid_t /*peer*/) override { t_producer = role == Role::kProducer; }
  void send(std::span<const std::byte> msg) override { (t_producer ? down_ : up_).put(msg); }
  Received recv(std::span<std::byte> msg) override {
    (t_producer ? up_ : down_).take(msg);
    return Received::kMessage;
  }

 private:
  static thread_local bool t_producer;
  std::size_t slot_bytes_;
  Mailbox down_, up_;  // producer -> consumer, consumer -> producer
};

thread_local bool ThreadsTransport::t_producer = true;

}  // namespace

TransportPtr make_threads(const TransportOptions& options) {
  return std::make_unique<ThreadsTransport>(options);
}

Capabilities describe_threads() {
  return {.limit_source = "none: process memory, one message per slot",
          .waits_by = "std::condition_variable (futex) under a std::mutex, between two threads",
          .in_process = true};
}

TransportForms forms_threads() {
  return {.no_fan_in =
              "in-process: both roles are threads of one process, and the fan-in form "
              "forks a server and one process per client",
          .no_broadcast = "in-process: the FanOut mailbox forks one consumer process per reader"};
}

}  // namespace ipcbench
