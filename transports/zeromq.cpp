// zeromq: ZeroMQ (libzmq) sockets over ipc://, a Unix stream socket on a path in a private 0700
// directory. Each process makes its own zmq context and socket in attach(), after fork() (a zmq
// context and its I/O thread do not survive fork()). A message is one zmq frame: zmq copies it
// into a message it owns, its I/O thread writes it to the Unix socket, the peer's I/O thread reads
// it and hands it to the receiving thread, which copies it out. So beside the kernel's two copies
// each message costs two more and two thread hand-offs (app thread <-> I/O thread, through zmq's
// lock-free pipe and a mailbox eventfd) on each side: 15 to 20 system calls per message where
// unix_stream makes a write() and a read() (strace of a 64-byte round trip). zmq allocates every
// message above 33 bytes inside libzmq (zmq_send() does the same); zmq_msg_init_data() would
// avoid the copy, not the allocation, and needs the caller's buffer to outlive the send.
// A consumer's last reply or ack is flushed by detach() (see there).
// Pair: ZMQ_PAIR, the producer binds, the consumer connects. Fan-in: a ZMQ_ROUTER server and one
// ZMQ_DEALER per client, replies routed by the client's routing id. Broadcast: none (see
// forms_zeromq).
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unix_socket.hpp"
#include "transports/os/zeromq_socket.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// How long a connecting socket waits before trying again when the path is not bound yet (zmq
// connects in the background; the default is 100 ms). Only the untimed start is affected.
constexpr int kReconnectMs = 10;
// How long detach() lets zmq write what it still queues (a dead peer: no longer than this).
constexpr int kFlushLingerMs = 2000;

std::string object_name(const char* what, const std::string& path) {
  return std::string("zmq ") + what + " ipc://" + path;
}

class ZeromqTransport final : public Transport {
 public:
  // Only the directory and the name are made before fork(); a path too long for a Unix socket is
  // refused here, before any process is started.
  explicit ZeromqTransport(const TransportOptions& options)
      : dir_(options.tmp_root), path_((dir_.path() / "pair.sock").string()) {
    (void)unix_socket_address(path_);
  }

  void attach(Role role, pid_t /*peer*/) override {
    producer_ = role == Role::kProducer;
    socket_ = ZmqSocket(ZMQ_PAIR, object_name("PAIR", path_));
    std::array<std::byte, 1> hello{};
    if (producer_) {
      socket_.bind_ipc(path_);
      // The consumer's hello says it is connected (a PAIR takes one peer): the path can go, and
      // with it the directory, so nothing is left on disk from here on, even after a SIGKILL.
      socket_.recv(hello);
      dir_.remove();
    } else {
      dir_.release();
      socket_.set_int(ZMQ_RECONNECT_IVL, kReconnectMs, "ZMQ_RECONNECT_IVL");
      socket_.connect_ipc(path_);
      (void)socket_.send(hello, false);  // queued until the connection is made
    }
  }

  // zmq_msg_send() returns once the message is on zmq's queue in this process; the I/O thread
  // writes it to the socket later, as users of zmq get it.
  void send(std::span<const std::byte> msg) override { (void)socket_.send(msg, false); }
  Received recv(std::span<std::byte> msg) override {
    socket_.recv(msg);
    return Received::kMessage;
  }
  // The consumer's process ends right after its last reply (or ack), and a process that ends
  // takes zmq's queue with it (the harness's children end with _exit()): closing the socket with
  // a bounded linger first writes what is queued. The producer needs none: it ends with a receive.
  void detach() override { socket_.close_flushing(kFlushLingerMs); }

 private:
  PrivateDir dir_;
  std::string path_;
  ZmqSocket socket_;
  bool producer_ = false;
};

// A client's routing id: 'c' and its index in 4 bytes (zmq reserves ids that start with a zero
// byte for those it makes up itself).
constexpr std::size_t kRoutingIdBytes = 5;
using RoutingId = std::array<std::byte, kRoutingIdBytes>;

RoutingId routing_id(std::size_t client) {
  RoutingId id{std::byte{'c'}};
  for (std::size_t i = 0; i < 4; ++i) id[1 + i] = static_cast<std::byte>(client >> (8 * i));
  return id;
}

class ZeromqFanIn final : public FanInTransport {
 public:
  ZeromqFanIn(const TransportOptions& options, std::size_t clients)
      : dir_(options.tmp_root), path_((dir_.path() / "server.sock").string()) {
    (void)unix_socket_address(path_);
    for (std::size_t i = 0; i < clients; ++i) ids_.push_back(routing_id(i));
  }

