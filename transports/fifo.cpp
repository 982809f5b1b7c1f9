// fifo: named pipes made with mkfifo() in a private 0700 directory. Pair: one FIFO per direction,
// opened by both sides. Fan-in: two FIFOs per client (request, reply); the server waits on every
// request FIFO with one epoll. Broadcast: none (a byte in a FIFO goes to one reader).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/io.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// Makes the FIFO `path`, 0600: only this user; the 0700 directory already keeps everyone else
// out.
void create_fifo(const std::string& path) {
  if (::mkfifo(path.c_str(), 0600) != 0) throw_sys_error(errno, "mkfifo", path);
}

class FifoTransport final : public Transport {
 public:
  explicit FifoTransport(const TransportOptions& options)
      : dir_(options.tmp_root),
        down_path_((dir_.path() / "down.fifo").string()),
        up_path_((dir_.path() / "up.fifo").string()) {
    create_fifo(down_path_);
    create_fifo(up_path_);
  }

  void attach(Role role, pid_t /*peer*/) override {
    // Both sides open `down` first, then `up`, so the blocking opens pair up without deadlock.
    if (role == Role::kProducer) {
      out_ = open_path(down_path_, O_WRONLY);
      in_ = open_path(up_path_, O_RDONLY);
      // Both ends are open on both sides: the names are no longer needed, so a crash leaks none.
      dir_.remove();
    } else {
      dir_.release();
      in_ = open_path(down_path_, O_RDONLY);
      out_ = open_path(up_path_, O_WRONLY);
    }
  }
  void send(std::span<const std::byte> msg) override { write_all(out_.get(), msg, "fifo"); }
  Received recv(std::span<std::byte> msg) override {
    read_all(in_.get(), msg, "fifo");
    return Received::kMessage;
  }

 private:
  PrivateDir dir_;
  std::string down_path_, up_path_;  // producer -> consumer, consumer -> producer
  UniqueFd in_, out_;
};

// One FIFO for all requests would be possible (writes up to PIPE_BUF are atomic, larger ones may
// interleave between clients), but replies need one FIFO per client anyway; per-client pairs keep
// every size correct and match the pipe fan-in exactly.
class FifoFanIn final : public FanInTransport {
 public:
  FifoFanIn(const TransportOptions& options, std::size_t clients) : dir_(options.tmp_root) {
    for (std::size_t i = 0; i < clients; ++i) {
      request_paths_.push_back((dir_.path() / ("req" + std::to_string(i) + ".fifo")).string());
      reply_paths_.push_back((dir_.path() / ("rep" + std::to_string(i) + ".fifo")).string());
      create_fifo(request_paths_[i]);
      create_fifo(reply_paths_[i]);
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

constexpr FanInForm kFanIn{
    "two FIFOs per client in a private 0700 dir; one epoll over the request FIFOs",
    &describe_stream_fan_in, &make_fan_in_of<FifoFanIn>};

}  // namespace

TransportPtr make_fifo(const TransportOptions& options) {
  return std::make_unique<FifoTransport>(options);
}

Capabilities describe_fifo() {
  return {.limit_source = "none: a byte stream, any size (written in pieces of the pipe capacity)"};
}

TransportForms forms_fifo() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a byte written to a FIFO is read by one reader only: FanOut uses one "
              "FIFO per consumer"};
}

}  // namespace ipcbench
