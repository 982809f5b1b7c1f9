// sysv_mq: one SysV message queue (msgget, msgsnd, msgrcv), mtype 1 producer -> consumer, 2 back.
#include <sys/ipc.h>
#include <sys/msg.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/transport.hpp"

namespace ipcbench {
namespace {

constexpr const char* kMsgmaxPath = "/proc/sys/kernel/msgmax";
constexpr const char* kMsgmnbPath = "/proc/sys/kernel/msgmnb";
constexpr long kDown = 1, kUp = 2;  // mtype of each direction
// Acks and control marks are 16 bytes; the buffer holds at least this whatever the run's size.
constexpr std::size_t kMinCapacity = 64;

class SysvMqTransport final : public Transport {
 public:
  explicit SysvMqTransport(const TransportOptions& options)
      : queue_(create_msg_queue("SysV message queue")),
        name_("SysV message queue " + std::to_string(queue_.get())),
        capacity_(std::max(options.message_bytes, kMinCapacity)),
        // struct msgbuf { long mtype; char mtext[]; }, allocated once, as longs for alignment.
        buffer_(std::make_unique<long[]>(1 + (capacity_ + sizeof(long) - 1) / sizeof(long))) {
    // msg_qbytes stays msgmnb (raising it needs CAP_SYS_RESOURCE): what an ordinary user gets,
    // shared by both directions.
  }

  void attach(Role role, pid_t /*peer*/) override {
    const bool producer = role == Role::kProducer;
    out_type_ = producer ? kDown : kUp;
    in_type_ = producer ? kUp : kDown;
    // The consumer's copy must not keep the guard from seeing the creator die.
  }

  void send(std::span<const std::byte> msg) override {
    if (msg.size() > capacity_) throw_sys_error(EMSGSIZE, "msgsnd", name_);
    buffer_[0] = out_type_;
    std::memcpy(text(), msg.data(), msg.size());
    while (::msgsnd(queue_.get(), buffer_.get(), msg.size(), 0) != 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "msgsnd", name_);
      throw_if_interrupted("msgsnd", name_);
    }
  }

  Received recv(std::span<std::byte> msg) override {
    if (msg.size() > capacity_) throw_sys_error(EMSGSIZE, "msgrcv", name_);
    ssize_t got = 0;
    // No MSG_NOERROR: a longer message fails with E2BIG instead of being truncated to fit.
    while ((got = ::msgrcv(queue_.get(), buffer_.get(), msg.size(), in_type_, 0)) < 0) {
      const int err = errno;
      if (err == E2BIG) {
        throw_sys_error(err, "msgrcv",
                        name_ + ": a message longer than the " + std::to_string(msg.size()) +
                            " bytes expected");
      }
      if (err != EINTR) throw_sys_error(err, "msgrcv", name_);
      throw_if_interrupted("msgrcv", name_);
    }
    if (static_cast<std::size_t>(got) != msg.size()) {
      throw_sys_error(EBADMSG, "msgrcv",
                      name_ + ": a message of " + std::to_string(got) + " bytes, expected " +
                          std::to_string(msg.size()));
    }
    std::memcpy(msg.data(), text(), msg.size());
    return Received::kMessage;
  }

 private:
  [[nodiscard]] std::byte* text() noexcept {
    return reinterpret_cast<std::byte*>(buffer_.get() + 1);
  }

  SysvMsgQueue queue_;
  std::string name_;
  std::size_t capacity_;
  std::unique_ptr<long[]> buffer_;
  long out_type_ = 0, in_type_ = 0;
};

}  // namespace

TransportPtr make_sysv_mq(const TransportOptions& options) {
  return std::make_unique<SysvMqTransport>(options);
}

Capabilities describe_sysv_mq() {
  Capabilities caps;
  const auto msgmax = read_proc_int(kMsgmaxPath);
  const auto msgmnb = read_proc_int(kMsgmnbPath);
  if (!msgmax || *msgmax <= 0 || !msgmnb || *msgmnb <= 0) {
    caps.max_message_bytes = 0;
    caps.limit_source = std::string(kMsgmaxPath) + " unreadable: no SysV message queues here";
    return caps;
  }
  // A message larger than the queue's byte limit (msgmnb) would block msgsnd() forever.
  caps.max_message_bytes = static_cast<std::size_t>(std::min(*msgmax, *msgmnb));
  caps.limit_source = std::string(kMsgmaxPath) + " = " + std::to_string(*msgmax) +
                      " (the queue holds " + kMsgmnbPath + " = " + std::to_string(*msgmnb) +
                      " bytes in all, both directions" +
                      (*msgmnb < *msgmax ? ", the smaller, so the limit" : "") + ")";
  return caps;
}

}  // namespace ipcbench