  void attach_server() override {
    dir_.release();
    socket_ = ZmqSocket(ZMQ_ROUTER, object_name("ROUTER", path_));
    // A reply to a client that is gone fails with EHOSTUNREACH (server_send says false) instead
    // of vanishing, and a full queue to one client blocks rather than drops.
    socket_.set_int(ZMQ_ROUTER_MANDATORY, 1, "ZMQ_ROUTER_MANDATORY");
    // server_recv returns kIdle when nothing came for this long.
    socket_.set_int(ZMQ_RCVTIMEO, kFanInIdleMs, "ZMQ_RCVTIMEO");
    socket_.bind_ipc(path_);
  }
  void attach_client(std::size_t index) override {
    dir_.release();
    socket_ = ZmqSocket(ZMQ_DEALER,
                        object_name("DEALER", path_) + " (client " + std::to_string(index) + ")");
    socket_.set_bytes(ZMQ_ROUTING_ID, ids_[index], "ZMQ_ROUTING_ID");
    socket_.set_int(ZMQ_RECONNECT_IVL, kReconnectMs, "ZMQ_RECONNECT_IVL");
    socket_.connect_ipc(path_);
  }
  // The path stays until the parent's destructor removes the directory (it is in the run's
  // ledger): zmq connects in the background, and a client whose connection is not made yet would
  // retry forever on a removed path. Nothing to drop: the parent made no zmq socket.
  void after_attach() override {}

  void client_send(std::span<const std::byte> msg) override { (void)socket_.send(msg, false); }
  Received client_recv(std::span<std::byte> msg) override {
    socket_.recv(msg);
    return Received::kMessage;
  }

  // A request is two frames: the client's routing id (the ROUTER adds it) and the payload. A
  // message arrives whole or not at all, so the payload is there once the id is.
  FanInEvent server_recv(std::span<std::byte> msg) override {
    RoutingId id;
    bool more = false;
    if (!socket_.try_recv(id, &more)) return {};  // nothing within kFanInIdleMs, or a signal
    const std::size_t client = client_of(id);
    bool payload_more = false;
    if (!more || !socket_.try_recv(msg, &payload_more) || payload_more) {
      throw_sys_error(EPROTO, "zmq_msg_recv",
                      socket_.object() + ": a request that is not routing id + one payload frame");
    }
    return {FanInEvent::Kind::kRequest, client};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    // ZMQ_ROUTER_MANDATORY: the routing id frame fails at once for a client that is gone.
    return socket_.send(ids_[client], true) && socket_.send(msg, false);
  }

 private:
  std::size_t client_of(const RoutingId& id) const {
    std::size_t index = 0;
    for (std::size_t i = 0; i < 4; ++i) index |= std::to_integer<std::size_t>(id[1 + i]) << (8 * i);
    if (id[0] != std::byte{'c'} || index >= ids_.size()) {
      throw_sys_error(EPROTO, "zmq_msg_recv",
                      socket_.object() + ": a request from an unknown peer");
    }
    return index;
  }

  PrivateDir dir_;
  std::string path_;
  std::vector<RoutingId> ids_;  // client i's routing id
  ZmqSocket socket_;
};

Capabilities zeromq_caps(const char* extra) {
  const ZmqLimit& limit = zmq_message_limit();
  return {.max_message_bytes = limit.max_message_bytes,
          .limit_source = limit.source,
          .waits_by = std::string("zmq_msg_recv() with ZMQ_RCVTIMEO slices (poll() on the "
                                  "socket's mailbox eventfd; zmq's I/O thread reads the Unix "
                                  "socket)") +
                      extra};
}

Capabilities describe_fan_in(std::size_t /*clients*/) { return zeromq_caps(""); }

constexpr FanInForm kFanIn{
    "one ZMQ_ROUTER socket bound on ipc://, one ZMQ_DEALER per client; replies are routed by "
    "the client's routing id",
    &describe_fan_in, &make_fan_in_of<ZeromqFanIn>};

}  // namespace

TransportPtr make_zeromq(const TransportOptions& options) {
  return std::make_unique<ZeromqTransport>(options);
}

Capabilities describe_zeromq() {
  return zeromq_caps("");
}

TransportForms forms_zeromq() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "zmq's fan-out, PUB/SUB, drops a subscriber's messages once its high-water mark "
              "is reached instead of waiting, and the mailbox pattern needs every copy: FanOut "
              "uses one PAIR socket per consumer"};
}

}  // namespace ipcbench
