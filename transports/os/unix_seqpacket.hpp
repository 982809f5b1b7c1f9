// AF_UNIX SOCK_SEQPACKET pieces shared by unix_seqpacket and memfd_pass: whole records on a
// connected socket, the largest record the kernel takes, the lecture's server sequence on a path in
// a private 0700 directory, and the fan-in server over records (one accepted socket per client,
// one epoll loop).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/epoll_server.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// unix_seqpacket_sendmsg() hands the record to unix_dgram_sendmsg(), which refuses one longer than
// the sender's sk_sndbuf - 32 with EMSGSIZE (getsockopt(SO_SNDBUF) returns sk_sndbuf, the value
// already doubled by the kernel).
inline constexpr std::size_t kSeqpacketOverhead = 32;

// getsockopt(SO_SNDBUF) of `fd`. Throws naming `object`.
[[nodiscard]] std::size_t socket_send_buffer(int fd, std::string_view object);

// The SO_SNDBUF a new AF_UNIX SOCK_SEQPACKET socket gets (net.core.wmem_default, as the kernel
// stores it), read from a socket made and closed here. On failure: nullopt and `error` says which
// call failed and why (AF_UNIX or SOCK_SEQPACKET forbidden on this machine).
[[nodiscard]] std::optional<std::size_t> default_seqpacket_send_buffer(std::string& error);

// Sends `msg` as one record on a connected SOCK_SEQPACKET socket; blocks while the sender's buffer
// is full. EINTR is retried after throw_if_interrupted(). False when the peer is gone (EPIPE,
// ECONNRESET; MSG_NOSIGNAL, never SIGPIPE). Any other error (EMSGSIZE for a record longer than
// SO_SNDBUF - 32) throws naming `object`.
[[nodiscard]] bool send_record(int fd, std::span<const std::byte> msg, std::string_view object);

// Receives one record of exactly msg.size() bytes; blocks. A record of any other size is consumed
// and reported as EMSGSIZE naming both sizes (records are whole: never reassembled, never
// truncated). False when the peer closed (end of file or reset). EINTR as send_record.
[[nodiscard]] bool recv_record(int fd, std::span<std::byte> msg, std::string_view object);

// The lecture's server: a SOCK_SEQPACKET socket bound at `<private 0700 dir>/<file>` (the socket
// file 0600) and listening, made before fork() so no connect() can race it.
struct SeqpacketListener {
  PrivateDir dir;
  std::string path;
  UniqueFd fd;
};
[[nodiscard]] SeqpacketListener listen_seqpacket(const TransportOptions& options, const char* file,
                                                 int backlog);
// A client's SOCK_SEQPACKET socket connected to the server at `path`. Throws naming the path.
[[nodiscard]] UniqueFd connect_seqpacket(const std::string& path);

// The fan-in form over SOCK_SEQPACKET: the parent listens in a private directory before fork();
// the server accepts one socket per client (each client first sends its index in a 4-byte record)
// and serves them from one level-triggered epoll loop; the parent removes the path once everyone
// has attached. How one message crosses a socket is put()/take(): a plain record here, a sealed
// memfd passed with SCM_RIGHTS in memfd_pass.
class SeqpacketFanIn : public FanInTransport {
 public:
  void attach_server() override;
  void attach_client(std::size_t index) override;
  void after_attach() override;
  void client_send(std::span<const std::byte> msg) override;
  Received client_recv(std::span<std::byte> msg) override;
  FanInEvent server_recv(std::span<std::byte> msg) override;
  bool server_send(std::size_t client, std::span<const std::byte> msg) override;

 protected:
  SeqpacketFanIn(const TransportOptions& options, std::size_t clients);
  // One message out on `fd`; false when the peer is gone. Throws naming object().
  [[nodiscard]] virtual bool put(int fd, std::span<const std::byte> msg) {
    return send_record(fd, msg, object_);
  }
  // One message of exactly msg.size() bytes in from `fd`; false when the peer closed.
  [[nodiscard]] virtual bool take(int fd, std::span<std::byte> msg) {
    return recv_record(fd, msg, object_);
  }
  [[nodiscard]] const std::string& object() const noexcept { return object_; }
  // The listening socket (parent, before fork), whose SO_SNDBUF every new socket also gets.
  [[nodiscard]] int listener() const noexcept { return listener_.get(); }

 private:
  std::size_t clients_;
  PrivateDir dir_;
  std::string object_;  // the server's path, which names the transport's objects in errors
  UniqueFd listener_;
  std::vector<UniqueFd> conns_;  // server: one socket per client, by client index
  UniqueFd conn_;                // a client's socket
  EpollServer server_;           // server: waits on every client's socket
};

}  // namespace ipcbench
