// pipe: anonymous pipes, the lecture's pipe() + fork(). Pair: one pipe per direction. Fan-in: two
// pipes per client (request, reply); the server waits on every request pipe with one epoll.
// Broadcast: none (a byte in a pipe goes to one reader).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

struct Pipe {
  UniqueFd read_end, write_end;
};

Pipe open_pipe(std::string_view object) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_sys_error(errno, "pipe2", object);
  // The capacity stays the kernel default (F_GETPIPE_SZ, recorded in the run's context): that is
  // what the lecture's pipe is, and what a user gets.
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

class PipeTransport final : public Transport {
 public:
  explicit PipeTransport(const TransportOptions&)
      : down_(open_pipe("anonymous pipe")), up_(open_pipe("anonymous pipe")) {}

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

// A pipe has no shared-endpoint form that keeps replies apart: one request pipe shared by all
// clients would work for requests up to PIPE_BUF (atomic writes), but replies need one pipe per
// client anyway, so each client gets its own pair and the server multiplexes.
class PipeFanIn final : public FanInTransport {
 public:
  PipeFanIn(const TransportOptions&, std::size_t clients) {
    for (std::size_t i = 0; i < clients; ++i) {
      const std::string object = "fan-in pipe of client " + std::to_string(i);
      requests_.push_back(open_pipe(object));
      replies_.push_back(open_pipe(object));
    }
  }

  void attach_server() override {
    server_.open(requests_.size(), "pipe fan-in server");
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      requests_[i].write_end.reset();  // the server must not hold a writer, or EOF never comes
      replies_[i].read_end.reset();
      server_.add(i, requests_[i].read_end.get());
    }
  }
  void attach_client(std::size_t index) override {
    // After fork() every process holds every end; keep this client's two.
    out_ = std::move(requests_[index].write_end);
    in_ = std::move(replies_[index].read_end);
    requests_.clear();
    replies_.clear();
  }
  void after_attach() override {  // the parent: its copies would hide a client's EOF
    requests_.clear();
    replies_.clear();
  }

  void client_send(std::span<const std::byte> msg) override { write_all(out_.get(), msg, "pipe"); }
  Received client_recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "pipe");
    return Received::kMessage;
  }
  FanInEvent server_recv(std::span<std::byte> msg) override { return server_.recv(msg); }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    return write_message(replies_[client].write_end.get(), msg, "pipe");
  }

 private:
  std::vector<Pipe> requests_, replies_;  // client -> server, server -> client, per client
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
