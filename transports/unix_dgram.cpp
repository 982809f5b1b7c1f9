// unix_dgram: AF_UNIX SOCK_DGRAM, two sockets bound in a private directory and connected to each
// other; one datagram per message.
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "transports/os/datagram.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"

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

void connect_unix(int fd, const std::string& path) {
  const sockaddr_un addr = unix_socket_address(path);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "connect", path);
  }
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
    connect_unix(producer_.get(), consumer_path);
    connect_unix(consumer_.get(), producer_path);
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

}  // namespace

TransportPtr make_unix_dgram(const TransportOptions& options) {
  return std::make_unique<UnixDgramTransport>(options);
}

Capabilities describe_unix_dgram() {
  // A new socket's SO_SNDBUF is net.core.wmem_default; the transport checks its own sockets too.
  const auto sndbuf = read_proc_int(kWmemDefault);
  if (!sndbuf || *sndbuf <= static_cast<std::int64_t>(kSndbufOverhead)) {
    return {.max_message_bytes = 0,
            .limit_source = std::string("unreadable ") + kWmemDefault + " (SO_SNDBUF default)"};
  }
  const auto bytes = static_cast<std::size_t>(*sndbuf);
  return {.max_message_bytes = bytes - kSndbufOverhead,
          .limit_source = "SO_SNDBUF " + std::to_string(bytes) + " B (kernel default, " +
                          kWmemDefault + ") - 32: larger datagrams fail with EMSGSIZE; reliable " +
                          "and ordered, the sender blocks when the buffer is full"};
}

}  // namespace ipcbench
