// posix_mq fan-in: one request queue every client sends to, and one reply queue per client. A
// request carries the client's index in a 4-byte header the transport adds in front of the
// harness's message (and strips again), so the server knows where the reply goes. Every queue is
// opened before fork() and unlinked at once: the processes share the descriptors, no name stays.
#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "transports/fan_in.hpp"
#include "transports/os/epoll_server.hpp"
#include "transports/os/ledger.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kIndexBytes = sizeof(std::uint32_t);  // the request header: client index

// Owns one message queue descriptor.
class MqDescriptor {
 public:
  MqDescriptor() noexcept = default;
  explicit MqDescriptor(mqd_t mq) noexcept : mq_(mq) {}
  MqDescriptor(MqDescriptor&& other) noexcept : mq_(std::exchange(other.mq_, mqd_t(-1))) {}
  MqDescriptor& operator=(MqDescriptor&& other) noexcept {
    reset();
    mq_ = std::exchange(other.mq_, mqd_t(-1));
    return *this;
  }
  MqDescriptor(const MqDescriptor&) = delete;
  MqDescriptor& operator=(const MqDescriptor&) = delete;
  ~MqDescriptor() { reset(); }
  [[nodiscard]] mqd_t get() const noexcept { return mq_; }
  void reset() noexcept {
    if (mq_ != mqd_t(-1)) ::mq_close(mq_);
    mq_ = mqd_t(-1);
  }

 private:
  mqd_t mq_ = mqd_t(-1);
};

std::string rlimit_text() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_MSGQUEUE, &rl) != 0) return "unreadable";
  return rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur) + " bytes";
}

// Creates (O_EXCL, 0600) and unlinks at once; the descriptor is what the processes share.
MqDescriptor create_queue(const std::string& name, long depth, long msgsize, std::size_t queues,
                          std::size_t total_bytes) {
  mq_attr attr{};
  attr.mq_maxmsg = depth;
  attr.mq_msgsize = msgsize;
  const NameRecord record(ObjectKind::kPosixMq, name);  // covers a kill before mq_unlink
  const mqd_t mq = ::mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
  if (mq == mqd_t(-1)) {
    const int err = errno;
    if (err == EMFILE || err == ENOMEM) {
      throw_sys_error(err, "mq_open",
                      name + ": RLIMIT_MSGQUEUE (" + rlimit_text() + ") too small for " +
                          std::to_string(queues) + " queues of about " +
                          std::to_string(total_bytes) +
                          " bytes in all (depth x message size + kernel overhead)");
    }
    if (err == ENOSPC) {
      throw_sys_error(err, "mq_open", name + ": more queues than /proc/sys/fs/mqueue/queues_max");
    }
    throw_sys_error(err, "mq_open", name);
  }
  MqDescriptor out(mq);
  if (::mq_unlink(name.c_str()) != 0) throw_sys_error(errno, "mq_unlink", name);
  return out;
}

timespec deadline_in(int ms) {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);  // mq_timedreceive takes an absolute CLOCK_REALTIME time
  ts.tv_nsec += static_cast<long>(ms) * 1'000'000L;
  ts.tv_sec += ts.tv_nsec / 1'000'000'000L;
  ts.tv_nsec %= 1'000'000'000L;
  return ts;
}

class PosixMqFanIn final : public FanInTransport {
 public:
  PosixMqFanIn(const TransportOptions& options, std::size_t clients)
      : bytes_(options.message_bytes), name_("/" + options.name), scratch_(bytes_ + kIndexBytes) {
    // Request queue depth: one request per client can be waiting (more would only block a
    // client briefly), bounded by msg_max, which an unprivileged process cannot exceed.
    const long msg_max =
        static_cast<long>(read_proc_int("/proc/sys/fs/mqueue/msg_max").value_or(10));
    const long depth = std::clamp<long>(static_cast<long>(clients), 1, msg_max);
    const std::size_t overhead = 64;  // per message: struct msg_msg and the priority tree node
    const std::size_t total = static_cast<std::size_t>(depth) * (bytes_ + kIndexBytes + overhead) +
                              clients * (bytes_ + overhead);
    requests_ = create_queue(name_ + "-req", depth, static_cast<long>(bytes_ + kIndexBytes),
                             clients + 1, total);
    for (std::size_t i = 0; i < clients; ++i) {
      // A client has at most one reply outstanding: depth 1.
      replies_.push_back(create_queue(name_ + "-rep" + std::to_string(i), 1,
                                      static_cast<long>(bytes_), clients + 1, total));
    }
  }

