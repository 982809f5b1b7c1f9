// sysv_mq: SysV message queues (msgget, msgsnd, msgrcv), made by the forked sysv_create helper.
// Pair: one queue, mtype 1 producer -> consumer, 2 back. Fan-in: one request queue every client
// sends to (mtype = client index + 1), one reply queue per client. Broadcast: none (a message
// goes to one receiver).
#include <sys/ipc.h>
#include <sys/msg.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr const char* kMsgmaxPath = "/proc/sys/kernel/msgmax";
constexpr const char* kMsgmnbPath = "/proc/sys/kernel/msgmnb";

// A struct msgbuf { long mtype; char mtext[]; } for messages of up to `text_bytes`, allocated
// once, as longs for alignment.
class MsgBuf {
 public:
  explicit MsgBuf(std::size_t text_bytes)
      : text_bytes_(text_bytes), longs_(1 + (text_bytes + sizeof(long) - 1) / sizeof(long)) {}
  [[nodiscard]] std::size_t text_bytes() const noexcept { return text_bytes_; }
  [[nodiscard]] long* get() noexcept { return longs_.data(); }
  [[nodiscard]] std::byte* text() noexcept {
    return reinterpret_cast<std::byte*>(longs_.data() + 1);
  }

 private:
  std::size_t text_bytes_;
  std::vector<long> longs_;
};

// msgsnd of `msg` as a message of type `mtype` (copied behind the type in `buf`: msgsnd takes one
// buffer); blocks while the queue is full, retrying EINTR unless the watchdog interrupted the run.
void send_message(int queue, MsgBuf& buf, long mtype, std::span<const std::byte> msg,
                  const std::string& object) {
  if (msg.size() > buf.text_bytes()) throw_sys_error(EMSGSIZE, "msgsnd", object);
  buf.get()[0] = mtype;
  std::memcpy(buf.text(), msg.data(), msg.size());
  while (::msgsnd(queue, buf.get(), msg.size(), 0) != 0) {
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "msgsnd", object);
    throw_if_interrupted("msgsnd", object);
  }
}

// msgrcv of one message of type `mtype` (0: the oldest of any type) and exactly msg.size() bytes
// into `msg`; blocks. Its type is left in buf.get()[0]. False when a signal woke the wait and
// `idle_on_signal` (the server then checks its stop flag); otherwise EINTR is retried unless the
// watchdog interrupted the run.
bool receive_message(int queue, MsgBuf& buf, long mtype, std::span<std::byte> msg,
                     const std::string& object, bool idle_on_signal) {
  if (msg.size() > buf.text_bytes()) throw_sys_error(EMSGSIZE, "msgrcv", object);
  ssize_t got = 0;
  // No MSG_NOERROR: a longer message fails with E2BIG instead of being truncated to fit.
  while ((got = ::msgrcv(queue, buf.get(), msg.size(), mtype, 0)) < 0) {
    const int err = errno;
    if (err == E2BIG) {
      throw_sys_error(
          err, "msgrcv",
          object + ": a message longer than the " + std::to_string(msg.size()) + " bytes expected");
    }
    if (err != EINTR) throw_sys_error(err, "msgrcv", object);
    throw_if_interrupted("msgrcv", object);
    if (idle_on_signal) return false;
  }
  if (static_cast<std::size_t>(got) != msg.size()) {
    throw_sys_error(EMSGSIZE, "msgrcv",
                    object + ": a message of " + std::to_string(got) + " bytes, expected " +
                        std::to_string(msg.size()));
  }
  std::memcpy(msg.data(), buf.text(), msg.size());
  return true;
}

constexpr long kDown = 1, kUp = 2;  // mtype of each direction of the pair
// Acks and control marks are 16 bytes; the buffer holds at least this whatever the run's size.
constexpr std::size_t kMinCapacity = 64;

class SysvMqTransport final : public Transport {
 public:
  explicit SysvMqTransport(const TransportOptions& options)
      : queue_(create_msg_queue("SysV message queue")),
        name_("SysV message queue " + std::to_string(queue_.get())),
        buffer_(std::max(options.message_bytes, kMinCapacity)) {
    // msg_qbytes stays msgmnb (raising it needs CAP_SYS_RESOURCE): what an ordinary user gets,
    // shared by both directions.
  }

  void attach(Role role, pid_t /*peer*/) override {
    const bool producer = role == Role::kProducer;
    out_type_ = producer ? kDown : kUp;
    in_type_ = producer ? kUp : kDown;
  }

  void send(std::span<const std::byte> msg) override {
    send_message(queue_.get(), buffer_, out_type_, msg, name_);
  }
  Received recv(std::span<std::byte> msg) override {
    (void)receive_message(queue_.get(), buffer_, in_type_, msg, name_, false);
    return Received::kMessage;
  }

 private:
  SysvMsgQueue queue_;
  std::string name_;
  MsgBuf buffer_;
  long out_type_ = 0, in_type_ = 0;
};

