// udp fan-in: one UDP server socket on 127.0.0.1 that every client sends to, and one bound,
// connected socket per client; all bound to port 0 before fork(). The server learns the sender's
// port from recvfrom() and replies with sendto(). UDP may lose: a client waits recv_timeout, then
// the round trip counts as lost.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "transports/fan_in.hpp"
#include "transports/os/dgram_fan_in.hpp"
#include "transports/os/epoll_server.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kMaxUdpPayload = 65507;  // 65535 - 8 (UDP header) - 20 (IPv4 header)

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never leaves the host
  addr.sin_port = htons(port);
  return addr;
}

std::pair<UniqueFd, sockaddr_in> bound_udp(const char* what) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", what);
  sockaddr_in addr = loopback(0);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "bind", what);
  }
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw_sys_error(errno, "getsockname", what);
  }
  return {std::move(fd), addr};
}

class UdpFanIn final : public FanInTransport {
 public:
  UdpFanIn(const TransportOptions& options, std::size_t clients)
      : recv_timeout_(options.recv_timeout) {
    auto [server, server_addr] = bound_udp("127.0.0.1 udp server");
    server_ = std::move(server);
    server_addr_ = server_addr;
    object_ = "127.0.0.1:" + std::to_string(ntohs(server_addr.sin_port));
    // Room for one request of every client at once: the default buffer would drop requests of
    // many clients with large messages. The kernel caps this at net.core.rmem_max.
    const std::size_t want = clients * (options.message_bytes + 1024) * 2;
    const int rcvbuf = static_cast<int>(std::min<std::size_t>(want, 64u << 20));
    if (::setsockopt(server_.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0) {
      throw_sys_error(errno, "setsockopt(SO_RCVBUF)", object_);
    }
    for (std::size_t i = 0; i < clients; ++i) {
      auto [sock, addr] = bound_udp("127.0.0.1 udp client");
      client_socks_.push_back(std::move(sock));
      client_addrs_.push_back(addr);
      by_port_.emplace_back(addr.sin_port, i);
    }
    std::sort(by_port_.begin(), by_port_.end());
  }

  void attach_server() override {
    client_socks_.clear();
    set_recv_timeout(server_.get(), std::chrono::milliseconds(kFanInIdleMs), object_);
  }
  void attach_client(std::size_t index) override {
    sock_ = std::move(client_socks_[index]);
    client_socks_.clear();
    server_.reset();
    // Connected: send() needs no address, and only the server's datagrams are accepted.
    if (::connect(sock_.get(), reinterpret_cast<const sockaddr*>(&server_addr_),
                  sizeof server_addr_) != 0) {
      throw_sys_error(errno, "connect", object_);
    }
    // A lost reply must not hang the client: it waits this long, then counts the round trip lost.
    set_recv_timeout(sock_.get(), recv_timeout_, object_);
  }
  void after_attach() override {
    server_.reset();
    client_socks_.clear();
  }

  void client_send(std::span<const std::byte> msg) override {
    while (::send(sock_.get(), msg.data(), msg.size(), 0) < 0) {
      const int err = errno;
      if (err != EINTR) throw_sys_error(err, "send", object_);
      throw_if_interrupted("send", object_);
    }
  }
  Received client_recv(std::span<std::byte> msg) override {
    return recv_datagram(sock_.get(), msg, nullptr, nullptr, false, object_) ==
                   DgramResult::kMessage
               ? Received::kMessage
               : Received::kTimeout;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    if (recv_datagram(server_.get(), msg, reinterpret_cast<sockaddr*>(&from), &len, true,
                      object_) != DgramResult::kMessage) {
      return {};
    }
    const auto it = std::lower_bound(by_port_.begin(), by_port_.end(),
                                     std::pair<in_port_t, std::size_t>(from.sin_port, 0));
    if (it == by_port_.end() || it->first != from.sin_port ||
        from.sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
      throw_sys_error(EPROTO, "recvfrom", object_ + ": a datagram from an unknown sender");
    }
    return {FanInEvent::Kind::kRequest, it->second};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    const sockaddr_in& to = client_addrs_[client];
    while (::sendto(server_.get(), msg.data(), msg.size(), 0,
                    reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
      const int err = errno;
      if (err != EINTR)
        throw_sys_error(err, "sendto", object_ + " -> client " + std::to_string(client));
      throw_if_interrupted("sendto", object_);
    }
    return true;  // UDP cannot tell a gone client: its reply is just lost
  }

 private:
  std::chrono::milliseconds recv_timeout_;
  std::string object_;
  UniqueFd server_;
  sockaddr_in server_addr_{};
  std::vector<UniqueFd> client_socks_;
  std::vector<sockaddr_in> client_addrs_;
  std::vector<std::pair<in_port_t, std::size_t>> by_port_;  // sorted: port -> client index
  UniqueFd sock_;                                           // a client's socket
};

}  // namespace

FanInPtr make_fan_in_udp(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<UdpFanIn>(options, clients);
}

Capabilities describe_fan_in_udp(std::size_t) {
  return {.max_message_bytes = kMaxUdpPayload,
          .limit_source = "65535 - IPv4 and UDP headers",
          .may_lose = true};
}

}  // namespace ipcbench
