// The interfaces every IPC mechanism implements, one per form: the pair (Transport), the fan-in
// server and clients (FanInTransport), the broadcast ring (ShmBroadcast); and what a mechanism
// declares it can carry.
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
  bool busy_polls = false;  // the waiting side spins: two ends on one CPU need care
  std::string waits_by = "blocking system call";  // how a receiver waits, an axis of the report
  // Both roles are threads of one process (no fork): the transport object is shared by them, so
  // its send()/recv() are thread-safe, and faults that act on a process (kill, stop) cannot apply.
  bool in_process = false;
  // Non-empty: this machine cannot run the mechanism at all, and why (a kernel feature that is
  // missing or forbidden: io_uring disabled, ptrace denied, no dbus-daemon). Every case of it is
  // then reported unsupported with this reason, and the rest of the run goes on.
  std::string unavailable{};
  // Non-empty: a process of the transport's own that every message passes through (its name:
  // "dbus-daemon"). It runs unpinned, so a placement places the two ends only, and the ends'
  // CPU counters leave its work out.
  std::string relay{};
};

// Per-run settings a transport may use. `name` is unique per run and unpredictable.
struct TransportOptions {
  std::string name;
  std::size_t message_bytes = 0;   // the size of this run's data messages (acks are smaller)
  std::filesystem::path tmp_root;  // where a private 0700 directory is made for path names
  std::chrono::milliseconds recv_timeout{200};  // only transports that may lose time out
  bool same_cpu = false;                        // both ends pinned to one CPU
  // 0 (always, in benchmarks): the kernel's default receive buffer, what users get. Tests set it
  // to shrink a lossy transport's SO_RCVBUF and force real losses; others ignore it.
  std::size_t recv_buffer_bytes = 0;
  // Two hosts only (PeerEnd): the longest any blocking call waits for the other host.
  std::chrono::milliseconds peer_timeout{10'000};
};

// What recv() got.
enum class Received {
  kMessage,  // a message filled the buffer
  kEnd,      // the end-of-stream mark of a notification transport that may coalesce
  kTimeout,  // nothing within recv_timeout (only transports that may lose)
};

// What the waits of a notification-based mechanism took in one process, since its attach():
// read()s that returned and the notifications they took. A plain eventfd hands its whole counter
// to one read(), so notifications posted before the reader got to it merge into one wake-up
// (merged()). `counted` is false for a mechanism that counts nothing of the kind.
struct WakeCounts {
  bool counted = false;
  std::uint64_t reads = 0, notifications = 0;
  [[nodiscard]] std::uint64_t merged() const noexcept { return notifications - reads; }
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
  // Called once by a forked consumer after its last send()/recv(), just before its process ends
  // (not after an error). A mechanism whose send() returns before the bytes have left the process
  // (zeromq: its I/O thread writes them later) delivers them here, within a bounded time; the
  // process's end would otherwise take them with it.
  virtual void detach() {}
  // What this process's waits took since attach() (WakeCounts); read it after the last
  // send()/recv(). Mechanisms that count nothing return counted = false.
  [[nodiscard]] virtual WakeCounts wake_counts() const noexcept { return {}; }
};

using TransportPtr = std::unique_ptr<Transport>;

// One end of a pair whose two ends run on two hosts (--serve and --peer; sockets only). Each host
// builds its own end, bound to its own address on a port the kernel picks; the ends learn each
// other's address over ipcbench's control connection, then each attaches: the consumer's end (the
// server's) with Role::kConsumer, the producer's (the client's) with Role::kProducer. `peer` of
// attach() is unused. Every blocking call gives up after the options' watchdog time, naming the
// object: a host that vanished never hangs the other.
class PeerEnd : public Transport {
 public:
  // This end's data port, bound at construction.
  [[nodiscard]] virtual std::uint16_t port() const = 0;
  // The other end's address and data port (host order); called once, before attach().
  virtual void set_peer(std::uint32_t address_be, std::uint16_t port) = 0;
};

using PeerEndPtr = std::unique_ptr<PeerEnd>;

// What FanInTransport::server_recv() got.
struct FanInEvent {
  enum class Kind {
    kRequest,       // a whole request from `client` filled the buffer
    kDisconnected,  // `client` closed its end (died or left); it is dropped from the server's loop
    kIdle,          // nothing within 100 ms, or a signal woke the wait: check the stop condition
  };
  Kind kind = Kind::kIdle;
  std::size_t client = 0;
};

// The fan-in form: one server and `clients` clients, built before fork() by the harness's parent,
// which forks the server and every client from it. The server calls attach_server() once, then
// server_recv() / server_send(); client i calls attach_client(i) once, then client_send() /
// client_recv(). Once all of them have attached, the parent calls after_attach(), which drops the
// parent's copies and removes every name the mechanism no longer needs; the parent's destructor
// removes the rest. Messages are whole and of exactly the span's size (another size is an error,
// never truncated). Calls block; blocking calls that return EINTR check throw_if_interrupted().
// Errors throw std::system_error naming the object. The hot path never allocates.
class FanInTransport {
 public:
  virtual ~FanInTransport() = default;
  virtual void attach_server() = 0;
  virtual void attach_client(std::size_t index) = 0;
  virtual void after_attach() = 0;

