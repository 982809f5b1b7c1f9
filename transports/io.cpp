#include "transports/io.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "transports/sys_error.hpp"

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