  void attach_server() override {}
  void attach_client(std::size_t index) override {
    index_ = static_cast<std::uint32_t>(index);
    std::memcpy(scratch_.data(), &index_, kIndexBytes);
    MqDescriptor mine = std::move(replies_[index]);
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
    send(requests_.get(), {scratch_.data(), kIndexBytes + msg.size()}, "-req");
  }
  Received client_recv(std::span<std::byte> msg) override {
    while (true) {
      const ssize_t n =
          ::mq_receive(replies_[0].get(), reinterpret_cast<char*>(msg.data()), msg.size(), nullptr);
      if (n >= 0) {
        check_size(static_cast<std::size_t>(n), msg.size(), "-rep");
        return Received::kMessage;
      }
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "mq_receive", name_ + "-rep" + std::to_string(index_));
      throw_if_interrupted("mq_receive", name_ + "-rep");
    }
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    const timespec deadline = deadline_in(kFanInIdleMs);
    const ssize_t n = ::mq_timedreceive(requests_.get(), reinterpret_cast<char*>(scratch_.data()),
                                        scratch_.size(), nullptr, &deadline);
    if (n < 0) {
      const int err = errno;
      if (err == ETIMEDOUT) return {};
      if (err != EINTR) throw_sys_error(err, "mq_timedreceive", name_ + "-req");
      throw_if_interrupted("mq_timedreceive", name_ + "-req");
      return {};
    }
    check_size(static_cast<std::size_t>(n), kIndexBytes + msg.size(), "-req");
    std::uint32_t client = 0;
    std::memcpy(&client, scratch_.data(), kIndexBytes);
    if (client >= replies_.size()) {
      throw_sys_error(EPROTO, "mq_timedreceive",
                      name_ + "-req: bad client index " + std::to_string(client));
    }
    std::memcpy(msg.data(), scratch_.data() + kIndexBytes, msg.size());
    return {FanInEvent::Kind::kRequest, client};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    // A dead client leaves at most one reply in its depth-1 queue, so this never blocks forever.
    send(replies_[client].get(), msg, "-rep");
    return true;
  }

 private:
  void send(mqd_t mq, std::span<const std::byte> msg, const char* which) {
    while (::mq_send(mq, reinterpret_cast<const char*>(msg.data()), msg.size(), 0) != 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "mq_send", name_ + which);
      throw_if_interrupted("mq_send", name_ + which);
    }
  }
  void check_size(std::size_t got, std::size_t want, const char* which) const {
    if (got != want) {
      throw_sys_error(EMSGSIZE, "mq_receive",
                      name_ + which + ": a " + std::to_string(got) + "-byte message, " +
                          std::to_string(want) + " expected");
    }
  }

  std::size_t bytes_;
  std::string name_;
  MqDescriptor requests_;
  std::vector<MqDescriptor> replies_;  // server: by client; a client: its own only
  std::vector<std::byte> scratch_;     // a request with its header
  std::uint32_t index_ = 0;
};

}  // namespace

FanInPtr make_fan_in_posix_mq(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<PosixMqFanIn>(options, clients);
}

Capabilities describe_fan_in_posix_mq(std::size_t) {
  Capabilities caps;
  caps.waits_by = "mq_receive (server: mq_timedreceive, 100 ms)";
  if (const auto max = read_proc_int("/proc/sys/fs/mqueue/msgsize_max");
      max && *max > static_cast<std::int64_t>(kIndexBytes)) {
    caps.max_message_bytes = static_cast<std::size_t>(*max) - kIndexBytes;
    caps.limit_source = "/proc/sys/fs/mqueue/msgsize_max - 4-byte client index header";
  } else {
    caps.max_message_bytes = 8192 - kIndexBytes;
    caps.limit_source = "msgsize_max unreadable: the default 8192 - 4-byte header assumed";
  }
  return caps;
}

}  // namespace ipcbench
