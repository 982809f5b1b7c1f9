// IPv4 sockets for the tcp and udp transports: bind to 127.0.0.1 (or, across hosts, to the one
// address given), port 0, read it back; connect with a bounded wait.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "transports/os/unique_fd.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// The address 127.0.0.1:<port> (port in host order).
[[nodiscard]] sockaddr_in loopback_address(std::uint16_t port) noexcept;
// "127.0.0.1:<port>", the name errors carry.
[[nodiscard]] std::string loopback_name(std::uint16_t port);

// Creates an AF_INET socket of `type` (SOCK_STREAM, SOCK_DGRAM) with SOCK_CLOEXEC and binds it to
// 127.0.0.1 on an ephemeral port chosen by the kernel (port 0), never to another interface.
// `reuse_addr` sets SO_REUSEADDR first. Throws std::system_error.
[[nodiscard]] UniqueFd bind_loopback(int type, bool reuse_addr);
// The local port `fd` is bound to (getsockname), in host order. Throws std::system_error.
[[nodiscard]] std::uint16_t local_port(int fd);
// connect() to 127.0.0.1:<port>, finishing a connection that a signal interrupted. Blocks.
void connect_loopback(int fd, std::uint16_t port);

// "A.B.C.D:<port>" of an IPv4 address, the name errors carry.
[[nodiscard]] std::string address_name(const sockaddr_in& addr);
// `addr` with its port replaced (host order).
[[nodiscard]] sockaddr_in with_port(sockaddr_in addr, std::uint16_t port) noexcept;
// Creates an AF_INET socket of `type` with SOCK_CLOEXEC and binds it to `local` (its port 0: one
// the kernel chooses), and to nothing else. Throws std::system_error naming the address.
[[nodiscard]] UniqueFd bind_inet(int type, bool reuse_addr, const sockaddr_in& local);
// The local address `fd` is bound to (getsockname). Throws std::system_error.
[[nodiscard]] sockaddr_in local_address(int fd);
// connect() to `to`, waiting at most `timeout` for a stream socket's handshake (a peer that does
// not answer: ETIMEDOUT naming the address). Throws std::system_error naming the address.
void connect_within(int fd, const sockaddr_in& to, std::chrono::milliseconds timeout);
// SO_RCVTIMEO and SO_SNDTIMEO: every blocking receive, send and accept on `fd` gives up after
// `timeout` (EAGAIN). Throws std::system_error naming `object`.
void set_io_timeout(int fd, std::chrono::milliseconds timeout, const std::string& object);

// What the tcp and udp ends between two hosts share: a socket of `type` bound to this host's
// address (port 0: the kernel's choice) and the other end's address, once known.
class InetPeerEnd : public PeerEnd {
 public:
  [[nodiscard]] std::uint16_t port() const override { return port_; }
  void set_peer(std::uint32_t address_be, std::uint16_t port) override;

 protected:
  InetPeerEnd(int type, bool reuse_addr, std::uint32_t local_be);

  UniqueFd sock_;
  sockaddr_in peer_{};
  std::string name_;  // "A.B.C.D:<port>" of this end; attach() adds the other's

 private:
  std::uint16_t port_ = 0;
};

}  // namespace ipcbench
