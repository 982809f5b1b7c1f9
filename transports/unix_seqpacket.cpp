// unix_seqpacket: AF_UNIX SOCK_SEQPACKET with the lecture's server/client sequence on a path in a
// private 0700 directory: connected like a stream, but each send() is one record that recv()
// returns whole (message boundaries kept, no reassembly). Pair: one connection. Fan-in: listen,
// accept one socket per client, one epoll loop (SeqpacketFanIn). Broadcast: none.
//
// Cost of one message: one send() (copy 1: user buffer into one skb charged to the sender's
// SO_SNDBUF) and one recv() (copy 2: skb into the user buffer), as unix_stream, but never split:
// the largest record is the sender's SO_SNDBUF - 32, and the kernel refuses a longer one
// (EMSGSIZE).
#include "transports/os/unix_seqpacket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "transports/os/io.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr const char* kWmemDefault = "/proc/sys/net/core/wmem_default";
constexpr const char* kWmemMax = "/proc/sys/net/core/wmem_max";

// Refuses a run whose messages are longer than the largest record `fd`'s send buffer takes. The
// buffers stay the kernel default (net.core.wmem_default), what a user's socket gets, as for
// unix_dgram: it sets the largest record and how much a stream queues before the sender blocks.
void refuse_longer_than_a_record(int fd, std::size_t bytes, const std::string& object) {
  const std::size_t sndbuf = socket_send_buffer(fd, object);
  if (bytes + kSeqpacketOverhead > sndbuf) {
    throw_sys_error(EMSGSIZE, "send",
                    object + ", a record of " + std::to_string(bytes) +
                        " bytes is larger than SO_SNDBUF - 32 = " +
                        std::to_string(sndbuf - kSeqpacketOverhead));
  }
}

class UnixSeqpacketTransport final : public Transport {
 public:
  explicit UnixSeqpacketTransport(const TransportOptions& options)
      : listener_(listen_seqpacket(options, "seqpacket.sock", 1)) {
    refuse_longer_than_a_record(listener_.fd.get(), options.message_bytes, listener_.path);
  }

  void attach(Role role, pid_t /*peer*/) override {
    const std::string& path = listener_.path;
    if (role == Role::kProducer) {  // the server: accept the one data socket
      conn_ = accept_retrying(listener_.fd.get(), nullptr, nullptr, path);
      listener_.fd.reset();
      listener_.dir.remove();  // connected: the path is no longer needed
    } else {                   // the client
      listener_.fd.reset();
      listener_.dir.release();
      conn_ = connect_seqpacket(path);
    }
  }
  void send(std::span<const std::byte> msg) override {
    if (!send_record(conn_.get(), msg, listener_.path)) {
      throw_sys_error(EPIPE, "send", listener_.path + ", the peer is gone");
    }
  }
  Received recv(std::span<std::byte> msg) override {
    if (!recv_record(conn_.get(), msg, listener_.path)) {
      throw_sys_error(EPIPE, "recv", listener_.path + ", peer closed mid-message");
    }
    return Received::kMessage;
  }

 private:
  SeqpacketListener listener_;
  UniqueFd conn_;
};

class UnixSeqpacketFanIn final : public SeqpacketFanIn {
 public:
  UnixSeqpacketFanIn(const TransportOptions& options, std::size_t clients)
      : SeqpacketFanIn(options, clients) {
    refuse_longer_than_a_record(listener(), options.message_bytes, object());
  }
};

Capabilities describe_records(std::size_t /*clients*/ = 1) {
  std::string error;
  const auto sndbuf = default_seqpacket_send_buffer(error);
  if (!sndbuf || *sndbuf <= kSeqpacketOverhead) {
    return {.max_message_bytes = 0,
            .limit_source = "no SOCK_SEQPACKET socket could be made",
            .unavailable = error.empty() ? "SO_SNDBUF of a new socket is 0" : error};
  }
  const auto wmem_max = read_proc_int(kWmemMax);
  return {.max_message_bytes = *sndbuf - kSeqpacketOverhead,
          .limit_source =
              "SO_SNDBUF " + std::to_string(*sndbuf) +
              " B of a new AF_UNIX SOCK_SEQPACKET socket (getsockopt; the kernel default, " +
              kWmemDefault +
              ") - 32: unix_dgram_sendmsg() refuses a longer record with EMSGSIZE; " +
              "buffers kept at the default (setting SO_SNDBUF up to net.core.wmem_max = " +
              (wmem_max ? std::to_string(*wmem_max) : std::string("unreadable")) +
              ", doubled, would raise it); reliable and ordered, the sender blocks when full"};
}

Capabilities describe_fan_in(std::size_t clients) { return describe_records(clients); }

constexpr FanInForm kFanIn{
    "listen + accept one SOCK_SEQPACKET socket per client, one epoll loop; records read whole",
    &describe_fan_in, &make_fan_in_of<UnixSeqpacketFanIn>};

}  // namespace

TransportPtr make_unix_seqpacket(const TransportOptions& options) {
  return std::make_unique<UnixSeqpacketTransport>(options);
}

Capabilities describe_unix_seqpacket() { return describe_records(); }

TransportForms forms_unix_seqpacket() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a record on a connection reaches its one peer (AF_UNIX has no multicast): "
              "FanOut uses one connection per consumer"};
}

}  // namespace ipcbench
