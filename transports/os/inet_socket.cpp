#include "transports/os/inet_socket.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

sockaddr_in loopback_address(std::uint16_t port) noexcept {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

std::string loopback_name(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

UniqueFd bind_loopback(int type, bool reuse_addr) {
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", "127.0.0.1");
  if (reuse_addr) {
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      throw_sys_error(errno, "setsockopt(SO_REUSEADDR)", "127.0.0.1");
    }
  }
  const sockaddr_in addr = loopback_address(0);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "bind", "127.0.0.1:0");
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_sys_error(errno, "getsockname", "127.0.0.1");
  }
  return ntohs(addr.sin_port);
}

void connect_loopback(int fd, std::uint16_t port) {
  const sockaddr_in addr = loopback_address(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return;
  int err = errno;
  if (err != EINTR) throw_sys_error(err, "connect", loopback_name(port));
  // An interrupted connect() goes on in the background: wait for it and read its outcome.
  while (true) {
    throw_if_interrupted("connect", loopback_name(port));
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, -1) >= 0) break;
    if (errno != EINTR) throw_sys_error(errno, "poll", loopback_name(port));
  }
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) throw_sys_error(err, "connect", loopback_name(port));
}

}  // namespace ipcbench
