// The transport interface every IPC mechanism implements, and what a transport declares it can carry.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

namespace ipcbench {

enum class Role { kProducer, kConsumer };  // the producer is the parent, which times

// What one message of a transport can hold. The harness frames messages accordingly.
enum class Payload {
  kBytes,    // any bytes: the harness writes a sequence number, a time stamp and a payload pattern
  kWord,     // exactly kWordBytes (one sigval): the harness writes the sequence number
  kNothing,  // a bare notification: the harness can only count
};
inline constexpr std::size_t kWordBytes = 8;

// What a mechanism can carry, read at run time (limits come from /proc or the socket).
struct Capabilities {
  Payload payload = Payload::kBytes;
  std::size_t max_message_bytes = SIZE_MAX;  // largest message; kWord/kNothing: their one size
  std::string limit_source = "none";         // where max_message_bytes came from
  bool may_lose = false;      // a message can vanish (UDP): receivers time out and count gaps
  bool may_coalesce = false;  // repeats can merge into one delivery (standard signals)
  bool may_reorder = false;
  bool busy_polls = false;    // the waiting side spins: two ends on one CPU need care
  std::string waits_by = "blocking system call";  // how a receiver waits, an axis of the report
  // Both roles are threads of one process (no fork): the transport object is shared by them, so
  // its send()/recv() are thread-safe, and faults that act on a process (kill, stop) cannot apply.
  bool in_process = false;
};

// Per-run settings a transport may use. `name` is unique per run and unpredictable.
struct TransportOptions {
  std::string name;
  std::size_t message_bytes = 0;   // the size of this run's data messages (acks are smaller)
  std::filesystem::path tmp_root;  // where a private 0700 directory is made for path names
  std::chrono::milliseconds recv_timeout{200};  // only transports that may lose time out
  bool same_cpu = false;  // both ends pinned to one CPU
  // 0 (always, in benchmarks): the kernel's default receive buffer, what users get. Tests set it
  // to shrink a lossy transport's SO_RCVBUF and force real losses; others ignore it.
  std::size_t recv_buffer_bytes = 0;
};

// What recv() got.
enum class Received {
  kMessage,  // a message filled the buffer
  kEnd,      // the end-of-stream mark of a notification transport that may coalesce
  kTimeout,  // nothing within recv_timeout (only transports that may lose)
};

// One IPC mechanism, picked by id at run time (a virtual call costs every mechanism the same).
// Built before fork(); each side calls attach() once, then send()/recv(). Throws std::system_error
// whose what() names the object. send()/recv() block, move whole messages and never allocate.
class Transport {
 public:
  virtual ~Transport() = default;
  // Keeps what `role` uses, drops the rest. `peer` is the other process.
  virtual void attach(Role role, pid_t peer) = 0;
  // Sends one whole message of msg.size() bytes; blocks while the mechanism is full.
  virtual void send(std::span<const std::byte> msg) = 0;
  // Receives one whole message of exactly msg.size() bytes (a message of another size is an error).
  [[nodiscard]] virtual Received recv(std::span<std::byte> msg) = 0;
  // Sends the end-of-stream mark; only notification transports that may coalesce need one.
  virtual void send_end();
};

using TransportPtr = std::unique_ptr<Transport>;

}  // namespace ipcbench
