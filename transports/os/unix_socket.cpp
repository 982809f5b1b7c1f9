#include "transports/os/unix_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {

sockaddr_un unix_socket_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) throw_sys_error(ENAMETOOLONG, "bind", path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

UniqueFd bind_unix_socket(int type, const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", path);
  const sockaddr_un addr = unix_socket_address(path);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "bind", path);
  }
  // bind() applies the umask; make the mode exactly 0600 whatever the umask is. (The private
  // directory is 0700 already, so nobody else could reach the path in between.)
  if (::chmod(path.c_str(), 0600) != 0) throw_sys_error(errno, "chmod", path);
  return fd;
}

void connect_unix_socket(int fd, const std::string& path) {
  const sockaddr_un addr = unix_socket_address(path);
  connect_retrying(fd, &addr, sizeof addr, path);
}

}  // namespace ipcbench
