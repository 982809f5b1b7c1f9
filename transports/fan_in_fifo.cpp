// fifo fan-in: two FIFOs per client (request, reply) in a private 0700 directory; the server waits
// on every request FIFO with one epoll. One FIFO for all requests would be possible (writes up to
// PIPE_BUF are atomic, larger ones may interleave between clients), but replies need one FIFO per
// client anyway; per-client pairs keep every size correct and match the pipe fan-in exactly.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

class FifoFanIn final : public FanInTransport {
 public:
  FifoFanIn(const TransportOptions& options, std::size_t clients) : dir_(options.tmp_root) {
    for (std::size_t i = 0; i < clients; ++i) {
      request_paths_.push_back((dir_.path() / ("req" + std::to_string(i) + ".fifo")).string());
      reply_paths_.push_back((dir_.path() / ("rep" + std::to_string(i) + ".fifo")).string());
      // 0600: only this user; the 0700 directory already keeps everyone else out.
      if (::mkfifo(request_paths_[i].c_str(), 0600) != 0) {
        throw_sys_error(errno, "mkfifo", request_paths_[i]);
      }
      if (::mkfifo(reply_paths_[i].c_str(), 0600) != 0) {
        throw_sys_error(errno, "mkfifo", reply_paths_[i]);
      }
    }
  }

  // Open order, per client: the client opens its reply FIFO for reading without blocking, then
  // its request FIFO for writing (blocks until the server reads it); the server opens reply i for
  // writing (blocks until client i has its reading end), then request i for reading. So the
  // client's first request finds the reply FIFO's writer already open (a read with no writer
  // would be end of file), and each end has exactly one reader and one writer: a client that dies
  // gives the server end of file, and a reply to it gives EPIPE.
  void attach_server() override {
    dir_.release();
    server_.open(request_paths_.size(), "fifo fan-in server");
    for (std::size_t i = 0; i < request_paths_.size(); ++i) {
      out_.push_back(open_path(reply_paths_[i], O_WRONLY));
      in_.push_back(open_path(request_paths_[i], O_RDONLY));
      server_.add(i, in_[i].get());
    }
  }
  void attach_client(std::size_t index) override {
    dir_.release();
    UniqueFd reply = open_path(reply_paths_[index], O_RDONLY | O_NONBLOCK);
    // Back to blocking reads: a client waits for its reply.
    if (::fcntl(reply.get(), F_SETFL, 0) != 0) throw_sys_error(errno, "fcntl", reply_paths_[index]);
    out_.push_back(open_path(request_paths_[index], O_WRONLY));
    in_.push_back(std::move(reply));
  }
  void after_attach() override { dir_.remove(); }  // every end is open: the names can go

  void client_send(std::span<const std::byte> msg) override {
    write_all(out_[0].get(), msg, "fifo");
  }
  Received client_recv(std::span<std::byte> msg) override {
    read_all(in_[0].get(), msg, "fifo");
    return Received::kMessage;
  }
  FanInEvent server_recv(std::span<std::byte> msg) override { return server_.recv(msg); }
  bool server_send(std::size_t client, std::span<const std::byte> msg) override {
    return write_message(out_[client].get(), msg, "fifo");
  }

 private:
  PrivateDir dir_;
  std::vector<std::string> request_paths_, reply_paths_;
  EpollServer server_;
  std::vector<UniqueFd> in_, out_;  // server: one per client; a client: its one of each
};

}  // namespace

FanInPtr make_fan_in_fifo(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<FifoFanIn>(options, clients);
}

Capabilities describe_fan_in_fifo(std::size_t) {
  return {.limit_source = "none: a byte stream, any size"};
}

}  // namespace ipcbench
