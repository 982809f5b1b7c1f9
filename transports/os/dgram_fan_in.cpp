#include "transports/os/dgram_fan_in.hpp"

#include <sys/time.h>

#include <cerrno>
#include <string>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

DgramResult recv_datagram(int fd, std::span<std::byte> msg, sockaddr* from, socklen_t* from_len,
                          bool idle_on_signal, std::string_view object) {
  const socklen_t from_size = from_len != nullptr ? *from_len : 0;
  while (true) {
    if (from_len != nullptr) *from_len = from_size;
    // MSG_TRUNC makes recvfrom return the datagram's real length, so a longer one is caught.
    const ssize_t n = ::recvfrom(fd, msg.data(), msg.size(), MSG_TRUNC, from, from_len);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != msg.size()) {
        throw_sys_error(EMSGSIZE, "recvfrom",
                        std::string(object) + ": a " + std::to_string(n) + "-byte datagram, " +
                            std::to_string(msg.size()) + " expected");
      }
      return DgramResult::kMessage;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return DgramResult::kTimedOut;
    if (err != EINTR) throw_sys_error(err, "recvfrom", object);
    throw_if_interrupted("recvfrom", object);
    if (idle_on_signal) return DgramResult::kTimedOut;
  }
}

void set_recv_timeout(int fd, std::chrono::milliseconds timeout, std::string_view object) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    throw_sys_error(errno, "setsockopt(SO_RCVTIMEO)", object);
  }
}

}  // namespace ipcbench
