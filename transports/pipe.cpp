// pipe: anonymous pipes, the lecture's pipe() + fork(). Pair: one pipe per direction. Fan-in: two
// pipes per client (request, reply); the server waits on every request pipe with one epoll.
// Broadcast: none (a byte in a pipe goes to one reader).
#include <string>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/pipes.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

class PipeTransport final : public Transport {
 public:
  explicit PipeTransport(const TransportOptions&) : pipes_("anonymous pipe") {}

  void attach(Role role, pid_t /*peer*/) override { pipes_.keep(role, in_, out_); }
  void send(std::span<const std::byte> msg) override { write_all(out_.get(), msg, "pipe"); }
  Received recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "pipe");
    return Received::kMessage;
  }

 private:
  PipePair pipes_;
  UniqueFd in_, out_;
};

// A pipe has no shared-endpoint form that keeps replies apart: one request pipe shared by all
// clients would work for requests up to PIPE_BUF (atomic writes), but replies need one pipe per
// client anyway, so each client gets its own pair and the server multiplexes.
class PipeFanIn final : public FanInTransport {
 public:
  PipeFanIn(const TransportOptions&, std::size_t clients) : pipes_(clients, "fan-in pipe") {}

  void attach_server() override {
    pipes_.keep_server_ends();
    server_.open(pipes_.requests.size(), "pipe fan-in server");
    for (std::size_t i = 0; i < pipes_.requests.size(); ++i) {
      server_.add(i, pipes_.requests[i].read_end.get());
    }
  }
  void attach_client(std::size_t index) override { pipes_.keep_client_ends(index, in_, out_); }
  void after_attach() override { pipes_.close_all(); }

  void client_send(std::span<const std::byte> msg) override { write_all(out_.get(), msg, "pipe"); }
  Received client_recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "pipe");
    return Received::kMessage;
  }
  FanInEvent server_recv(std::span<std::byte> msg) override { return server_.recv(msg); }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    return write_message(pipes_.replies[client].write_end.get(), msg, "pipe");
  }

 private:
  ClientPipes pipes_;
  EpollServer server_;
  UniqueFd in_, out_;  // a client's ends
};

constexpr FanInForm kFanIn{
    "two pipes per client; the server waits on all request pipes with one epoll",
    &describe_stream_fan_in, &make_fan_in_of<PipeFanIn>};

}  // namespace

TransportPtr make_pipe(const TransportOptions& options) {
  return std::make_unique<PipeTransport>(options);
}

Capabilities describe_pipe() {
  return {.limit_source = "none: a byte stream, any size (written in pieces of the pipe capacity)"};
}

TransportForms forms_pipe() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a byte written to a pipe is read by one reader only: FanOut uses one "
              "pipe per consumer"};
}

}  // namespace ipcbench
