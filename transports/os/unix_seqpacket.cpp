#include "transports/os/unix_seqpacket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unix_socket.hpp"

namespace ipcbench {

std::size_t socket_send_buffer(int fd, std::string_view object) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, &len) != 0) {
    throw_sys_error(errno, "getsockopt(SO_SNDBUF)", object);
  }
  return static_cast<std::size_t>(value);
}

std::optional<std::size_t> default_seqpacket_send_buffer(std::string& error) {
  // socket(), as the lecture's sequence starts: what a new socket gets is what the transport gets.
  const UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    const int err = errno;
    error = std::string("socket(AF_UNIX, SOCK_SEQPACKET): ") + std::strerror(err);
    return std::nullopt;
  }
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &value, &len) != 0 || value <= 0) {
    const int err = errno;
    error =
        std::string("getsockopt(SO_SNDBUF) of a new SOCK_SEQPACKET socket: ") + std::strerror(err);
    return std::nullopt;
  }
  return static_cast<std::size_t>(value);
}

bool send_record(int fd, std::span<const std::byte> msg, std::string_view object) {
  while (true) {
    // MSG_NOSIGNAL: a gone peer is EPIPE here, never a SIGPIPE.
    const ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      if (static_cast<std::size_t>(n) != msg.size()) {  // records go whole or not at all
        throw_sys_error(EMSGSIZE, "send",
                        std::string(object) + ", sent " + std::to_string(n) + " of " +
                            std::to_string(msg.size()) + " bytes of one record");
      }
      return true;
    }
    const int err = errno;
    if (err == EPIPE || err == ECONNRESET) return false;
    if (err == EMSGSIZE) {
      const std::string what = std::string(object) + ", a record of " + std::to_string(msg.size()) +
                               " bytes: larger than SO_SNDBUF - " +
                               std::to_string(kSeqpacketOverhead);
      throw_sys_error(err, "send", what);
    }
    if (err != EINTR) throw_sys_error(err, "send", object);
    throw_if_interrupted("send", object);
  }
}

bool recv_record(int fd, std::span<std::byte> msg, std::string_view object) {
  while (true) {
    // MSG_TRUNC makes recv() return the record's real length, so a record of another size is
    // caught instead of silently cut to the buffer (the rest of a longer record is discarded).
    const ssize_t n = ::recv(fd, msg.data(), msg.size(), MSG_TRUNC);
    if (n == 0) return false;  // end of file: the harness never sends an empty message
    if (n > 0) {
      if (static_cast<std::size_t>(n) != msg.size()) {
        throw_sys_error(EMSGSIZE, "recv",
                        std::string(object) + ", a record of " + std::to_string(n) +
                            " bytes where " + std::to_string(msg.size()) + " were expected");
      }
      return true;
    }
    const int err = errno;
    if (err == ECONNRESET) return false;
    if (err != EINTR) throw_sys_error(err, "recv", object);
    throw_if_interrupted("recv", object);
  }
}

SeqpacketListener listen_seqpacket(const TransportOptions& options, const char* file, int backlog) {
  SeqpacketListener l{PrivateDir(options.tmp_root), {}, {}};
  l.path = (l.dir.path() / file).string();
  l.fd = bind_unix_socket(SOCK_SEQPACKET, l.path);  // socket() + bind(), the file made 0600
  if (::listen(l.fd.get(), backlog) != 0) throw_sys_error(errno, "listen", l.path);
  return l;
}

UniqueFd connect_seqpacket(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", path);
  connect_unix_socket(fd.get(), path);
  return fd;
}

SeqpacketFanIn::SeqpacketFanIn(const TransportOptions& options, std::size_t clients)
    : clients_(clients) {
  // Backlog: every client's connect() completes before the server accepts it.
  SeqpacketListener l = listen_seqpacket(options, "server.sock", static_cast<int>(clients));
  dir_ = std::move(l.dir);
  object_ = std::move(l.path);
  listener_ = std::move(l.fd);
}

void SeqpacketFanIn::attach_server() {
  dir_.release();  // a forked child: the parent removes the directory
  conns_.resize(clients_);
  server_.open(clients_, object_);
  // Clients connect in any order; each says which it is in a 4-byte record before any request.
  for (std::size_t accepted = 0; accepted < clients_; ++accepted) {
    UniqueFd conn = accept_retrying(listener_.get(), nullptr, nullptr, object_);
    std::uint32_t index = 0;
    if (!recv_record(conn.get(), {reinterpret_cast<std::byte*>(&index), sizeof index}, object_)) {
      throw_sys_error(EPIPE, "recv", object_ + ": a client closed before saying its index");
    }
    if (index >= clients_ || conns_[index].valid()) {
      throw_sys_error(EPROTO, "accept", object_ + ": bad client index " + std::to_string(index));
    }
    server_.add(index, conn.get());
    conns_[index] = std::move(conn);
  }
  listener_.reset();  // every client has its socket: the listening socket is no longer needed
}

void SeqpacketFanIn::attach_client(std::size_t index) {
  dir_.release();
  listener_.reset();
  conn_ = connect_seqpacket(object_);
  const auto hello = static_cast<std::uint32_t>(index);
  if (!send_record(conn_.get(), {reinterpret_cast<const std::byte*>(&hello), sizeof hello},
                   object_)) {
    throw_sys_error(EPIPE, "send", object_ + ": the server closed before the hello");
  }
}

void SeqpacketFanIn::after_attach() {
  listener_.reset();
  dir_.remove();  // everyone is connected: the path can go
}

void SeqpacketFanIn::client_send(std::span<const std::byte> msg) {
  if (!put(conn_.get(), msg)) throw_sys_error(EPIPE, "send", object_ + ", the server is gone");
}

Received SeqpacketFanIn::client_recv(std::span<std::byte> msg) {
  if (!take(conn_.get(), msg)) {
    throw_sys_error(EPIPE, "recv", object_ + ", the server closed mid-message");
  }
  return Received::kMessage;
}

FanInEvent SeqpacketFanIn::server_recv(std::span<std::byte> msg) {
  const FanInEvent e =
      server_.recv_with(msg, [this](int fd, std::span<std::byte> m) { return take(fd, m); });
  if (e.kind == FanInEvent::Kind::kDisconnected) conns_[e.client].reset();  // out of the loop
  return e;
}

bool SeqpacketFanIn::server_send(std::size_t client, std::span<const std::byte> msg) {
  if (!conns_[client].valid()) return false;
  return put(conns_[client].get(), msg);
}

}  // namespace ipcbench
