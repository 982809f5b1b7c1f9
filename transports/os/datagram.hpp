// One whole message per datagram, for the datagram sockets (unix_dgram, udp) in every form:
// send_datagram / send_datagram_to / recv_datagram / set_recv_timeout, and DatagramPairTransport,
// the pair shape unix_dgram and udp share.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "transports/os/unique_fd.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// Sends `msg` as one datagram on a connected socket; blocks while the socket's send buffer is
// full. Retries EINTR (throwing once the watchdog has interrupted). Throws naming `object` on any
// error.
void send_datagram(int fd, std::span<const std::byte> msg, std::string_view object);
// The same to the address `to` (a server's reply); false when nobody is bound there any more
// (ECONNREFUSED, ENOENT: the client's socket is closed).
[[nodiscard]] bool send_datagram_to(int fd, std::span<const std::byte> msg, const sockaddr* to,
                                    socklen_t to_len, std::string_view object);

// What one recv_datagram got.
enum class DgramResult { kMessage, kTimedOut };

// Receives one datagram of exactly msg.size() bytes; blocks. A datagram of any other size is
// consumed and reported as an error naming both sizes (never truncated, never padded). `from` /
// `from_len`, when given, receive the sender's address (recvfrom). kTimedOut when SO_RCVTIMEO
// expired, or when a signal interrupted the wait and `idle_on_signal` is set (a server then checks
// its stop flag); otherwise EINTR is retried after throw_if_interrupted(). Throws naming `object`.
[[nodiscard]] DgramResult recv_datagram(int fd, std::span<std::byte> msg, std::string_view object,
                                        sockaddr* from = nullptr, socklen_t* from_len = nullptr,
                                        bool idle_on_signal = false);

// Sets SO_RCVTIMEO on fd to `timeout`, which must be positive (0 would mean never). Throws naming
// `object`.
void set_recv_timeout(int fd, std::chrono::milliseconds timeout, std::string_view object);

// Two datagram sockets connected to each other, made before fork() by the derived constructor
// (one per role, with the names errors use); attach() keeps the role's own socket.
class DatagramPairTransport : public Transport {
 public:
  void attach(Role role, pid_t /*peer*/) override {
    // After fork() both processes hold both sockets; keep this role's own.
    const bool producer = role == Role::kProducer;
    fd_ = std::move(producer ? producer_ : consumer_);
    name_ = std::move(producer ? producer_name_ : consumer_name_);
    producer_.reset();
    consumer_.reset();
  }
  void send(std::span<const std::byte> msg) override { send_datagram(fd_.get(), msg, name_); }
  // kTimeout when the socket has SO_RCVTIMEO and nothing came (only if `may_time_out`; otherwise
  // that is an error too).
  Received recv(std::span<std::byte> msg) override;

 protected:
  explicit DatagramPairTransport(bool may_time_out) : may_time_out_(may_time_out) {}

  UniqueFd producer_, consumer_;
  std::string producer_name_, consumer_name_;

 private:
  UniqueFd fd_;
  std::string name_;
  bool may_time_out_;
};

}  // namespace ipcbench
