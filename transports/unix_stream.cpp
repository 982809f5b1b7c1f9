// unix_stream: AF_UNIX SOCK_STREAM with the lecture's server/client sequence on a private path.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "transports/os/io.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"

namespace ipcbench {
namespace {

class UnixStreamTransport final : public Transport {
 public:
  // The server's master (listening) socket is bound before fork(), so the client's connect()
  // cannot race it.
  explicit UnixStreamTransport(const TransportOptions& options)
      : dir_(options.tmp_root), path_((dir_.path() / "stream.sock").string()) {
    listener_ = bind_unix_socket(SOCK_STREAM, path_);  // socket() + bind(), the file made 0600
    if (::listen(listener_.get(), 1) != 0) throw_sys_error(errno, "listen", path_);
  }

  void attach(Role role, pid_t /*peer*/) override {
    if (role == Role::kProducer) {  // the server: accept the one data socket ("client handle")
      while (true) {
        const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          conn_.reset(fd);
          break;
        }
        const int err = errno;
        if (err != EINTR) throw_sys_error(err, "accept", path_);
        throw_if_interrupted("accept", path_);
      }
      listener_.reset();
      dir_.remove();  // connected: the path is no longer needed
    } else {  // the client
      listener_.reset();
      dir_.release();
      conn_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!conn_.valid()) throw_sys_error(errno, "socket", path_);
      const sockaddr_un addr = unix_socket_address(path_);
      connect_retrying(conn_.get(), &addr, sizeof addr, path_);
    }
  }
  void send(std::span<const std::byte> msg) override { write_all(conn_.get(), msg, path_); }
  Received recv(std::span<std::byte> msg) override {
    read_all(conn_.get(), msg, path_);  // a stream: a message may arrive in several pieces
    return Received::kMessage;
  }

 private:
  PrivateDir dir_;
  std::string path_;
  UniqueFd listener_, conn_;
};

}  // namespace

TransportPtr make_unix_stream(const TransportOptions& options) {
  return std::make_unique<UnixStreamTransport>(options);
}

Capabilities describe_unix_stream() {
  return {.limit_source = "none: a byte stream, any size"};
}

}  // namespace ipcbench