// The server's msgrcv(type 0) takes requests in arrival order and knows from the type where the
// reply goes; one reply queue per client, so a dead client's unread reply takes no other client's
// queue bytes. (No negative msgtyp: priority by type would starve the clients with higher
// indices.) msgrcv has no timeout: the server's wait ends on a request or a signal (the harness
// sends SIGALRM to stop it). SysV queues outlive processes and IPC_RMID destroys one at once, so
// the creator removes them when the run ends, never earlier.
class SysvMqFanIn final : public FanInTransport {
 public:
  SysvMqFanIn(const TransportOptions& options, std::size_t clients)
      : requests_(create_msg_queue("sysv_mq fan-in request queue")),
        scratch_(options.message_bytes) {
    for (std::size_t i = 0; i < clients; ++i) {
      replies_.push_back(create_msg_queue("sysv_mq fan-in reply queue " + std::to_string(i)));
    }
  }

  void attach_server() override {}
  void attach_client(std::size_t index) override {
    mtype_ = static_cast<long>(index) + 1;
    reply_id_ = replies_[index].get();
  }
  void after_attach() override {}  // queues stay until the parent's destructor (see above)

  void client_send(std::span<const std::byte> msg) override {
    send_message(requests_.get(), scratch_, mtype_, msg, request_name_);
  }
  Received client_recv(std::span<std::byte> msg) override {
    while (!receive_message(reply_id_, scratch_, 0, msg, reply_name_, false)) {
    }
    return Received::kMessage;
  }
  FanInEvent server_recv(std::span<std::byte> msg) override {
    if (!receive_message(requests_.get(), scratch_, 0, msg, request_name_, true)) return {};
    const long client = scratch_.get()[0] - 1;
    if (client < 0 || static_cast<std::size_t>(client) >= replies_.size()) {
      throw_sys_error(EPROTO, "msgrcv",
                      request_name_ + ": bad mtype " + std::to_string(client + 1));
    }
    return {FanInEvent::Kind::kRequest, static_cast<std::size_t>(client)};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    send_message(replies_[client].get(), scratch_, 1, msg, reply_name_);
    return true;  // a dead client's queue holds its one unread reply; nothing blocks on it
  }

 private:
  SysvMsgQueue requests_;
  std::vector<SysvMsgQueue> replies_;
  MsgBuf scratch_;
  std::string request_name_ = "sysv_mq request queue", reply_name_ = "sysv_mq reply queue";
  long mtype_ = 0;  // a client's request type: its index + 1
  int reply_id_ = -1;
};

// The largest message: msgmax, or msgmnb where smaller (a message larger than the queue's byte
// limit would block msgsnd() forever). Empty when unreadable.
std::optional<std::size_t> largest_message(std::int64_t& msgmax, std::int64_t& msgmnb) {
  const auto max = read_proc_int(kMsgmaxPath);
  const auto mnb = read_proc_int(kMsgmnbPath);
  if (!max || *max <= 0 || !mnb || *mnb <= 0) return std::nullopt;
  msgmax = *max;
  msgmnb = *mnb;
  return static_cast<std::size_t>(std::min(*max, *mnb));
}

Capabilities describe_fan_in(std::size_t) {
  Capabilities caps;
  caps.waits_by = "msgrcv (server: until a request or a signal)";
  std::int64_t msgmax = 0, msgmnb = 0;
  if (const auto largest = largest_message(msgmax, msgmnb)) {
    caps.max_message_bytes = *largest;
    caps.limit_source = std::string(kMsgmaxPath) + " (and msgmnb, the bytes one queue holds)";
  } else {
    caps.max_message_bytes = 8192;
    caps.limit_source = "msgmax unreadable: the default 8192 assumed";
  }
  return caps;
}

constexpr FanInForm kFanIn{"one request queue (mtype = client + 1), one reply queue per client",
                           &describe_fan_in, &make_fan_in_of<SysvMqFanIn>};

}  // namespace

TransportPtr make_sysv_mq(const TransportOptions& options) {
  return std::make_unique<SysvMqTransport>(options);
}

Capabilities describe_sysv_mq() {
  Capabilities caps;
  std::int64_t msgmax = 0, msgmnb = 0;
  const auto largest = largest_message(msgmax, msgmnb);
  if (!largest) {
    caps.max_message_bytes = 0;
    caps.limit_source = std::string(kMsgmaxPath) + " unreadable: no SysV message queues here";
    return caps;
  }
  caps.max_message_bytes = *largest;
  caps.limit_source = std::string(kMsgmaxPath) + " = " + std::to_string(msgmax) +
                      " (the queue holds " + kMsgmnbPath + " = " + std::to_string(msgmnb) +
                      " bytes in all, both directions" +
                      (msgmnb < msgmax ? ", the smaller, so the limit" : "") + ")";
  return caps;
}

TransportForms forms_sysv_mq() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "msgrcv() removes a message for one receiver only: FanOut uses one "
              "queue per consumer"};
}

}  // namespace ipcbench
