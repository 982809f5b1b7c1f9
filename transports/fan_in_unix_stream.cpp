// unix_stream fan-in: AF_UNIX SOCK_STREAM on a private path; the lecture's server (listen, accept
// one data socket per client, one epoll loop) from fan_in_stream.cpp.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "transports/os/io.hpp"
#include "transports/os/stream_fan_in.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unix_socket.hpp"

namespace ipcbench {
namespace {

struct Listener {
  PrivateDir dir;
  std::string path;
  UniqueFd fd;
};

// Bound and listening before fork(), so no client's connect() can race the server.
Listener listen_unix(const TransportOptions& options, std::size_t clients) {
  Listener l{PrivateDir(options.tmp_root), {}, {}};
  l.path = (l.dir.path() / "server.sock").string();
  l.fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!l.fd.valid()) throw_sys_error(errno, "socket", l.path);
  const sockaddr_un addr = unix_socket_address(l.path);
  if (::bind(l.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_sys_error(errno, "bind", l.path);
  }
  // bind() applies the umask; make the mode exactly 0600 whatever the umask is.
  if (::chmod(l.path.c_str(), 0600) != 0) throw_sys_error(errno, "chmod", l.path);
  // Backlog = clients: every client's connect() completes before the server accepts it.
  if (::listen(l.fd.get(), static_cast<int>(clients)) != 0)
    throw_sys_error(errno, "listen", l.path);
  return l;
}

class UnixStreamFanIn final : public StreamSocketFanIn {
 public:
  UnixStreamFanIn(Listener l, std::size_t clients)
      : StreamSocketFanIn(clients, std::move(l.fd), l.path), dir_(std::move(l.dir)) {}

 protected:
  UniqueFd connect_to_server() override {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw_sys_error(errno, "socket", object_);
    const sockaddr_un addr = unix_socket_address(object_);
    connect_retrying(fd.get(), &addr, sizeof addr, object_);
    return fd;
  }
  void remove_names() noexcept override { dir_.remove(); }  // connected: the path can go
  void forget_names() noexcept override { dir_.release(); }

 private:
  PrivateDir dir_;
};

}  // namespace

FanInPtr make_fan_in_unix_stream(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<UnixStreamFanIn>(listen_unix(options, clients), clients);
}

Capabilities describe_fan_in_unix_stream(std::size_t) {
  return {.limit_source = "none: a byte stream, any size"};
}

}  // namespace ipcbench
