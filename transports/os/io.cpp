#include "transports/os/io.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

void write_all(int fd, std::span<const std::byte> data, std::string_view object) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) {
        throw_if_interrupted("write", object);
        continue;
      }
      throw_sys_error(err, "write", object);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

UniqueFd open_path(const std::string& path, int flags) {
  while (true) {
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "open", path);
    throw_if_interrupted("open", path);
  }
}

void connect_retrying(int fd, const void* addr, unsigned addr_len, std::string_view object) {
  while (::connect(fd, static_cast<const sockaddr*>(addr), addr_len) != 0) {
    const int err = errno;
    if (err == EISCONN) break;
    if (err != EINTR) throw_sys_error(err, "connect", object);
    throw_if_interrupted("connect", object);
  }
}

UniqueFd accept_retrying(int listener, void* from, unsigned* from_len, std::string_view object) {
  while (true) {
    const int fd = ::accept4(listener, static_cast<sockaddr*>(from), from_len, SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "accept", object);
    throw_if_interrupted("accept", object);
  }
}

void read_all(int fd, std::span<std::byte> data, std::string_view object) {
  while (!data.empty()) {
    const ssize_t n = ::read(fd, data.data(), data.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) {
        throw_if_interrupted("read", object);
        continue;
      }
      throw_sys_error(err, "read", object);
    }
    if (n == 0) throw_sys_error(EPIPE, "read", std::string(object) + ", peer closed mid-message");
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

}  // namespace ipcbench
