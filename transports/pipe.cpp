// pipe: two anonymous pipes, one per direction, the lecture's pipe() + fork().
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {
namespace {

struct Pipe {
  UniqueFd read_end, write_end;
};

Pipe open_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_sys_error(errno, "pipe2", "anonymous pipe");
  // The capacity stays the kernel default (F_GETPIPE_SZ, recorded in the run's context): that is
  // what the lecture's pipe is, and what a user gets.
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

class PipeTransport final : public Transport {
 public:
  explicit PipeTransport(const TransportOptions&) : down_(open_pipe()), up_(open_pipe()) {}

  void attach(Role role, pid_t /*peer*/) override {
    // After fork() both processes hold all four ends; keep the two this role uses.
    const bool producer = role == Role::kProducer;
    in_ = std::move(producer ? up_.read_end : down_.read_end);
    out_ = std::move(producer ? down_.write_end : up_.write_end);
    down_ = {};
    up_ = {};
  }
  void send(std::span<const std::byte> msg) override { write_all(out_.get(), msg, "pipe"); }
  Received recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "pipe");
    return Received::kMessage;
  }

 private:
  Pipe down_, up_;  // producer -> consumer, consumer -> producer
  UniqueFd in_, out_;
};

}  // namespace

TransportPtr make_pipe(const TransportOptions& options) {
  return std::make_unique<PipeTransport>(options);
}

Capabilities describe_pipe() {
  return {.limit_source = "none: a byte stream, any size (written in pieces of the pipe capacity)"};
}

}  // namespace ipcbench
