// io_uring: the pair's bytes go over an AF_UNIX stream socket pair made before fork(), and every
// send and receive is an io_uring request (IORING_OP_SEND / IORING_OP_RECV) on a ring each process
// makes for itself in attach(), after fork(). Submitting a request and waiting for its completion
// is one io_uring_enter(), so a message costs the same two copies as unix_stream (into the socket
// buffer and out of it) and one io_uring_enter() per side instead of a write() or a read().
// Why a socket pair, not IORING_OP_MSG_RING: a MSG_RING completion carries only 64 bits of user
// data and a 32-bit length into the other process's ring, so the payload would need a shared
// mapping beside it (shm_futex's ring, with io_uring as its doorbell), and each process would
// need the other's ring fd (passed with SCM_RIGHTS). The socket pair carries the payload itself
// and keeps each ring private to its process.
// Fan-in: one socket pair per client; the server's one ring holds a poll request on every
// client's socket and reads a ready client's request with a receive request on the same ring.
// Broadcast: none (a byte on a socket reaches its one peer).
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io_uring_ring.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// One request in flight, plus the cancel that may follow it.
constexpr unsigned kRingEntries = 4;
// A completion's res is an int: one request moves at most this much, a larger message takes
// several requests, as write() would take several calls.
constexpr std::size_t kMaxPerRequest = std::size_t{1} << 30;

constexpr const char* kObject = "io_uring over a unix socket pair";

struct SocketPair {
  UniqueFd first, second;
};

