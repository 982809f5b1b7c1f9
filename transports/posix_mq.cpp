// posix_mq: POSIX message queues (mq_open, mq_send, mq_receive, mq_unlink), every queue opened
// before fork() and unlinked at once: the processes share the descriptors, no name stays.
// Pair: one queue per direction. Fan-in: one request queue every client sends to (its index in a
// 4-byte header), one reply queue per client. Broadcast: none (a message goes to one receiver).
#include <mqueue.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr const char* kMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max";
constexpr const char* kMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";

long read_positive(const char* path) {
  const auto value = read_proc_int(path);
  if (!value || *value <= 0) throw_sys_error(ENOSYS, "read", std::string(path) + " (no POSIX mq?)");
  return static_cast<long>(*value);
}

// Sends one message, retrying EINTR unless the watchdog interrupted the run.
void send_message(mqd_t mq, std::span<const std::byte> msg, const std::string& object) {
  while (::mq_send(mq, reinterpret_cast<const char*>(msg.data()), msg.size(), 0) != 0) {
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "mq_send", object);
    throw_if_interrupted("mq_send", object);
  }
}

// A received message must have the expected size: never truncated, never padded.
void check_size(ssize_t got, std::size_t want, const std::string& object) {
  if (static_cast<std::size_t>(got) != want) {
    throw_sys_error(EMSGSIZE, "mq_receive",
                    object + ": a message of " + std::to_string(got) + " bytes, expected " +
                        std::to_string(want));
  }
}

// Receives one message into `into` (room bytes, at least the queue's mq_msgsize); blocks,
// retrying EINTR unless the watchdog interrupted the run. Returns its length.
ssize_t receive_message(mqd_t mq, char* into, std::size_t room, const std::string& object) {
  ssize_t got = 0;
  while ((got = ::mq_receive(mq, into, room, nullptr)) < 0) {
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "mq_receive", object);
    throw_if_interrupted("mq_receive", object);
  }
  return got;
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
        down_(create_unlinked_mq(down_name_, depth_, msgsize_, 2)),
        up_(create_unlinked_mq(up_name_, depth_, msgsize_, 2)),
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

  void send(std::span<const std::byte> msg) override { send_message(out_, msg, *out_name_); }

  Received recv(std::span<std::byte> msg) override {
    const bool direct = msg.size() >= static_cast<std::size_t>(msgsize_);
    char* into = direct ? reinterpret_cast<char*>(msg.data()) : buffer_.data();
    const std::size_t room = direct ? msg.size() : buffer_.size();
    check_size(receive_message(in_, into, room, *in_name_), msg.size(), *in_name_);
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

constexpr std::size_t kIndexBytes = sizeof(std::uint32_t);  // a fan-in request's client index

timespec deadline_in(int ms) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);  // mq_timedreceive takes an absolute CLOCK_REALTIME time
  ts.tv_nsec += static_cast<long>(ms) * 1'000'000L;
  ts.tv_sec += ts.tv_nsec / 1'000'000'000L;
  ts.tv_nsec %= 1'000'000'000L;
  return ts;
}

// A request carries the client's index in a 4-byte header the transport adds in front of the
// harness's message (and strips again), so the server knows where the reply goes.
class PosixMqFanIn final : public FanInTransport {
 public:
  PosixMqFanIn(const TransportOptions& options, std::size_t clients)
      : bytes_(options.message_bytes),
        request_name_("/" + options.name + "-req"),
        reply_name_("/" + options.name + "-rep"),
        scratch_(bytes_ + kIndexBytes) {
    // Request queue depth: one request per client can be waiting (more would only block a
    // client briefly), bounded by msg_max, which an unprivileged process cannot exceed.
    const long depth = std::clamp<long>(static_cast<long>(clients), 1, read_positive(kMsgMaxPath));
    requests_ = create_unlinked_mq(request_name_, depth, static_cast<long>(bytes_ + kIndexBytes),
                                   clients + 1);
    for (std::size_t i = 0; i < clients; ++i) {
      // A client has at most one reply outstanding: depth 1.
      replies_.push_back(create_unlinked_mq(reply_name_ + std::to_string(i), 1,
                                            static_cast<long>(bytes_), clients + 1));
    }
  }

