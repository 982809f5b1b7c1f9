// tcp fan-in: TCP over 127.0.0.1; the lecture's server (listen, accept one data socket per client,
// one epoll loop) from fan_in_stream.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>

#include "transports/os/io.hpp"
#include "transports/os/stream_fan_in.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never leaves the host
  addr.sin_port = htons(port);
  return addr;
}

// Bound to 127.0.0.1 port 0 and listening before fork(); the kernel's port is read back.
std::pair<UniqueFd, std::uint16_t> listen_tcp(std::size_t clients) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", "127.0.0.1 tcp listener");
  const int one = 1;
  // Repeated runs must not wait out TIME_WAIT of an earlier run's port.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    throw_sys_error(errno, "setsockopt(SO_REUSEADDR)", "127.0.0.1 tcp listener");
  }
  sockaddr_in addr = loopback(0);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "bind", "127.0.0.1:0");
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_sys_error(errno, "getsockname", "127.0.0.1 tcp listener");
  }
  const std::uint16_t port = ntohs(addr.sin_port);
  // Backlog = clients: every client's connect() completes before the server accepts it.
  if (::listen(fd.get(), static_cast<int>(clients)) != 0) {
    throw_sys_error(errno, "listen", "127.0.0.1:" + std::to_string(port));
  }
  return {std::move(fd), port};
}

class TcpFanIn final : public StreamSocketFanIn {
 public:
  TcpFanIn(std::pair<UniqueFd, std::uint16_t> listener, std::size_t clients)
      : StreamSocketFanIn(clients, std::move(listener.first),
                          "127.0.0.1:" + std::to_string(listener.second)),
        port_(listener.second) {}

 protected:
  UniqueFd connect_to_server() override {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw_sys_error(errno, "socket", object_);
    const sockaddr_in addr = loopback(port_);
    connect_retrying(fd.get(), &addr, sizeof addr, object_);
    return fd;
  }
  void tune(int fd) override {
    const int one = 1;
    // Nagle + delayed ACK would hold a message written in pieces for up to 40 ms.
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      throw_sys_error(errno, "setsockopt(TCP_NODELAY)", object_);
    }
  }

 private:
  std::uint16_t port_;
};

}  // namespace

FanInPtr make_fan_in_tcp(const TransportOptions&, std::size_t clients) {
  return std::make_unique<TcpFanIn>(listen_tcp(clients), clients);
}

Capabilities describe_fan_in_tcp(std::size_t) {
  return {.limit_source = "none: a byte stream, any size"};
}

}  // namespace ipcbench
