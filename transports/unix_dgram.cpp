// unix_dgram: AF_UNIX SOCK_DGRAM, one datagram per message, sockets bound in a private 0700
// directory before fork(). Pair: two sockets connected to each other. Fan-in: one server socket
// every client sends to, one bound socket per client; the server learns the sender from
// recvfrom() (its path names the client index) and replies with sendto(). Broadcast: none.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "transports/os/datagram.hpp"
#include "transports/os/epoll_server.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// unix_dgram_sendmsg() refuses a datagram longer than sk_sndbuf - 32 with EMSGSIZE
// (getsockopt(SO_SNDBUF) returns sk_sndbuf, the doubled value).
constexpr std::size_t kSndbufOverhead = 32;
constexpr const char* kWmemDefault = "/proc/sys/net/core/wmem_default";

std::size_t send_buffer_bytes(int fd, const std::string& object) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &value, &len) != 0) {
    throw_sys_error(errno, "getsockopt(SO_SNDBUF)", object);
  }
  return static_cast<std::size_t>(value);
}

// The largest datagram a new socket takes: its SO_SNDBUF (net.core.wmem_default) - 32. Empty
// when unreadable.
std::optional<std::size_t> default_largest_datagram() {
  const auto sndbuf = read_proc_int(kWmemDefault);
  if (!sndbuf || *sndbuf <= static_cast<std::int64_t>(kSndbufOverhead)) return std::nullopt;
  return static_cast<std::size_t>(*sndbuf) - kSndbufOverhead;
}

class UnixDgramTransport final : public DatagramPairTransport {
 public:
  // Both sockets are bound and connected to each other before fork(). A connected datagram socket
  // holds its peer itself, not the path, and accepts datagrams from that peer only; so the paths
  // and the private directory are removed right here and nothing is left on disk from then on,
  // even if a process is killed. The send buffer stays the kernel default (net.core.wmem_default):
  // it is what a user's socket gets, and it sets the largest datagram and how much a stream queues
  // before the sender blocks.
  explicit UnixDgramTransport(const TransportOptions& options)
      : DatagramPairTransport(/*may_time_out=*/false) {
    PrivateDir dir(options.tmp_root);
    const std::string producer_path = (dir.path() / "producer.sock").string();
    const std::string consumer_path = (dir.path() / "consumer.sock").string();
    producer_ = bind_unix_socket(SOCK_DGRAM, producer_path);
    consumer_ = bind_unix_socket(SOCK_DGRAM, consumer_path);
    connect_unix_socket(producer_.get(), consumer_path);
    connect_unix_socket(consumer_.get(), producer_path);
    dir.remove();
    producer_name_ = "unix datagram socket " + producer_path + " (removed once connected)";
    consumer_name_ = "unix datagram socket " + consumer_path + " (removed once connected)";
    const std::size_t limit = std::min(send_buffer_bytes(producer_.get(), producer_name_),
                                       send_buffer_bytes(consumer_.get(), consumer_name_)) -
                              kSndbufOverhead;
    if (options.message_bytes > limit) {
      throw_sys_error(EMSGSIZE, "send",
                      producer_name_ + ", a datagram of " + std::to_string(options.message_bytes) +
                          " bytes is larger than SO_SNDBUF - 32 = " + std::to_string(limit));
    }
  }
};

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
    connect_unix_socket(sock_.get(), server_path_);
  }
  // The server's path can go once every client is connected to it; the clients' paths stay until
  // the end (the destructor), because the server's every reply is a sendto() to one of them.
  void after_attach() override {
    server_.reset();
    client_socks_.clear();
    ::unlink(server_path_.c_str());
  }

  void client_send(std::span<const std::byte> msg) override {
    send_datagram(sock_.get(), msg, server_path_);
  }
  Received client_recv(std::span<std::byte> msg) override {
    while (recv_datagram(sock_.get(), msg, server_path_) != DgramResult::kMessage) {
    }
    return Received::kMessage;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    sockaddr_un from{};
    socklen_t len = sizeof from;
    if (recv_datagram(server_.get(), msg, server_path_, reinterpret_cast<sockaddr*>(&from), &len,
                      true) != DgramResult::kMessage) {
      return {};
    }
    return {FanInEvent::Kind::kRequest, client_of(from, len)};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    const sockaddr_un& to = client_addrs_[client];
    return send_datagram_to(server_.get(), msg, reinterpret_cast<const sockaddr*>(&to), sizeof to,
                            to.sun_path);
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

// The socket buffers keep the kernel default (SO_SNDBUF = net.core.wmem_default); a datagram
// larger than that minus 32 bytes fails with EMSGSIZE.
Capabilities describe_fan_in(std::size_t) {
  Capabilities caps;
  if (const auto largest = default_largest_datagram()) {
    caps.max_message_bytes = *largest;
    caps.limit_source = std::string(kWmemDefault) + " (default SO_SNDBUF) - 32";
  } else {
    caps.max_message_bytes = 65536;
    caps.limit_source = "wmem_default unreadable: 64 KiB assumed";
  }
  return caps;
}

constexpr FanInForm kFanIn{
    "one bound server socket all clients send to; replies sendto() the sender's path",
    &describe_fan_in, &make_fan_in_of<UnixDgramFanIn>};

}  // namespace

TransportPtr make_unix_dgram(const TransportOptions& options) {
  return std::make_unique<UnixDgramTransport>(options);
}

Capabilities describe_unix_dgram() {
  // A new socket's SO_SNDBUF is net.core.wmem_default; the transport checks its own sockets too.
  const auto largest = default_largest_datagram();
  if (!largest) {
    return {.max_message_bytes = 0,
            .limit_source = std::string("unreadable ") + kWmemDefault + " (SO_SNDBUF default)"};
  }
  return {.max_message_bytes = *largest,
          .limit_source = "SO_SNDBUF " + std::to_string(*largest + kSndbufOverhead) +
                          " B (kernel default, " + kWmemDefault +
                          ") - 32: larger datagrams fail with EMSGSIZE; reliable " +
                          "and ordered, the sender blocks when the buffer is full"};
}

TransportForms forms_unix_dgram() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a datagram is delivered to the one socket it is sent to: FanOut uses "
              "one socket pair per consumer"};
}

}  // namespace ipcbench
