// tcp: AF_INET SOCK_STREAM on 127.0.0.1 with the lecture's server/client sequence, TCP_NODELAY.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "transports/os/inet_socket.hpp"
#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {
namespace {

void set_nodelay(int fd, const std::string& object) {
  // Nagle's algorithm holds back a small segment while an earlier one is unacknowledged; with the
  // peer's delayed ACK a ping-pong, or a message the kernel sends in pieces, stalls for ~40 ms.
  // Both ends send, so both set it.
  const int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    throw_sys_error(errno, "setsockopt(TCP_NODELAY)", object);
  }
}

class TcpTransport final : public Transport {
 public:
  // The server's master (listening) socket listens before fork(), so the client's connect()
  // cannot race it. The client's socket is also bound before fork(), so the server knows the one
  // port its client connects from and refuses any other local process that connects first.
  // Socket buffers stay the kernel's defaults with autotuning (net.ipv4.tcp_rmem/tcp_wmem): that
  // is what a user's connection gets.
  explicit TcpTransport(const TransportOptions&) {
    // SO_REUSEADDR: repeated runs bind again while earlier connections sit in TIME_WAIT.
    listener_ = bind_loopback(SOCK_STREAM, /*reuse_addr=*/true);
    port_ = local_port(listener_.get());
    name_ = loopback_name(port_);
    if (::listen(listener_.get(), 1) != 0) throw_sys_error(errno, "listen", name_);
    client_ = bind_loopback(SOCK_STREAM, /*reuse_addr=*/true);
    client_port_ = local_port(client_.get());
  }

  void attach(Role role, pid_t /*peer*/) override {
    if (role == Role::kProducer) {  // the server: accept the one data socket ("client handle")
      client_.reset();
      while (!conn_.valid()) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const int fd =
            ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
        if (fd < 0) {
          const int err = errno;
          if (err != EINTR) throw_sys_error(err, "accept", name_);
          throw_if_interrupted("accept", name_);
          continue;
        }
        UniqueFd accepted(fd);
        const sockaddr_in want = loopback_address(client_port_);
        if (from.sin_addr.s_addr == want.sin_addr.s_addr && from.sin_port == want.sin_port) {
          conn_ = std::move(accepted);
        }  // else a stranger connected first: closed, and we keep waiting for our client
      }
      listener_.reset();
    } else {  // the client
      listener_.reset();
      conn_ = std::move(client_);
      connect_loopback(conn_.get(), port_);
    }
    set_nodelay(conn_.get(), name_);
  }
  void send(std::span<const std::byte> msg) override { write_all(conn_.get(), msg, name_); }
  Received recv(std::span<std::byte> msg) override {
    read_all(conn_.get(), msg, name_);  // a stream: a message may arrive in several pieces
    return Received::kMessage;
  }

 private:
  UniqueFd listener_, client_, conn_;
  std::uint16_t port_ = 0, client_port_ = 0;
  std::string name_;  // "127.0.0.1:<server port>"
};

}  // namespace

TransportPtr make_tcp(const TransportOptions& options) {
  return std::make_unique<TcpTransport>(options);
}

Capabilities describe_tcp() {
  return {.limit_source = "none: a byte stream on 127.0.0.1, any size (TCP_NODELAY set)"};
}

}  // namespace ipcbench