  void attach_server() override {}
  void attach_client(std::size_t index) override {
    index_ = static_cast<std::uint32_t>(index);
    std::memcpy(scratch_.data(), &index_, kIndexBytes);
    reply_name_ += std::to_string(index);
    PosixMq mine = std::move(replies_[index]);
    replies_.clear();
    replies_.push_back(std::move(mine));
  }
  void after_attach() override {
    requests_.reset();
    replies_.clear();
  }

  // The header is added by copying the message behind it: mq_send takes one buffer.
  void client_send(std::span<const std::byte> msg) override {
    std::memcpy(scratch_.data() + kIndexBytes, msg.data(), msg.size());
    send_message(requests_.get(), {scratch_.data(), kIndexBytes + msg.size()}, request_name_);
  }
  Received client_recv(std::span<std::byte> msg) override {
    check_size(receive_message(replies_[0].get(), reinterpret_cast<char*>(msg.data()), msg.size(),
                               reply_name_),
               msg.size(), reply_name_);
    return Received::kMessage;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    const timespec deadline = deadline_in(kFanInIdleMs);
    const ssize_t n = ::mq_timedreceive(requests_.get(), reinterpret_cast<char*>(scratch_.data()),
                                        scratch_.size(), nullptr, &deadline);
    if (n < 0) {
      const int err = errno;
      if (err == ETIMEDOUT) return {};
      if (err != EINTR) throw_sys_error(err, "mq_timedreceive", request_name_);
      throw_if_interrupted("mq_timedreceive", request_name_);
      return {};
    }
    check_size(n, kIndexBytes + msg.size(), request_name_);
    std::uint32_t client = 0;
    std::memcpy(&client, scratch_.data(), kIndexBytes);
    if (client >= replies_.size()) {
      throw_sys_error(EPROTO, "mq_timedreceive",
                      request_name_ + ": bad client index " + std::to_string(client));
    }
    std::memcpy(msg.data(), scratch_.data() + kIndexBytes, msg.size());
    return {FanInEvent::Kind::kRequest, client};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    // A dead client leaves at most one reply in its depth-1 queue, so this never blocks forever.
    send_message(replies_[client].get(), msg, reply_name_);
    return true;
  }

 private:
  std::size_t bytes_;
  std::string request_name_;
  std::string reply_name_;  // "/<name>-rep": the server's prefix; a client's own queue's name
  PosixMq requests_;
  std::vector<PosixMq> replies_;    // server: by client; a client: its own only
  std::vector<std::byte> scratch_;  // a request with its header
  std::uint32_t index_ = 0;
};

Capabilities describe_fan_in(std::size_t) {
  Capabilities caps;
  caps.waits_by = "mq_receive (server: mq_timedreceive, 100 ms)";
  if (const auto max = read_proc_int(kMsgsizeMaxPath);
      max && *max > static_cast<std::int64_t>(kIndexBytes)) {
    caps.max_message_bytes = static_cast<std::size_t>(*max) - kIndexBytes;
    caps.limit_source = std::string(kMsgsizeMaxPath) + " - 4-byte client index header";
  } else {
    caps.max_message_bytes = 8192 - kIndexBytes;
    caps.limit_source = "msgsize_max unreadable: the default 8192 - 4-byte header assumed";
  }
  return caps;
}

constexpr FanInForm kFanIn{
    "one request queue for all clients (client index in a 4-byte header), one reply queue per "
    "client",
    &describe_fan_in, &make_fan_in_of<PosixMqFanIn>};

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

TransportForms forms_posix_mq() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "mq_receive() removes a message for one receiver only: FanOut uses one "
              "queue per consumer"};
}

}  // namespace ipcbench
