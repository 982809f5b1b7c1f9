// Pieces the fd-based fan-in servers share (pipe, fifo, unix_stream, tcp): one epoll loop over
// every client's request fd, whole-message reads that report a closed client, replies that
// report a gone client instead of throwing, and what such a form carries.
#pragma once

#include <sys/epoll.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/unique_fd.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// What a fan-in form over byte streams (pipe, fifo, unix_stream, tcp) carries.
[[nodiscard]] Capabilities describe_stream_fan_in(std::size_t clients);

// How long server_recv waits before returning kIdle, so the server checks its stop flag.
inline constexpr int kFanInIdleMs = 100;

// One epoll instance over the request fds of all clients (level-triggered). The events of one
// epoll_wait are served in the order the kernel returned them before waiting again, so every
// ready client is served once per round. Does not own the fds it watches.
class EpollServer {
 public:
  EpollServer() = default;
  // Creates the epoll fd for `clients` request fds; `object` names it in errors. Server only.
  void open(std::size_t clients, std::string object);
  // Watches `fd` as client `client`'s request fd.
  void add(std::size_t client, int fd);
  // Blocks up to kFanInIdleMs for a whole request of msg.size() bytes from any client. A client
  // whose fd reports end of file (or a reset) is dropped from the loop and reported.
  [[nodiscard]] FanInEvent recv(std::span<std::byte> msg);
  // As recv, taking one request from a ready client's fd with `read(fd, msg)`, which returns false
  // when the client has closed (a record socket, or a memfd passed over one).
  template <typename Read>
  [[nodiscard]] FanInEvent recv_with(std::span<std::byte> msg, Read&& read) {
    while (true) {
      const std::size_t client = next_ready();
      if (client == kNone) return {};
      const int fd = fds_[client];
      if (fd < 0) continue;  // dropped after this batch was returned
      if (!read(fd, msg)) {
        drop(client);
        return {FanInEvent::Kind::kDisconnected, client};
      }
      return {FanInEvent::Kind::kRequest, client};
    }
  }

 private:
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  // The next client the last epoll_wait reported ready, waiting (up to kFanInIdleMs) for a new
  // batch when every one was served; kNone when none came in that time or a signal woke the wait
  // (the caller looks at its stop flag).
  [[nodiscard]] std::size_t next_ready();
  void drop(std::size_t client) noexcept;

  UniqueFd epoll_;
  std::vector<int> fds_;  // -1 once the client is dropped
  std::vector<epoll_event> events_;
  int pending_ = 0, next_ = 0;  // events of the last epoll_wait not yet served
  std::string object_;
};

// Reads exactly msg.size() bytes; false when the peer closed (end of file or reset) before the
// whole message came. Retries EINTR (checking throw_if_interrupted) and short reads.
[[nodiscard]] bool read_message(int fd, std::span<std::byte> msg, std::string_view object);
// Writes all of msg; false when the peer is gone (EPIPE, ECONNRESET). SIGPIPE is ignored by the
// harness, so a dead reader is an error code here, not a signal.
[[nodiscard]] bool write_message(int fd, std::span<const std::byte> msg, std::string_view object);

}  // namespace ipcbench
