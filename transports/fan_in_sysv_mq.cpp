// sysv_mq fan-in: one request queue every client sends to, with mtype = client index + 1, so the
// server's msgrcv(type 0) takes requests in arrival order and knows where the reply goes; one
// reply queue per client, so a dead client's unread reply takes no other client's queue bytes.
// (No negative msgtyp: priority by type would starve the clients with higher indices.)
// msgrcv has no timeout: the server's wait ends on a request or a signal (the harness sends
// SIGALRM to stop it). SysV queues outlive processes and IPC_RMID destroys one at once, so the
// creator removes them when the run ends, never earlier.
#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "transports/fan_in.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"

namespace ipcbench {
namespace {

class SysvMqFanIn final : public FanInTransport {
 public:
  SysvMqFanIn(const TransportOptions& options, std::size_t clients)
      :  // A struct msgbuf: a long mtype, then the text; longs keep it aligned.
        scratch_(1 + (options.message_bytes + sizeof(long) - 1) / sizeof(long)) {
    requests_ = create_msg_queue("sysv_mq fan-in request queue");
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
    send(requests_.get(), mtype_, msg, "request queue");
  }
  Received client_recv(std::span<std::byte> msg) override {
    while (!receive(reply_id_, msg, "reply queue")) {
    }
    return Received::kMessage;
  }
  FanInEvent server_recv(std::span<std::byte> msg) override {
    if (!receive(requests_.get(), msg, "request queue", true)) return {};
    const long client = scratch_[0] - 1;
    if (client < 0 || static_cast<std::size_t>(client) >= replies_.size()) {
      throw_sys_error(EPROTO, "msgrcv",
                      "sysv_mq request queue: bad mtype " + std::to_string(scratch_[0]));
    }
    return {FanInEvent::Kind::kRequest, static_cast<std::size_t>(client)};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    send(replies_[client].get(), 1, msg, "reply queue");
    return true;  // a dead client's queue holds its one unread reply; nothing blocks on it
  }

 private:
  // msgsnd takes one buffer: mtype, then the text copied behind it.
  void send(int queue, long mtype, std::span<const std::byte> msg, const char* what) {
    scratch_[0] = mtype;
    std::memcpy(scratch_.data() + 1, msg.data(), msg.size());
    while (::msgsnd(queue, scratch_.data(), msg.size(), 0) != 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "msgsnd", std::string("sysv_mq ") + what);
      throw_if_interrupted("msgsnd", what);
    }
  }
  // One message of exactly msg.size() bytes (a longer one fails E2BIG, a shorter one throws).
  // False on a signal when idle_on_signal (the server), else signals are retried.
  bool receive(int queue, std::span<std::byte> msg, const char* what, bool idle_on_signal = false) {
    while (true) {
      const ssize_t n = ::msgrcv(queue, scratch_.data(), msg.size(), 0, 0);
      if (n >= 0) {
        if (static_cast<std::size_t>(n) != msg.size()) {
          throw_sys_error(EMSGSIZE, "msgrcv",
                          std::string("sysv_mq ") + what + ": a " + std::to_string(n) +
                              "-byte message, " + std::to_string(msg.size()) + " expected");
        }
        std::memcpy(msg.data(), scratch_.data() + 1, msg.size());
        return true;
      }
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "msgrcv", std::string("sysv_mq ") + what);
      throw_if_interrupted("msgrcv", what);
      if (idle_on_signal) return false;
    }
  }

  SysvMsgQueue requests_;
  std::vector<SysvMsgQueue> replies_;
  std::vector<long> scratch_;  // struct msgbuf
  long mtype_ = 0;             // a client's request type: its index + 1
  int reply_id_ = -1;
};

}  // namespace

FanInPtr make_fan_in_sysv_mq(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<SysvMqFanIn>(options, clients);
}

Capabilities describe_fan_in_sysv_mq(std::size_t) {
  Capabilities caps;
  caps.waits_by = "msgrcv (server: until a request or a signal)";
  const auto msgmax = read_proc_int("/proc/sys/kernel/msgmax");
  const auto msgmnb = read_proc_int("/proc/sys/kernel/msgmnb");
  if (msgmax && msgmnb && *msgmax > 0 && *msgmnb > 0) {
    caps.max_message_bytes = static_cast<std::size_t>(std::min(*msgmax, *msgmnb));
    caps.limit_source = "/proc/sys/kernel/msgmax (and msgmnb, the bytes one queue holds)";
  } else {
    caps.max_message_bytes = 8192;
    caps.limit_source = "msgmax unreadable: the default 8192 assumed";
  }
  return caps;
}

}  // namespace ipcbench