SocketPair open_socket_pair(std::string_view object) {
  int fds[2];
  // The socket buffers keep the kernel default (net.core.wmem_default), as unix_stream's do, so
  // the two differ only in how the calls are made.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    throw_sys_error(errno, "socketpair", object);
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Sends all of msg with send requests on `ring`; the -errno of a failed one, or 0.
int send_all(IoUringRing& ring, int fd, std::span<const std::byte> msg) {
  while (!msg.empty()) {
    const std::size_t n = std::min(msg.size(), kMaxPerRequest);
    // MSG_WAITALL: the kernel retries a short send itself; MSG_NOSIGNAL: a gone peer is EPIPE.
    const int res = ring.run(
        [&](io_uring_sqe* sqe) {
          io_uring_prep_send(sqe, fd, msg.data(), n, MSG_WAITALL | MSG_NOSIGNAL);
        },
        "send");
    if (res < 0) return res;
    msg = msg.subspan(static_cast<std::size_t>(res));
  }
  return 0;
}

// Fills msg with receive requests on `ring`: 0, or -EPIPE when the peer closed first, or the
// -errno of a failed request.
int recv_all(IoUringRing& ring, int fd, std::span<std::byte> msg) {
  while (!msg.empty()) {
    const std::size_t n = std::min(msg.size(), kMaxPerRequest);
    // MSG_WAITALL: the request completes when all n bytes came (or the peer closed), so a
    // message that arrives in pieces still costs one completion.
    const int res = ring.run(
        [&](io_uring_sqe* sqe) { io_uring_prep_recv(sqe, fd, msg.data(), n, MSG_WAITALL); },
        "recv");
    if (res < 0) return res;
    if (res == 0) return -EPIPE;
    msg = msg.subspan(static_cast<std::size_t>(res));
  }
  return 0;
}

void send_or_throw(IoUringRing& ring, int fd, std::span<const std::byte> msg) {
  if (const int res = send_all(ring, fd, msg); res < 0) {
    throw_sys_error(-res, "send (io_uring)", kObject);
  }
}

void recv_or_throw(IoUringRing& ring, int fd, std::span<std::byte> msg) {
  if (const int res = recv_all(ring, fd, msg); res == -EPIPE) {
    throw_sys_error(EPIPE, "recv (io_uring)", std::string(kObject) + ", peer closed mid-message");
  } else if (res < 0) {
    throw_sys_error(-res, "recv (io_uring)", kObject);
  }
}

class IoUringTransport final : public Transport {
 public:
  explicit IoUringTransport(const TransportOptions&) : ends_(open_socket_pair(kObject)) {}

  void attach(Role role, pid_t /*peer*/) override {
    // After fork() both processes hold both ends; keep this role's. The ring is made here, in the
    // process that uses it.
    sock_ = std::move(role == Role::kProducer ? ends_.first : ends_.second);
    ends_ = {};
    ring_.emplace(kRingEntries, kObject);
  }
  void send(std::span<const std::byte> msg) override { send_or_throw(*ring_, sock_.get(), msg); }
  Received recv(std::span<std::byte> msg) override {
    recv_or_throw(*ring_, sock_.get(), msg);
    return Received::kMessage;
  }

 private:
  SocketPair ends_;  // producer's, consumer's: both until attach()
  UniqueFd sock_;
  std::optional<IoUringRing> ring_;
};

// One socket pair per client. The server's ring holds one poll request (POLLIN) per client
// socket, each tagged with its client: a completion says that client has a request (or has
// closed). The server then reads the whole request with a receive request and arms that client's
// poll again, so every client has at most one poll in flight, and a ready client is served once
// per round like EpollServer's level-triggered loop. Replies are send requests on the same ring.
// A waiting server costs one io_uring_enter() (submit the re-armed poll + wait), then one for
// the receive and one for the reply: three per request, where unix_stream's server makes
// epoll_wait + read + write.
class IoUringFanIn final : public FanInTransport {
 public:
  IoUringFanIn(const TransportOptions&, std::size_t clients) {
    for (std::size_t i = 0; i < clients; ++i) {
      SocketPair p = open_socket_pair(kObject);
      server_ends_.push_back(std::move(p.first));
      client_ends_.push_back(std::move(p.second));
    }
  }

  void attach_server() override {
    client_ends_.clear();  // or a client's end closing would never show
    // Room for every poll, a request of run() and its cancel.
    const auto entries = static_cast<unsigned>(server_ends_.size() + kRingEntries);
    ring_.emplace(entries, "io_uring fan-in server", server_ends_.size());
    for (std::size_t i = 0; i < server_ends_.size(); ++i) arm(i);
  }
  void attach_client(std::size_t index) override {
    sock_ = std::move(client_ends_[index]);
    client_ends_.clear();
    server_ends_.clear();
    ring_.emplace(kRingEntries, kObject);
  }
  void after_attach() override {  // the parent: its copies would hide a client's close
    client_ends_.clear();
    server_ends_.clear();
  }

  void client_send(std::span<const std::byte> msg) override {
    send_or_throw(*ring_, sock_.get(), msg);
  }
  Received client_recv(std::span<std::byte> msg) override {
    recv_or_throw(*ring_, sock_.get(), msg);
    return Received::kMessage;
  }

  FanInEvent server_recv(std::span<std::byte> msg) override {
    std::size_t client = 0;
    if (!next_ready(&client)) {
      if (!ring_->wait_others(kFanInIdleMs, "poll") || !next_ready(&client)) return {};
    }
    const int res = recv_all(*ring_, server_ends_[client].get(), msg);
    if (res == -EPIPE || res == -ECONNRESET) {  // closed (died or left): drop it
      server_ends_[client].reset();
      return {FanInEvent::Kind::kDisconnected, client};
    }
    if (res < 0) throw_sys_error(-res, "recv (io_uring)", "io_uring fan-in server");
    arm(client);
    return {FanInEvent::Kind::kRequest, client};
  }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    if (!server_ends_[client].valid()) return false;
    const int res = send_all(*ring_, server_ends_[client].get(), msg);
    if (res == -EPIPE || res == -ECONNRESET) return false;
    if (res < 0) throw_sys_error(-res, "send (io_uring)", "io_uring fan-in server");
    return true;
  }

 private:
  // Arms client's poll; submitted with the server's next wait or request.
  void arm(std::size_t client) {
    io_uring_prep_poll_add(ring_->prepare(IoUringRing::kFirstUserTag + client),
                           server_ends_[client].get(), POLLIN);
  }
  // The next client whose poll completed.
  bool next_ready(std::size_t* client) {
    IoUringRing::Completion c{};
    if (!ring_->take_other(&c)) return false;
    if (c.res < 0) throw_sys_error(-c.res, "poll (io_uring)", "io_uring fan-in server");
    *client = static_cast<std::size_t>(c.tag - IoUringRing::kFirstUserTag);
    return true;
  }

  std::vector<UniqueFd> server_ends_, client_ends_;  // by client index
  UniqueFd sock_;                                    // a client's end
  std::optional<IoUringRing> ring_;
};

Capabilities describe_fan_in(std::size_t clients) {
  Capabilities caps = describe_stream_fan_in(clients);
  caps.waits_by = "io_uring_enter() on one poll request per client";
  caps.unavailable = io_uring_unavailable();
  return caps;
}

constexpr FanInForm kFanIn{
    "one socket pair per client; the server's one ring polls every client socket, then reads "
    "and replies with io_uring requests",
    &describe_fan_in, &make_fan_in_of<IoUringFanIn>};

}  // namespace

TransportPtr make_io_uring(const TransportOptions& options) {
  return std::make_unique<IoUringTransport>(options);
}

Capabilities describe_io_uring() {
  return {.limit_source =
              "none: a byte stream over a unix socket pair, any size (one request moves up to "
              "1 GiB, since a completion's result is an int; a larger message takes several)",
          .waits_by = "io_uring_enter() (submit + wait for the completion, 100 ms slices)",
          .unavailable = io_uring_unavailable()};
}

TransportForms forms_io_uring() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a byte on a socket reaches its one peer: FanOut uses one socket pair per "
              "consumer"};
}

}  // namespace ipcbench
