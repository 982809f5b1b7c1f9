#include "transports/os/epoll_server.hpp"

#include <unistd.h>

#include <cerrno>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

Capabilities describe_stream_fan_in(std::size_t) {
  return {.limit_source = "none: a byte stream, any size"};
}

void EpollServer::open(std::size_t clients, std::string object) {
  object_ = std::move(object);
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) throw_sys_error(errno, "epoll_create1", object_);
  fds_.assign(clients, -1);
  events_.resize(clients);
}

void EpollServer::add(std::size_t client, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a request not yet read is reported again
  ev.data.u64 = client;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    throw_sys_error(errno, "epoll_ctl(ADD)", object_ + " client " + std::to_string(client));
  }
  fds_[client] = fd;
}

void EpollServer::drop(std::size_t client) noexcept {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fds_[client], nullptr);
  fds_[client] = -1;
}

std::size_t EpollServer::next_ready() {
  if (next_ == pending_) {
    const int n = ::epoll_wait(epoll_.get(), events_.data(), static_cast<int>(events_.size()),
                               kFanInIdleMs);
    if (n < 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "epoll_wait", object_);
      throw_if_interrupted("epoll_wait", object_);
      return kNone;
    }
    if (n == 0) return kNone;
    pending_ = n;
    next_ = 0;
  }
  return static_cast<std::size_t>(events_[static_cast<std::size_t>(next_++)].data.u64);
}

FanInEvent EpollServer::recv(std::span<std::byte> msg) {
  return recv_with(msg, [this](int fd, std::span<std::byte> m) {
    return read_message(fd, m, object_);
  });
}

bool read_message(int fd, std::span<std::byte> msg, std::string_view object) {
  while (!msg.empty()) {
    const ssize_t n = ::read(fd, msg.data(), msg.size());
    if (n > 0) {
      msg = msg.subspan(static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return false;
    const int err = errno;
    if (err == ECONNRESET) return false;
    if (err != EINTR) throw_sys_error(err, "read", object);
    throw_if_interrupted("read", object);
  }
  return true;
}

bool write_message(int fd, std::span<const std::byte> msg, std::string_view object) {
  while (!msg.empty()) {
    const ssize_t n = ::write(fd, msg.data(), msg.size());
    if (n >= 0) {
      msg = msg.subspan(static_cast<std::size_t>(n));
      continue;
    }
    const int err = errno;
    if (err == EPIPE || err == ECONNRESET) return false;
    if (err != EINTR) throw_sys_error(err, "write", object);
    throw_if_interrupted("write", object);
  }
  return true;
}

}  // namespace ipcbench
