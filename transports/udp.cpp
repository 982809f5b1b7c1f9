// udp: AF_INET SOCK_DGRAM on 127.0.0.1, sockets bound to port 0 before fork(); may lose datagrams.
// Pair: two sockets connected to each other. Fan-in: one server socket every client sends to and
// one bound, connected socket per client; the server learns the sender's port from recvfrom() and
// replies with sendto(). Broadcast: none. Two hosts: a socket on each host's address, each
// connected to the other's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "transports/os/datagram.hpp"
#include "transports/os/epoll_server.hpp"
#include "transports/os/inet_socket.hpp"
#include "transports/os/io.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// 65535 (IPv4 total length) - 20 (IPv4 header) - 8 (UDP header).
constexpr std::size_t kMaxUdpPayload = 65507;
constexpr const char* kRmemDefault = "/proc/sys/net/core/rmem_default";

void set_recv_buffer(int fd, std::size_t bytes, const std::string& object) {
  const int value = static_cast<int>(bytes);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, sizeof value) != 0) {
    throw_sys_error(errno, "setsockopt(SO_RCVBUF)", object);
  }
}

class UdpTransport final : public DatagramPairTransport {
 public:
  // Both sockets are bound to 127.0.0.1 on ephemeral ports and connected to each other before
  // fork(): send()/recv() need no address, and each socket accepts datagrams from its peer only.
  // SO_RCVTIMEO = options.recv_timeout: a lost datagram makes recv() return kTimeout instead of
  // hanging, and the harness counts the loss. SO_RCVBUF stays the kernel default
  // (net.core.rmem_default, reported by describe()): that is what a user's socket gets, and the
  // losses it causes under load are part of what UDP is. Only tests shrink it, to force losses.
  explicit UdpTransport(const TransportOptions& options)
      : DatagramPairTransport(/*may_time_out=*/true) {
    producer_ = bind_loopback(SOCK_DGRAM, /*reuse_addr=*/false);
    consumer_ = bind_loopback(SOCK_DGRAM, /*reuse_addr=*/false);
    const std::uint16_t producer_port = local_port(producer_.get());
    const std::uint16_t consumer_port = local_port(consumer_.get());
    producer_name_ = loopback_name(producer_port);
    consumer_name_ = loopback_name(consumer_port);
    connect_loopback(producer_.get(), consumer_port);
    connect_loopback(consumer_.get(), producer_port);
    for (const auto& [fd, name] : {std::pair{producer_.get(), &producer_name_},
                                   std::pair{consumer_.get(), &consumer_name_}}) {
      set_recv_timeout(fd, options.recv_timeout, *name);
      if (options.recv_buffer_bytes > 0) set_recv_buffer(fd, options.recv_buffer_bytes, *name);
    }
  }
};

