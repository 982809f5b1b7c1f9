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
// Fan-in: none (see forms_io_uring). Broadcast: none (a byte on a socket reaches its one peer).
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <optional>
#include <string>

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

class IoUringTransport final : public Transport {
 public:
  // The socket buffers keep the kernel default (net.core.wmem_default), as unix_stream's do, so
  // the two differ only in how the calls are made.
  explicit IoUringTransport(const TransportOptions&) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      throw_sys_error(errno, "socketpair", kObject);
    }
    producer_end_.reset(fds[0]);
    consumer_end_.reset(fds[1]);
  }

  void attach(Role role, pid_t /*peer*/) override {
    // After fork() both processes hold both ends; keep this role's. The ring is made here, in the
    // process that uses it.
    sock_ = std::move(role == Role::kProducer ? producer_end_ : consumer_end_);
    producer_end_.reset();
    consumer_end_.reset();
    ring_.emplace(kRingEntries, kObject);
  }

  void send(std::span<const std::byte> msg) override {
    while (!msg.empty()) {
      const std::size_t n = std::min(msg.size(), kMaxPerRequest);
      // MSG_WAITALL: the kernel retries a short send itself; MSG_NOSIGNAL: a gone peer is EPIPE.
      const int res = ring_->run(
          [&](io_uring_sqe* sqe) {
            io_uring_prep_send(sqe, sock_.get(), msg.data(), n, MSG_WAITALL | MSG_NOSIGNAL);
          },
          "send");
      if (res < 0) throw_sys_error(-res, "send (io_uring)", kObject);
      msg = msg.subspan(static_cast<std::size_t>(res));
    }
  }

  Received recv(std::span<std::byte> msg) override {
    while (!msg.empty()) {
      const std::size_t n = std::min(msg.size(), kMaxPerRequest);
      // MSG_WAITALL: the request completes when all n bytes came (or the peer closed), so a
      // message that arrives in pieces still costs one completion.
      const int res = ring_->run(
          [&](io_uring_sqe* sqe) {
            io_uring_prep_recv(sqe, sock_.get(), msg.data(), n, MSG_WAITALL);
          },
          "recv");
      if (res < 0) throw_sys_error(-res, "recv (io_uring)", kObject);
      if (res == 0) {
        throw_sys_error(EPIPE, "recv (io_uring)", std::string(kObject) + ", peer closed mid-message");
      }
      msg = msg.subspan(static_cast<std::size_t>(res));
    }
    return Received::kMessage;
  }

 private:
  static constexpr const char* kObject = "io_uring over a unix socket pair";

  UniqueFd producer_end_, consumer_end_;  // both, until attach()
  UniqueFd sock_;
  std::optional<IoUringRing> ring_;
};

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
  return {.no_fan_in =
              "one ring would wait on every client's socket, which is unix_stream's epoll "
              "server with io_uring polls in place of epoll_wait: what io_uring changes is "
              "measured by the pair form, and the server is not built twice",
          .no_broadcast =
              "a byte on a socket reaches its one peer: FanOut uses one socket pair per "
              "consumer"};
}

}  // namespace ipcbench
