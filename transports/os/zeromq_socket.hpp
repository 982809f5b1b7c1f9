// ZmqSocket: one ZeroMQ context and one socket in it, owned by the process that made them, with
// whole-message sends and receives in bounded slices the watchdog can interrupt; binding an ipc://
// endpoint with the socket file made 0600; and the largest message a zmq socket takes.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace ipcbench {

// How long one zmq wait lasts (ZMQ_RCVTIMEO / ZMQ_SNDTIMEO) before interrupted() is checked: a
// backstop, since the watchdog's SIGALRM ends a wait at once with EINTR.
inline constexpr int kZmqWaitSliceMs = 100;

// Throws std::system_error "<call>(<object>): <text>": errno values as throw_sys_error, zmq's own
// error numbers (ETERM, EFSM, ...) as EPROTO with zmq_strerror()'s text added to the object.
[[noreturn]] void throw_zmq_error(int err, std::string_view call, std::string_view object);

// The largest message a zmq transport here carries, and where it came from: ZMQ_MAXMSGSIZE of a
// new socket (-1: unlimited, SIZE_MAX here; messages go through zmq_msg_t, whose size is a size_t,
// not through zmq_send()/zmq_recv(), which return the size as an int). Probed once (a context and
// a socket made and closed at once) and cached; never throws.
struct ZmqLimit {
  std::size_t max_message_bytes;
  std::string source;
};
[[nodiscard]] const ZmqLimit& zmq_message_limit();

// A context (its I/O thread) and one socket of `type`, made in the process that uses them: a zmq
// context does not survive fork(). Every socket gets ZMQ_LINGER 0 (closing never waits for unsent
// messages, so a dead peer cannot hold the teardown), the wait slices above, and the default
// high-water marks set explicitly (1000 messages each way: what users get). Only the creating
// process closes them; the destructor closes the socket and terminates the context, which joins
// its threads and closes its fds. Throws std::system_error naming `object`.
class ZmqSocket {
 public:
  ZmqSocket() noexcept = default;
  ZmqSocket(int type, std::string object);
  ZmqSocket(ZmqSocket&& other) noexcept;
  ZmqSocket& operator=(ZmqSocket&& other) noexcept;
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;
  ~ZmqSocket() { reset(); }

  [[nodiscard]] void* get() const noexcept { return socket_; }
  [[nodiscard]] const std::string& object() const noexcept { return object_; }
  void reset() noexcept;
  // Closes the socket and the context like reset(), but first lets zmq write what it still
  // queues, for at most `linger_ms` (ZMQ_LINGER): zmq_ctx_term() waits for that.
  void close_flushing(int linger_ms) noexcept;

  // zmq_setsockopt of an int or of bytes; throws naming the option.
  void set_int(int option, int value, const char* name);
  void set_bytes(int option, std::span<const std::byte> value, const char* name);

  // Binds ipc://<path> and makes the socket file exactly 0600 whatever the umask (zmq binds it
  // with the umask's mode; the 0700 directory it lies in keeps others out meanwhile).
  void bind_ipc(const std::string& path);
  // Connects to ipc://<path>; zmq connects in the background and retries until the path exists.
  void connect_ipc(const std::string& path);

  // Sends one whole message (one frame; `more`: another frame of the same message follows).
  // Blocks while the high-water mark is reached, in slices, checking interrupted(). Returns false
  // when zmq says the peer is unreachable (EHOSTUNREACH, a ROUTER with ZMQ_ROUTER_MANDATORY).
  [[nodiscard]] bool send(std::span<const std::byte> frame, bool more);
  // Receives one frame of exactly frame.size() bytes (another size is EMSGSIZE, never truncated)
  // and says whether more frames of the message follow. Waits one slice at most: false when none
  // came or a signal interrupted the wait (interrupted() is then checked, and throws when set).
  [[nodiscard]] bool try_recv(std::span<std::byte> frame, bool* more);
  // The same, waiting until a frame comes; a frame followed by more is an error.
  void recv(std::span<std::byte> frame);

 private:
  void* context_ = nullptr;
  void* socket_ = nullptr;
  pid_t owner_ = -1;
  std::string object_;
};

}  // namespace ipcbench
