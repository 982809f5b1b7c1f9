// unix_stream: AF_UNIX SOCK_STREAM with the lecture's server/client sequence on a path in a
// private 0700 directory. Pair: one connection. Fan-in: listen, accept one data socket per client,
// one epoll loop (StreamSocketFanIn). Broadcast: none (a byte on a connection goes to one peer).
#include <sys/socket.h>

#include <cerrno>
#include <string>

#include "transports/os/io.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/stream_fan_in.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// The server's master (listening) socket, bound in a fresh private directory before fork(), so
// no client's connect() can race it. Backlog: every client's connect() completes before the
// server accepts it.
struct Listener {
  PrivateDir dir;
  std::string path;
  UniqueFd fd;
};

Listener listen_unix(const TransportOptions& options, const char* file, int backlog) {
  Listener l{PrivateDir(options.tmp_root), {}, {}};
  l.path = (l.dir.path() / file).string();
  l.fd = bind_unix_socket(SOCK_STREAM, l.path);  // socket() + bind(), the file made 0600
  if (::listen(l.fd.get(), backlog) != 0) throw_sys_error(errno, "listen", l.path);
  return l;
}

// A client's socket, connected to the server at `path`.
UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw_sys_error(errno, "socket", path);
  connect_unix_socket(fd.get(), path);
  return fd;
}

class UnixStreamTransport final : public Transport {
 public:
  explicit UnixStreamTransport(const TransportOptions& options)
      : listener_(listen_unix(options, "stream.sock", 1)) {}

  void attach(Role role, pid_t /*peer*/) override {
    const std::string& path = listener_.path;
    if (role == Role::kProducer) {  // the server: accept the one data socket ("client handle")
      conn_ = accept_retrying(listener_.fd.get(), nullptr, nullptr, path);
      listener_.fd.reset();
      listener_.dir.remove();  // connected: the path is no longer needed
    } else {                   // the client
      listener_.fd.reset();
      listener_.dir.release();
      conn_ = connect_to(path);
    }
  }
  void send(std::span<const std::byte> msg) override {
    write_all(conn_.get(), msg, listener_.path);
  }
  Received recv(std::span<std::byte> msg) override {
    read_all(conn_.get(), msg, listener_.path);  // a stream: a message may arrive in pieces
    return Received::kMessage;
  }

 private:
  Listener listener_;
  UniqueFd conn_;
};

class UnixStreamFanIn final : public StreamSocketFanIn {
 public:
  UnixStreamFanIn(const TransportOptions& options, std::size_t clients)
      : UnixStreamFanIn(listen_unix(options, "server.sock", static_cast<int>(clients)), clients) {}

 protected:
  UniqueFd connect_to_server() override { return connect_to(object_); }
  void remove_names() noexcept override { dir_.remove(); }  // connected: the path can go
  void forget_names() noexcept override { dir_.release(); }

 private:
  UnixStreamFanIn(Listener l, std::size_t clients)
      : StreamSocketFanIn(clients, std::move(l.fd), l.path), dir_(std::move(l.dir)) {}

  PrivateDir dir_;
};

constexpr FanInForm kFanIn{"listen + accept one data socket per client, one epoll loop over them",
                           &describe_stream_fan_in, &make_fan_in_of<UnixStreamFanIn>};

}  // namespace

TransportPtr make_unix_stream(const TransportOptions& options) {
  return std::make_unique<UnixStreamTransport>(options);
}

Capabilities describe_unix_stream() { return {.limit_source = "none: a byte stream, any size"}; }

TransportForms forms_unix_stream() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a byte on a stream connection reaches its one peer: FanOut uses one "
              "connection per consumer"};
}

}  // namespace ipcbench
