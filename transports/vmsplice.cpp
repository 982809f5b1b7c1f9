// vmsplice: one pipe per direction, fed with vmsplice() from the sender's pages instead of write()
// (transports/os/vmsplice_arena.hpp), drained with read(). Fan-in: two pipes per client, the
// server waits on every request pipe with one epoll, as the pipe transport does. Broadcast: none.
//
// The copies of one message: the harness's message into the sender's page-aligned arena (a user
// memcpy: send() must let the caller reuse its buffer at once, and vmsplice() would otherwise leave
// the pipe referencing that buffer), then the receiver's read() out of the pipe's referenced pages
// into its own buffer. write() on a plain pipe also makes two copies (into the pipe's own pages,
// then out); what vmsplice() saves is the kernel's allocation of those pages and its copy, paid
// instead with a page lookup (get_user_pages) per page and the user copy. The receiver reads with
// read(), not splice(): splice() moves page references to another pipe or a file, never into this
// process's buffer, and vmsplice() from a pipe's read end copies just as read() does.
//
// Each page a vmsplice() touches takes one of the pipe's slots (16 with the default 64 KiB), and
// a later vmsplice() never merges into it: 16 small messages fill the pipe, where write() packs
// them into shared pages (1024 messages of 64 bytes). Small-message streams block and wake more
// often than the pipe transport's for that reason, not because of the copies.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/pipes.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/vmsplice_arena.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// The pipes keep the kernel's default capacity, as for the pipe transport; the writer reads it
// back. A writer for `pipe`'s write end, sized from the capacity that pipe reports now.
VmspliceWriter writer_for(int fd, const std::string& object) {
  return VmspliceWriter(fd, pipe_capacity(fd, object), object);
}

class VmspliceTransport final : public Transport {
 public:
  explicit VmspliceTransport(const TransportOptions&) : pipes_("vmsplice pipe") {}

  void attach(Role role, pid_t /*peer*/) override {
    // The arena is mapped here, in the process that writes, so it is nobody else's copy-on-write
    // page.
    pipes_.keep(role, in_, out_);
    writer_ = writer_for(out_.get(), "vmsplice pipe");
  }
  void send(std::span<const std::byte> msg) override {
    if (!writer_.write(msg)) throw_sys_error(EPIPE, "vmsplice", "vmsplice pipe");
  }
  Received recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "vmsplice pipe");
    return Received::kMessage;
  }

 private:
  PipePair pipes_;
  UniqueFd in_, out_;
  VmspliceWriter writer_;
};

// As the pipe transport's fan-in: each client gets its own request and reply pipe, and the
// server multiplexes the request pipes with epoll. Every writer (each client, and the server once
// per client) has its own arena, since the reuse rule counts the bytes of one pipe.
class VmspliceFanIn final : public FanInTransport {
 public:
  VmspliceFanIn(const TransportOptions&, std::size_t clients)
      : pipes_(clients, "fan-in vmsplice pipe") {}

  void attach_server() override {
    pipes_.keep_server_ends();
    server_.open(pipes_.requests.size(), "vmsplice fan-in server");
    writers_.reserve(pipes_.requests.size());
    for (std::size_t i = 0; i < pipes_.requests.size(); ++i) {
      server_.add(i, pipes_.requests[i].read_end.get());
      writers_.push_back(writer_for(pipes_.replies[i].write_end.get(),
                                    "fan-in vmsplice pipe of client " + std::to_string(i)));
    }
  }
  void attach_client(std::size_t index) override {
    pipes_.keep_client_ends(index, in_, out_);
    writer_ = writer_for(out_.get(), "fan-in vmsplice pipe of client " + std::to_string(index));
  }
  void after_attach() override { pipes_.close_all(); }

  void client_send(std::span<const std::byte> msg) override {
    if (!writer_.write(msg)) throw_sys_error(EPIPE, "vmsplice", "vmsplice fan-in request pipe");
  }
  Received client_recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "vmsplice fan-in reply pipe");
    return Received::kMessage;
  }
  FanInEvent server_recv(std::span<std::byte> msg) override { return server_.recv(msg); }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    return writers_[client].write(msg);
  }

 private:
  ClientPipes pipes_;
  EpollServer server_;
  std::vector<VmspliceWriter> writers_;  // the server's, one per reply pipe
  UniqueFd in_, out_;                    // a client's ends
  VmspliceWriter writer_;                // a client's, for its request pipe
};

// Read once per process: a fresh pipe's capacity and whether vmsplice() works here at all.
struct Probe {
  std::string unavailable;
  std::string capacity;
};

const Probe& probe() {
  static const Probe result = [] {
    Probe p{vmsplice_refusal(probe_vmsplice()), "unreadable"};
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) == 0) {
      const UniqueFd read_end(fds[0]), write_end(fds[1]);
      const int bytes = ::fcntl(write_end.get(), F_GETPIPE_SZ);
      if (bytes > 0) p.capacity = std::to_string(bytes);
    }
    return p;
  }();
  return result;
}

Capabilities capabilities() {
  return {.limit_source =
              "none: a byte stream, any size, vmspliced in pieces of at most the pipe "
              "capacity (F_GETPIPE_SZ of a fresh pipe: " +
              probe().capacity +
              " bytes) through a private arena of twice that, read by the receiver "
              "with read()",
          .waits_by =
              "blocking read() on the pipe; the sender blocks in vmsplice() while the pipe "
              "is full",
          .unavailable = probe().unavailable};
}

Capabilities describe_fan_in(std::size_t) { return capabilities(); }

constexpr FanInForm kFanIn{
    "two vmsplice pipes per client; the server waits on all request pipes with one epoll",
    &describe_fan_in, &make_fan_in_of<VmspliceFanIn>};

}  // namespace

TransportPtr make_vmsplice(const TransportOptions& options) {
  return std::make_unique<VmspliceTransport>(options);
}

Capabilities describe_vmsplice() { return capabilities(); }

TransportForms forms_vmsplice() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a byte in a pipe is read by one reader only, and the broadcast form is a ring "
              "read in place in shared memory: FanOut uses one vmsplice pipe per consumer"};
}

}  // namespace ipcbench
