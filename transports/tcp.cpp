// tcp: AF_INET SOCK_STREAM on 127.0.0.1 with the lecture's server/client sequence, TCP_NODELAY.
// Pair: one connection. Fan-in: listen, accept one data socket per client, one epoll loop
// (StreamSocketFanIn). Broadcast: none (a byte on a connection goes to one peer). Two hosts: the
// consumer's end listens on the --serve address, the producer's end connects from its own.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "transports/os/inet_socket.hpp"
#include "transports/os/io.hpp"
#include "transports/os/stream_fan_in.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

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

// The server's master (listening) socket: bound to 127.0.0.1 port 0 and listening before fork(),
// so no client's connect() can race it; the kernel's port is read back. SO_REUSEADDR: repeated
// runs bind again while earlier connections sit in TIME_WAIT. Backlog: every client's connect()
// completes before the server accepts it.
struct Listener {
  UniqueFd fd;
  std::uint16_t port = 0;
  std::string name;  // "127.0.0.1:<port>"
};

Listener listen_loopback(int backlog) {
  Listener l{bind_loopback(SOCK_STREAM, /*reuse_addr=*/true), 0, {}};
  l.port = local_port(l.fd.get());
  l.name = loopback_name(l.port);
  if (::listen(l.fd.get(), backlog) != 0) throw_sys_error(errno, "listen", l.name);
  return l;
}

class TcpTransport final : public Transport {
 public:
  // The client's socket is also bound before fork(), so the server knows the one port its client
  // connects from and refuses any other local process that connects first. Socket buffers stay
  // the kernel's defaults with autotuning (net.ipv4.tcp_rmem/tcp_wmem): that is what a user's
  // connection gets.
  explicit TcpTransport(const TransportOptions&)
      : listener_(listen_loopback(1)),
        client_(bind_loopback(SOCK_STREAM, /*reuse_addr=*/true)),
        client_port_(local_port(client_.get())) {}

  void attach(Role role, pid_t /*peer*/) override {
    if (role == Role::kProducer) {  // the server: accept the one data socket ("client handle")
      client_.reset();
      while (!conn_.valid()) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        UniqueFd accepted = accept_retrying(listener_.fd.get(), &from, &len, listener_.name);
        const sockaddr_in want = loopback_address(client_port_);
        if (from.sin_addr.s_addr == want.sin_addr.s_addr && from.sin_port == want.sin_port) {
          conn_ = std::move(accepted);
        }  // else a stranger connected first: closed, and we keep waiting for our client
      }
      listener_.fd.reset();
    } else {  // the client
      listener_.fd.reset();
      conn_ = std::move(client_);
      connect_loopback(conn_.get(), listener_.port);
    }
    set_nodelay(conn_.get(), listener_.name);
  }
  void send(std::span<const std::byte> msg) override {
    write_all(conn_.get(), msg, listener_.name);
  }
  Received recv(std::span<std::byte> msg) override {
    read_all(conn_.get(), msg, listener_.name);  // a stream: a message may arrive in pieces
    return Received::kMessage;
  }

 private:
  Listener listener_;
  UniqueFd client_, conn_;
  std::uint16_t client_port_ = 0;
};

class TcpFanIn final : public StreamSocketFanIn {
 public:
  TcpFanIn(const TransportOptions&, std::size_t clients)
      : TcpFanIn(listen_loopback(static_cast<int>(clients)), clients) {}

 protected:
  UniqueFd connect_to_server() override {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw_sys_error(errno, "socket", object_);
    connect_loopback(fd.get(), port_);
    return fd;
  }
  void tune(int fd) override { set_nodelay(fd, object_); }

 private:
  TcpFanIn(Listener l, std::size_t clients)
      : StreamSocketFanIn(clients, std::move(l.fd), l.name), port_(l.port) {}

  std::uint16_t port_;
};

// Across hosts. The consumer's end (on the --serve host) listens on the serve address; the
// producer's end is bound before the case is asked for, so the consumer accepts that one address
// and port only. Every wait (accept, connect, read, write) gives up after peer_timeout.
class TcpPeerEnd final : public InetPeerEnd {
 public:
  TcpPeerEnd(const TransportOptions& options, Role role, std::uint32_t local_be)
      : InetPeerEnd(SOCK_STREAM, /*reuse_addr=*/true, local_be),
        role_(role),
        timeout_(options.peer_timeout) {
    if (role_ == Role::kConsumer && ::listen(sock_.get(), 1) != 0) {
      throw_sys_error(errno, "listen", name_);
    }
  }
  void attach(Role /*role*/, pid_t /*peer*/) override {
    if (role_ == Role::kConsumer) {
      set_io_timeout(sock_.get(), timeout_, name_);  // accept() gives up too
      while (!conn_.valid()) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        UniqueFd accepted = accept_retrying(sock_.get(), &from, &len, name_);
        if (from.sin_addr.s_addr == peer_.sin_addr.s_addr && from.sin_port == peer_.sin_port) {
          conn_ = std::move(accepted);
        }  // else a stranger: closed, and we keep waiting for the producer's one port
      }
      sock_.reset();
    } else {
      connect_within(sock_.get(), peer_, timeout_);
      conn_ = std::move(sock_);
    }
    name_ += " <-> " + address_name(peer_);
    set_nodelay(conn_.get(), name_);
    set_io_timeout(conn_.get(), timeout_, name_);
  }
  void send(std::span<const std::byte> msg) override { write_all(conn_.get(), msg, name_); }
  Received recv(std::span<std::byte> msg) override {
    read_all(conn_.get(), msg, name_);
    return Received::kMessage;
  }

 private:
  Role role_;
  std::chrono::milliseconds timeout_;
  UniqueFd conn_;
};

PeerEndPtr make_peer_end(const TransportOptions& options, Role role, std::uint32_t local_be) {
  return std::make_unique<TcpPeerEnd>(options, role, local_be);
}

constexpr PeerForm kPeer{
    "one TCP connection from the client's address to a port the server listens on at its "
    "--serve address (TCP_NODELAY)",
    &make_peer_end};

constexpr FanInForm kFanIn{
    "127.0.0.1: listen + accept one data socket per client, one epoll loop over them",
    &describe_stream_fan_in, &make_fan_in_of<TcpFanIn>};

}  // namespace

TransportPtr make_tcp(const TransportOptions& options) {
  return std::make_unique<TcpTransport>(options);
}

Capabilities describe_tcp() {
  return {.limit_source = "none: a byte stream on 127.0.0.1, any size (TCP_NODELAY set)"};
}

TransportForms forms_tcp() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a byte on a TCP connection reaches its one peer: FanOut uses one "
              "connection per consumer",
          .peer = &kPeer};
}

}  // namespace ipcbench
