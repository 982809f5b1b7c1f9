#include "transports/os/zeromq_socket.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "transports/os/sys_error.hpp"
#include "transports/os/unix_socket.hpp"

namespace ipcbench {

void throw_zmq_error(int err, std::string_view call, std::string_view object) {
  if (err < ZMQ_HAUSNUMERO) throw_sys_error(err, call, object);
  throw_sys_error(EPROTO, call, std::string(object) + " (zmq: " + zmq_strerror(err) + ")");
}

const ZmqLimit& zmq_message_limit() {
  static const ZmqLimit limit = []() -> ZmqLimit {
    std::int64_t value = -1;
    std::size_t len = sizeof value;
    bool read = false;
    if (void* context = zmq_ctx_new()) {
      if (void* socket = zmq_socket(context, ZMQ_PAIR)) {
        read = zmq_getsockopt(socket, ZMQ_MAXMSGSIZE, &value, &len) == 0;
        zmq_close(socket);
      }
      while (zmq_ctx_term(context) != 0 && zmq_errno() == EINTR) {
      }
    }
    if (!read) {
      return {SIZE_MAX,
              "ZMQ_MAXMSGSIZE unreadable (no zmq context or socket could be made): its "
              "default, -1, unlimited, assumed"};
    }
    if (value < 0) {
      return {SIZE_MAX, "ZMQ_MAXMSGSIZE = " + std::to_string(value) +
                            " (unlimited), read from a new zmq socket: any size, each message one "
                            "zmq_msg_t"};
    }
    return {static_cast<std::size_t>(value),
            "ZMQ_MAXMSGSIZE = " + std::to_string(value) +
                " bytes, read from a new zmq socket: a larger message ends the connection"};
  }();
  return limit;
}

ZmqSocket::ZmqSocket(int type, std::string object) : object_(std::move(object)) {
  context_ = zmq_ctx_new();
  if (context_ == nullptr) throw_zmq_error(zmq_errno(), "zmq_ctx_new", object_);
  owner_ = ::getpid();
  try {
    // One I/O thread (the default), set so the figure's cost is stated: it moves every message
    // between the socket and this thread. ZMQ_BLOCKY 0: terminating the context never waits for
    // unsent messages (every socket here has ZMQ_LINGER 0 too).
    if (zmq_ctx_set(context_, ZMQ_IO_THREADS, 1) != 0 ||
        zmq_ctx_set(context_, ZMQ_BLOCKY, 0) != 0) {
      throw_zmq_error(zmq_errno(), "zmq_ctx_set", object_);
    }
    socket_ = zmq_socket(context_, type);
    if (socket_ == nullptr) throw_zmq_error(zmq_errno(), "zmq_socket", object_);
    set_int(ZMQ_LINGER, 0, "ZMQ_LINGER");
    set_int(ZMQ_RCVTIMEO, kZmqWaitSliceMs, "ZMQ_RCVTIMEO");
    set_int(ZMQ_SNDTIMEO, kZmqWaitSliceMs, "ZMQ_SNDTIMEO");
    set_int(ZMQ_SNDHWM, 1000, "ZMQ_SNDHWM");
    set_int(ZMQ_RCVHWM, 1000, "ZMQ_RCVHWM");
  } catch (...) {
    reset();
    throw;
  }
}

ZmqSocket::ZmqSocket(ZmqSocket&& other) noexcept
    : context_(other.context_),
      socket_(other.socket_),
      owner_(other.owner_),
      object_(std::move(other.object_)) {
  other.context_ = nullptr;
  other.socket_ = nullptr;
}

ZmqSocket& ZmqSocket::operator=(ZmqSocket&& other) noexcept {
  if (this != &other) {
    reset();
    context_ = std::exchange(other.context_, nullptr);
    socket_ = std::exchange(other.socket_, nullptr);
    owner_ = other.owner_;
    object_ = std::move(other.object_);
  }
  return *this;
}

void ZmqSocket::reset() noexcept {
  // A forked child's copy refers to threads that exist only in its parent: it must not touch it.
  if (owner_ == ::getpid()) {
    if (socket_ != nullptr) zmq_close(socket_);
    // Joins the context's I/O and reaper threads and closes their fds; EINTR: it can be resumed.
    if (context_ != nullptr) {
      while (zmq_ctx_term(context_) != 0 && zmq_errno() == EINTR) {
      }
    }
  }
  socket_ = nullptr;
  context_ = nullptr;
}

void ZmqSocket::close_flushing(int linger_ms) noexcept {
  if (owner_ == ::getpid() && socket_ != nullptr) {
    (void)zmq_setsockopt(socket_, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
  }
  reset();
}

void ZmqSocket::set_int(int option, int value, const char* name) {
  if (zmq_setsockopt(socket_, option, &value, sizeof value) != 0) {
    throw_zmq_error(zmq_errno(), std::string("zmq_setsockopt(") + name + ")", object_);
  }
}

void ZmqSocket::set_bytes(int option, std::span<const std::byte> value, const char* name) {
  if (zmq_setsockopt(socket_, option, value.data(), value.size()) != 0) {
    throw_zmq_error(zmq_errno(), std::string("zmq_setsockopt(") + name + ")", object_);
  }
}

void ZmqSocket::bind_ipc(const std::string& path) {
  (void)unix_socket_address(path);  // a path too long for sun_path: ENAMETOOLONG naming it
  if (zmq_bind(socket_, ("ipc://" + path).c_str()) != 0) {
    throw_zmq_error(zmq_errno(), "zmq_bind", "ipc://" + path);
  }
  if (::chmod(path.c_str(), 0600) != 0) throw_sys_error(errno, "chmod", path);
}

void ZmqSocket::connect_ipc(const std::string& path) {
  (void)unix_socket_address(path);
  if (zmq_connect(socket_, ("ipc://" + path).c_str()) != 0) {
    throw_zmq_error(zmq_errno(), "zmq_connect", "ipc://" + path);
  }
}

bool ZmqSocket::send(std::span<const std::byte> frame, bool more) {
  // zmq_msg_t rather than zmq_send(): the same copy into a message zmq owns (zmq_send allocates it
  // too, beyond 33 bytes), but the size stays a size_t. A failed send leaves the message ours, so
  // a retry after a slice sends it without copying again.
  zmq_msg_t msg;
  if (zmq_msg_init_size(&msg, frame.size()) != 0) {
    throw_zmq_error(zmq_errno(), "zmq_msg_init_size", object_);
  }
  if (!frame.empty()) std::memcpy(zmq_msg_data(&msg), frame.data(), frame.size());
  while (zmq_msg_send(&msg, socket_, more ? ZMQ_SNDMORE : 0) == -1) {
    const int err = zmq_errno();
    if (err == EAGAIN || err == EINTR) {  // a slice ran out, or a signal: the watchdog's?
      if (interrupted()) {
        zmq_msg_close(&msg);
        throw_if_interrupted("zmq_msg_send", object_);
      }
      continue;
    }
    zmq_msg_close(&msg);
    if (err == EHOSTUNREACH) return false;
    throw_zmq_error(err, "zmq_msg_send", object_);
  }
  return true;
}

bool ZmqSocket::try_recv(std::span<std::byte> frame, bool* more) {
  zmq_msg_t msg;
  zmq_msg_init(&msg);
  if (zmq_msg_recv(&msg, socket_, 0) == -1) {
    const int err = zmq_errno();
    zmq_msg_close(&msg);
    if (err == EAGAIN || err == EINTR) {  // a slice ran out, or a signal: the watchdog's?
      throw_if_interrupted("zmq_msg_recv", object_);
      return false;
    }
    throw_zmq_error(err, "zmq_msg_recv", object_);
  }
  const std::size_t got = zmq_msg_size(&msg);
  if (got != frame.size()) {
    zmq_msg_close(&msg);
    throw_sys_error(EMSGSIZE, "zmq_msg_recv",
                    object_ + ", a message of " + std::to_string(got) + " bytes where " +
                        std::to_string(frame.size()) + " were expected");
  }
  if (got != 0) std::memcpy(frame.data(), zmq_msg_data(&msg), got);
  *more = zmq_msg_more(&msg) != 0;
  zmq_msg_close(&msg);
  return true;
}

void ZmqSocket::recv(std::span<std::byte> frame) {
  bool more = false;
  while (!try_recv(frame, &more)) {
  }
  if (more) {
    throw_sys_error(EMSGSIZE, "zmq_msg_recv",
                    object_ + ", a message of more than one frame where one was expected");
  }
}

}  // namespace ipcbench
