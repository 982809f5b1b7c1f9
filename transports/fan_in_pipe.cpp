// pipe fan-in: two anonymous pipes per client (request, reply); the server waits on every request
// pipe with one epoll. A pipe has no shared-endpoint form that keeps replies apart: one request
// pipe shared by all clients would work for requests up to PIPE_BUF (atomic writes), but replies
// need one pipe per client anyway, so each client gets its own pair and the server multiplexes.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

struct Pipe {
  UniqueFd read_end, write_end;
};

Pipe open_pipe(std::size_t client) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw_sys_error(errno, "pipe2", "fan-in pipe of client " + std::to_string(client));
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

class PipeFanIn final : public FanInTransport {
 public:
  PipeFanIn(const TransportOptions&, std::size_t clients) {
    for (std::size_t i = 0; i < clients; ++i) {
      requests_.push_back(open_pipe(i));
      replies_.push_back(open_pipe(i));
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

}  // namespace

FanInPtr make_fan_in_pipe(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<PipeFanIn>(options, clients);
}

Capabilities describe_fan_in_pipe(std::size_t) {
  return {.limit_source = "none: a byte stream, any size"};
}

}  // namespace ipcbench