class UdpFanIn final : public FanInTransport {
 public:
  UdpFanIn(const TransportOptions& options, std::size_t clients)
      : recv_timeout_(options.recv_timeout),
        server_(bind_loopback(SOCK_DGRAM, /*reuse_addr=*/false)),
        server_port_(local_port(server_.get())),
        object_(loopback_name(server_port_)) {
    // Room for one request of every client at once: the default buffer would drop requests of
    // many clients with large messages. The kernel caps this at net.core.rmem_max.
    const std::size_t want = clients * (options.message_bytes + 1024) * 2;
    set_recv_buffer(server_.get(), std::min<std::size_t>(want, 64u << 20), object_);
    for (std::size_t i = 0; i < clients; ++i) {
      client_socks_.push_back(bind_loopback(SOCK_DGRAM, /*reuse_addr=*/false));
      client_addrs_.push_back(loopback_address(local_port(client_socks_.back().get())));
      by_port_.emplace_back(client_addrs_.back().sin_port, i);
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
    connect_loopback(sock_.get(), server_port_);
    // A lost reply must not hang the client: it waits this long, then counts the round trip lost.
    set_recv_timeout(sock_.get(), recv_timeout_, object_);
  }
  void after_attach() override {
    server_.reset();
    client_socks_.clear();
  }

  void client_send(std::span<const std::byte> msg) override {
    send_datagram(sock_.get(), msg, object_);
  }
  Received client_recv(std::span<std::byte> msg) override {
    return recv_datagram(sock_.get(), msg, object_) == DgramResult::kMessage ? Received::kMessage
                                                                             : Received::kTimeout;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    sockaddr_in from{};
    socklen_t len = sizeof from;
    if (recv_datagram(server_.get(), msg, object_, reinterpret_cast<sockaddr*>(&from), &len,
                      true) != DgramResult::kMessage) {
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
    // UDP cannot tell a gone client: its reply is just lost.
    return send_datagram_to(server_.get(), msg, reinterpret_cast<const sockaddr*>(&to), sizeof to,
                            object_);
  }

 private:
  std::chrono::milliseconds recv_timeout_;
  UniqueFd server_;
  std::uint16_t server_port_;
  std::string object_;  // "127.0.0.1:<server port>"
  std::vector<UniqueFd> client_socks_;
  std::vector<sockaddr_in> client_addrs_;
  std::vector<std::pair<in_port_t, std::size_t>> by_port_;  // sorted: port -> client index
  UniqueFd sock_;                                           // a client's socket
};

Capabilities describe_fan_in(std::size_t) {
  return {.max_message_bytes = kMaxUdpPayload,
          .limit_source = "65535 - IPv4 and UDP headers",
          .may_lose = true};
}

// Across hosts: one socket on each host's address, connected to the other's once the control
// connection has told each the other's port; receives time out after recv_timeout (a loss).
class UdpPeerEnd final : public InetPeerEnd {
 public:
  UdpPeerEnd(const TransportOptions& options, Role /*role*/, std::uint32_t local_be)
      : InetPeerEnd(SOCK_DGRAM, /*reuse_addr=*/false, local_be) {
    set_recv_timeout(sock_.get(), options.recv_timeout, name_);
    if (options.recv_buffer_bytes > 0)
      set_recv_buffer(sock_.get(), options.recv_buffer_bytes, name_);
  }
  void attach(Role /*role*/, pid_t /*peer*/) override {
    // Connected: send() needs no address, and only the other end's datagrams are accepted.
    connect_retrying(sock_.get(), &peer_, sizeof peer_, name_);
    name_ += " <-> " + address_name(peer_);
  }
  void send(std::span<const std::byte> msg) override { send_datagram(sock_.get(), msg, name_); }
  Received recv(std::span<std::byte> msg) override {
    return recv_datagram(sock_.get(), msg, name_) == DgramResult::kMessage ? Received::kMessage
                                                                           : Received::kTimeout;
  }
};

PeerEndPtr make_peer_end(const TransportOptions& options, Role role, std::uint32_t local_be) {
  return std::make_unique<UdpPeerEnd>(options, role, local_be);
}

constexpr PeerForm kPeer{
    "one datagram socket on each host's address, connected to the other's; may lose",
    &make_peer_end};

constexpr FanInForm kFanIn{
    "127.0.0.1: one server socket; replies sendto() the sender's port; may lose", &describe_fan_in,
    &make_fan_in_of<UdpFanIn>};

}  // namespace

TransportPtr make_udp(const TransportOptions& options) {
  return std::make_unique<UdpTransport>(options);
}

Capabilities describe_udp() {
  const auto rcvbuf = read_proc_int(kRmemDefault);
  const std::string buffer = rcvbuf ? std::to_string(*rcvbuf) + " B" : "unreadable";
  return {.max_message_bytes = kMaxUdpPayload,
          .limit_source = "65535 - 20 (IPv4 header) - 8 (UDP header); receive buffer SO_RCVBUF " +
                          buffer + " (kernel default, " + kRmemDefault +
                          "): datagrams beyond it are dropped and counted lost",
          .may_lose = true,
          .waits_by = "blocking recv() with a timeout (SO_RCVTIMEO)"};
}

TransportForms forms_udp() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a unicast datagram reaches the one socket it is sent to: FanOut uses "
              "one socket pair per consumer",
          .peer = &kPeer};
}

}  // namespace ipcbench
