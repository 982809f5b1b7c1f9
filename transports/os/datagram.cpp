#include "transports/os/datagram.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

void send_datagram(int fd, std::span<const std::byte> msg, std::string_view object) {
  while (true) {
    // MSG_NOSIGNAL: a closed peer is an error naming the object, never a SIGPIPE.
    const ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != msg.size()) {  // datagrams go whole or not at all
        throw_sys_error(EMSGSIZE, "send",
                        std::string(object) + ", sent " + std::to_string(n) + " of " +
                            std::to_string(msg.size()) + " bytes");
      }
      return;
    }
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "send", object);
    throw_if_interrupted("send", object);
  }
}

Received recv_datagram(int fd, std::span<std::byte> msg, std::string_view object,
                       bool may_time_out) {
  while (true) {
    // MSG_TRUNC makes recv() return the datagram's real length, so a datagram of another size
    // than expected is caught instead of silently cut to the buffer.
    const ssize_t n = ::recv(fd, msg.data(), msg.size(), MSG_TRUNC);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != msg.size()) {
        throw_sys_error(EMSGSIZE, "recv",
                        std::string(object) + ", a datagram of " + std::to_string(n) +
                            " bytes where " + std::to_string(msg.size()) + " were expected");
      }
      return Received::kMessage;
    }
    const int err = errno;
    if ((err == EAGAIN || err == EWOULDBLOCK) && may_time_out) return Received::kTimeout;
    if (err != EINTR) throw_sys_error(err, "recv", object);
    throw_if_interrupted("recv", object);
  }
}

}  // namespace ipcbench
