#include "transports/os/inet_socket.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

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

std::string address_name(const sockaddr_in& addr) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(addr.sin_port));
}

sockaddr_in with_port(sockaddr_in addr, std::uint16_t port) noexcept {
  addr.sin_port = htons(port);
  return addr;
}

UniqueFd bind_inet(int type, bool reuse_addr, const sockaddr_in& local) {
  const std::string name = address_name(local);
  UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", name);
  if (reuse_addr) {
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
      throw_sys_error(errno, "setsockopt(SO_REUSEADDR)", name);
    }
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    throw_sys_error(errno, "bind", name);
  }
  return fd;
}

sockaddr_in local_address(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_sys_error(errno, "getsockname", "socket " + std::to_string(fd));
  }
  return addr;
}

void connect_within(int fd, const sockaddr_in& to, std::chrono::milliseconds timeout) {
  const std::string name = address_name(to);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    throw_sys_error(errno, "fcntl(O_NONBLOCK)", name);
  }
  int err = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    err = errno;
    if (err == EINPROGRESS || err == EINTR) {
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          throw_sys_error(ETIMEDOUT, "connect",
                          name + " (no answer within " + std::to_string(timeout.count()) + " ms)");
        }
        pollfd p{fd, POLLOUT, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready > 0) break;
        if (ready < 0 && errno != EINTR) throw_sys_error(errno, "poll", name);
        throw_if_interrupted("connect", name);
      }
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    }
  }
  if (err != 0) throw_sys_error(err, "connect", name);
  if (::fcntl(fd, F_SETFL, flags) != 0) throw_sys_error(errno, "fcntl", name);
}

void set_io_timeout(int fd, std::chrono::milliseconds timeout, const std::string& object) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  for (int option : {SO_RCVTIMEO, SO_SNDTIMEO}) {
    if (::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv) != 0) {
      throw_sys_error(errno,
                      option == SO_RCVTIMEO ? "setsockopt(SO_RCVTIMEO)" : "setsockopt(SO_SNDTIMEO)",
                      object);
    }
  }
}

InetPeerEnd::InetPeerEnd(int type, bool reuse_addr, std::uint32_t local_be) {
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = local_be;
  sock_ = bind_inet(type, reuse_addr, local);
  const sockaddr_in bound = local_address(sock_.get());
  port_ = ntohs(bound.sin_port);
  name_ = address_name(bound);
}

void InetPeerEnd::set_peer(std::uint32_t address_be, std::uint16_t port) {
  peer_.sin_family = AF_INET;
  peer_.sin_addr.s_addr = address_be;
  peer_.sin_port = htons(port);
}

}  // namespace ipcbench
