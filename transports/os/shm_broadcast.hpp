// ShmBroadcast: a broadcast ring in POSIX shared memory, one writer and N readers. Each message
// is written once and read by every reader: the shared memory mailbox of the fan-out pattern for
// the shm ring transports (shm_spin, shm_futex, shm_sem, shm_condvar), with their wait policies.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "transports/transport.hpp"

namespace ipcbench {

// Build before fork(); afterwards one process (or thread) is the writer and reader i is read by
// one process (or thread) only. Every reader has its own tail index, on its own cache line; the
// writer overwrites a byte only when every reader has released it, so the slowest reader bounds
// the writer. Messages are whole frames (8-byte length, payload padded to 8) of at most
// capacity() bytes: a larger one is refused with EMSGSIZE, never split.
// write/read/wait_released block through the transport's wait policy and throw std::system_error
// naming the object when interrupted() is set (the watchdog) or a wait fails. They never
// allocate.
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

// A broadcast ring for `readers` readers that waits like transport `id`, sized for
// options.message_bytes (ring_capacity_for, or larger to hold one frame), in one POSIX shared
// memory object named options.name, created 0600 and unlinked before this returns.
// Returns nullptr when `id` is not a shm ring transport. Throws std::invalid_argument for
// readers == 0 or > kMaxBroadcastReaders, std::system_error naming the object otherwise.
inline constexpr std::size_t kMaxBroadcastReaders = 1024;
[[nodiscard]] ShmBroadcastPtr make_shm_broadcast(std::string_view id,
                                                 const TransportOptions& options,
                                                 std::size_t readers);

}  // namespace ipcbench
