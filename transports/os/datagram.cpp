#include "transports/os/datagram.hpp"

#include <sys/time.h>

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

bool send_datagram_to(int fd, std::span<const std::byte> msg, const sockaddr* to, socklen_t to_len,
                      std::string_view object) {
  while (::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, to, to_len) < 0) {
    const int err = errno;
    if (err == ECONNREFUSED || err == ENOENT) return false;
    if (err != EINTR) throw_sys_error(err, "sendto", object);
    throw_if_interrupted("sendto", object);
  }
  return true;
}

DgramResult recv_datagram(int fd, std::span<std::byte> msg, std::string_view object, sockaddr* from,
                          socklen_t* from_len, bool idle_on_signal) {
  const socklen_t from_size = from_len != nullptr ? *from_len : 0;
  while (true) {
    if (from_len != nullptr) *from_len = from_size;
    // MSG_TRUNC makes recvfrom() return the datagram's real length, so a datagram of another size
    // than expected is caught instead of silently cut to the buffer.
    const ssize_t n = ::recvfrom(fd, msg.data(), msg.size(), MSG_TRUNC, from, from_len);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != msg.size()) {
        throw_sys_error(EMSGSIZE, "recv",
                        std::string(object) + ", a datagram of " + std::to_string(n) +
                            " bytes where " + std::to_string(msg.size()) + " were expected");
      }
      return DgramResult::kMessage;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return DgramResult::kTimedOut;
    if (err != EINTR) throw_sys_error(err, "recv", object);
    throw_if_interrupted("recv", object);
    if (idle_on_signal) return DgramResult::kTimedOut;
  }
}

void set_recv_timeout(int fd, std::chrono::milliseconds timeout, std::string_view object) {
  if (timeout.count() <= 0) {
    throw_sys_error(EINVAL, "setsockopt(SO_RCVTIMEO)",
                    std::string(object) + ": a receive timeout must be positive");
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    throw_sys_error(errno, "setsockopt(SO_RCVTIMEO)", object);
  }
}

Received DatagramPairTransport::recv(std::span<std::byte> msg) {
  if (recv_datagram(fd_.get(), msg, name_) == DgramResult::kMessage) return Received::kMessage;
  if (!may_time_out_) throw_sys_error(EAGAIN, "recv", name_);
  return Received::kTimeout;
}

}  // namespace ipcbench
