// unix_dgram fan-in: one AF_UNIX SOCK_DGRAM server socket that every client sends to, and one
// bound socket per client, all in a private 0700 directory and bound before fork(). The server
// learns the sender from recvfrom() (its path names the client index) and replies with sendto().
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "transports/fan_in.hpp"
#include "transports/os/dgram_fan_in.hpp"
#include "transports/os/epoll_server.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"

namespace ipcbench {
namespace {

class UnixDgramFanIn final : public FanInTransport {
 public:
  UnixDgramFanIn(const TransportOptions& options, std::size_t clients)
      : dir_(options.tmp_root), server_path_((dir_.path() / "server.sock").string()) {
    server_ = bind_unix_socket(SOCK_DGRAM, server_path_);
    prefix_len_ = dir_.path().string().size() + 1;  // client sockets are "<dir>/<index>"
    for (std::size_t i = 0; i < clients; ++i) {
      const std::string path = (dir_.path() / std::to_string(i)).string();
      client_socks_.push_back(bind_unix_socket(SOCK_DGRAM, path));
      client_addrs_.push_back(unix_socket_address(path));
    }
  }

  void attach_server() override {
    dir_.release();
    client_socks_.clear();
    set_recv_timeout(server_.get(), std::chrono::milliseconds(kFanInIdleMs), server_path_);
  }
  void attach_client(std::size_t index) override {
    dir_.release();
    sock_ = std::move(client_socks_[index]);
    client_socks_.clear();
    server_.reset();
    // Connected: send() needs no address, and only the server's datagrams are accepted.
    const sockaddr_un addr = unix_socket_address(server_path_);
    if (::connect(sock_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      throw_sys_error(errno, "connect", server_path_);
    }
  }
  // The server's path can go once every client is connected to it; the clients' paths stay until
  // the end (the destructor), because the server's every reply is a sendto() to one of them.
  void after_attach() override {
    server_.reset();
    client_socks_.clear();
    ::unlink(server_path_.c_str());
  }

  void client_send(std::span<const std::byte> msg) override {
    while (::send(sock_.get(), msg.data(), msg.size(), 0) < 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "send", server_path_);
      throw_if_interrupted("send", server_path_);
    }
  }
  Received client_recv(std::span<std::byte> msg) override {
    while (recv_datagram(sock_.get(), msg, nullptr, nullptr, false, server_path_) !=
           DgramResult::kMessage) {
    }
    return Received::kMessage;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    sockaddr_un from{};
    socklen_t len = sizeof from;
    if (recv_datagram(server_.get(), msg, reinterpret_cast<sockaddr*>(&from), &len, true,
                      server_path_) != DgramResult::kMessage) {
      return {};
    }
    return {FanInEvent::Kind::kRequest, client_of(from, len)};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    const sockaddr_un& to = client_addrs_[client];
    while (::sendto(server_.get(), msg.data(), msg.size(), 0,
                    reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
      const int err = errno;
      if (err == ECONNREFUSED || err == ENOENT) return false;  // the client's socket is closed
      if (err != EINTR) throw_sys_error(err, "sendto", to.sun_path);
      throw_if_interrupted("sendto", to.sun_path);
    }
    return true;
  }

 private:
  // The client index from the sender's path "<dir>/<index>", without allocating.
  std::size_t client_of(const sockaddr_un& from, socklen_t len) const {
    const std::size_t path_len =
        len > offsetof(sockaddr_un, sun_path)
            ? ::strnlen(from.sun_path, len - offsetof(sockaddr_un, sun_path))
            : 0;
    std::size_t index = 0;
    bool digits = path_len > prefix_len_;
    for (std::size_t i = prefix_len_; digits && i < path_len; ++i) {
      const char c = from.sun_path[i];
      digits = c >= '0' && c <= '9';
      index = index * 10 + static_cast<std::size_t>(c - '0');
    }
    if (!digits || index >= client_addrs_.size()) {
      throw_sys_error(EPROTO, "recvfrom", server_path_ + ": a datagram from an unknown sender");
    }
    return index;
  }

  PrivateDir dir_;
  std::string server_path_;
  UniqueFd server_;
  std::vector<UniqueFd> client_socks_;
  std::vector<sockaddr_un> client_addrs_;
  std::size_t prefix_len_ = 0;
  UniqueFd sock_;  // a client's socket
};

}  // namespace

FanInPtr make_fan_in_unix_dgram(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<UnixDgramFanIn>(options, clients);
}

// The socket buffers keep the kernel default (SO_SNDBUF = net.core.wmem_default); a datagram
// larger than that minus 32 bytes fails with EMSGSIZE.
Capabilities describe_fan_in_unix_dgram(std::size_t) {
  Capabilities caps;
  const auto wmem = read_proc_int("/proc/sys/net/core/wmem_default");
  if (wmem && *wmem > 32) {
    caps.max_message_bytes = static_cast<std::size_t>(*wmem - 32);
    caps.limit_source = "/proc/sys/net/core/wmem_default (default SO_SNDBUF) - 32";
  } else {
    caps.max_message_bytes = 65536;
    caps.limit_source = "wmem_default unreadable: 64 KiB assumed";
  }
  return caps;
}

}  // namespace ipcbench
