// send_datagram / recv_datagram: one whole message per datagram over a connected socket, and
// DatagramPairTransport, the shape udp and unix_dgram share.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {

// Sends `msg` as one datagram; blocks while the socket's send buffer is full. Retries EINTR
// (throwing once the watchdog has interrupted). Throws naming `object` on any error.
void send_datagram(int fd, std::span<const std::byte> msg, std::string_view object);

// Receives one datagram of exactly msg.size() bytes; blocks. A datagram of any other size is
// consumed and reported as an error naming both sizes (never truncated, never padded).
// Returns Received::kTimeout when the socket has SO_RCVTIMEO and nothing came (only if
// `may_time_out`; otherwise that is an error too). Throws naming `object`.
[[nodiscard]] Received recv_datagram(int fd, std::span<std::byte> msg, std::string_view object,
                                     bool may_time_out);

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
  Received recv(std::span<std::byte> msg) override {
    return recv_datagram(fd_.get(), msg, name_, may_time_out_);
  }

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