  // Client side: one request out, one reply in. client_recv returns kTimeout only for mechanisms
  // that may lose (after options.recv_timeout).
  virtual void client_send(std::span<const std::byte> msg) = 0;
  [[nodiscard]] virtual Received client_recv(std::span<std::byte> msg) = 0;

  // Server side. server_recv blocks until a request from some client, but returns kIdle at least
  // every 100 ms (or at once when a signal interrupts it) so the caller can check its stop flag.
  [[nodiscard]] virtual FanInEvent server_recv(std::span<std::byte> msg) = 0;
  // Sends the reply to `client`; false when that client is gone (its end closed), which is not an
  // error of the server: the others go on.
  [[nodiscard]] virtual bool server_send(std::size_t client, std::span<const std::byte> msg) = 0;
};

using FanInPtr = std::unique_ptr<FanInTransport>;

// The broadcast form (the fan-out mailbox): one ring in shared memory, one writer and N readers;
// each message is written once and read by every reader. Build before fork(); afterwards one
// process (or thread) is the writer and reader i is read by one process (or thread) only. Every
// reader has its own position, on its own cache line; the writer overwrites a piece only when
// every reader has released it, so the slowest reader bounds the writer. Messages are whole, of
// at most capacity() bytes: a larger one is refused with EMSGSIZE, never split.
// write/read/wait_released block through the mechanism's wait policy and throw std::system_error
// naming the object when interrupted() is set (the watchdog) or a wait fails. They never allocate.
class ShmBroadcast {
 public:
  virtual ~ShmBroadcast() = default;
  [[nodiscard]] virtual std::size_t readers() const noexcept = 0;
  [[nodiscard]] virtual std::size_t capacity() const noexcept = 0;
  // Faults the segment's pages into this process (a forked child), so the timed part does not.
  virtual void attach() noexcept = 0;

  // Writer: waits until every reader has released enough space, then copies `msg` in once and
  // tells every reader.
  virtual void write(std::span<const std::byte> msg) = 0;
  // Writer: waits until every reader has released every message written so far (the readers'
  // tails are the acknowledgements; no channel back).
  virtual void wait_released() = 0;

  // Reader `reader`: waits for the next message and copies it out; its length must be msg.size()
  // (EMSGSIZE otherwise). The message stays held (the writer cannot reuse its bytes) until...
  virtual void read(std::size_t reader, std::span<std::byte> msg) = 0;
  // ...release(): publishes everything this reader has read. What the reader stored before
  // release() is visible to a writer that returned from wait_released() (release/acquire).
  virtual void release(std::size_t reader) = 0;
};

using ShmBroadcastPtr = std::unique_ptr<ShmBroadcast>;

// The most readers one broadcast ring takes.
inline constexpr std::size_t kMaxBroadcastReaders = 1024;

}  // namespace ipcbench
