// udp: AF_INET SOCK_DGRAM on 127.0.0.1, two sockets connected to each other; may lose datagrams.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <string>

#include "transports/os/datagram.hpp"
#include "transports/os/inet_socket.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {
namespace {

// 65535 (IPv4 total length) - 20 (IPv4 header) - 8 (UDP header).
constexpr std::size_t kMaxUdpPayload = 65507;
constexpr const char* kRmemDefault = "/proc/sys/net/core/rmem_default";

void connect_to(int fd, std::uint16_t port) {
  const sockaddr_in addr = loopback_address(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "connect", loopback_name(port));
  }
}

void set_recv_timeout(int fd, std::chrono::milliseconds timeout, const std::string& object) {
  if (timeout.count() <= 0) {
    throw_sys_error(EINVAL, "setsockopt(SO_RCVTIMEO)",
                    object + ": a lossy transport needs a positive receive timeout");
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    throw_sys_error(errno, "setsockopt(SO_RCVTIMEO)", object);
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
    connect_to(producer_.get(), consumer_port);
    connect_to(consumer_.get(), producer_port);
    for (const auto& [fd, name] : {std::pair{producer_.get(), &producer_name_},
                                   std::pair{consumer_.get(), &consumer_name_}}) {
      set_recv_timeout(fd, options.recv_timeout, *name);
      if (options.recv_buffer_bytes > 0) {
        const int bytes = static_cast<int>(options.recv_buffer_bytes);
        if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) != 0) {
          throw_sys_error(errno, "setsockopt(SO_RCVBUF)", *name);
        }
      }
    }
  }
};

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

}  // namespace ipcbench
