// posix_mq: two POSIX message queues, one per direction (mq_open, mq_send, mq_receive, mq_unlink).
#include <mqueue.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/transport.hpp"

namespace ipcbench {
namespace {

constexpr const char* kMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max";
constexpr const char* kMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";

long read_positive(const char* path) {
  const auto value = read_proc_int(path);
  if (!value || *value <= 0) throw_sys_error(ENOSYS, "read", std::string(path) + " (no POSIX mq?)");
  return static_cast<long>(*value);
}

class PosixMqTransport final : public Transport {
 public:
  explicit PosixMqTransport(const TransportOptions& options)
      : down_name_("/" + options.name + ".down"),
        up_name_("/" + options.name + ".up"),
        // Exactly the run's message size: a queue's memory is charged as depth x mq_msgsize
        // against RLIMIT_MSGQUEUE whether used or not, and the kernel copies only what is sent.
        msgsize_(static_cast<long>(std::max<std::size_t>(options.message_bytes, 1))),
        // The deepest queue an unprivileged user may create: a stream then blocks the producer
        // only when msg_max messages are in flight, as a user who sizes the queue for throughput
        // gets. (Root could go deeper; the suite measures what an ordinary user gets.)
        depth_(read_positive(kMsgMaxPath)),
        down_(create_unlinked_mq(down_name_, depth_, msgsize_)),
        up_(create_unlinked_mq(up_name_, depth_, msgsize_)),
        // mq_receive() refuses a buffer smaller than mq_msgsize; short messages (acks) land here.
        buffer_(static_cast<std::size_t>(msgsize_)) {}

  void attach(Role role, pid_t /*peer*/) override {
    // Both queues are already unlinked; each side keeps its inherited descriptors.
    const bool producer = role == Role::kProducer;
    out_ = producer ? down_.get() : up_.get();
    in_ = producer ? up_.get() : down_.get();
    out_name_ = producer ? &down_name_ : &up_name_;
    in_name_ = producer ? &up_name_ : &down_name_;
  }

  void send(std::span<const std::byte> msg) override {
    const char* data = reinterpret_cast<const char*>(msg.data());
    while (::mq_send(out_, data, msg.size(), 0) != 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "mq_send", *out_name_);
      throw_if_interrupted("mq_send", *out_name_);
    }
  }

  Received recv(std::span<std::byte> msg) override {
    const bool direct = msg.size() >= static_cast<std::size_t>(msgsize_);
    char* into = direct ? reinterpret_cast<char*>(msg.data()) : buffer_.data();
    const std::size_t room = direct ? msg.size() : buffer_.size();
    ssize_t got = 0;
    while ((got = ::mq_receive(in_, into, room, nullptr)) < 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "mq_receive", *in_name_);
      throw_if_interrupted("mq_receive", *in_name_);
    }
    if (static_cast<std::size_t>(got) != msg.size()) {
      throw_sys_error(EBADMSG, "mq_receive",
                      *in_name_ + ": a message of " + std::to_string(got) + " bytes, expected " +
                          std::to_string(msg.size()));
    }
    if (!direct) std::memcpy(msg.data(), buffer_.data(), msg.size());
    return Received::kMessage;
  }

 private:
  std::string down_name_, up_name_;  // producer -> consumer, consumer -> producer
  long msgsize_, depth_;
  PosixMq down_, up_;
  std::vector<char> buffer_;
  mqd_t out_ = static_cast<mqd_t>(-1), in_ = static_cast<mqd_t>(-1);
  const std::string* out_name_ = nullptr;
  const std::string* in_name_ = nullptr;
};

}  // namespace

TransportPtr make_posix_mq(const TransportOptions& options) {
  return std::make_unique<PosixMqTransport>(options);
}

Capabilities describe_posix_mq() {
  Capabilities caps;
  const auto size = read_proc_int(kMsgsizeMaxPath);
  const auto depth = read_proc_int(kMsgMaxPath);
  if (!size || *size <= 0 || !depth || *depth <= 0) {
    caps.max_message_bytes = 0;
    caps.limit_source = std::string(kMsgsizeMaxPath) + " unreadable: no POSIX message queues here";
    return caps;
  }
  caps.max_message_bytes = static_cast<std::size_t>(*size);
  caps.limit_source = std::string(kMsgsizeMaxPath) + " = " + std::to_string(*size) +
                      " (queue depth " + kMsgMaxPath + " = " + std::to_string(*depth) +
                      ", one queue per direction)";
  return caps;
}

}  // namespace ipcbench
