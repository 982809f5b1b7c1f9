// The cache-line bounce, the hardware floor of a round trip between two CPUs: two processes (or
// threads) pinned to them pass one line back and forth, and it is timed K bounces per pair of
// clock reads. Used by the Limit benchmarks and their per-case floors (bench/limits.hpp) and by
// the round trip loops, which bounce a line of their own between the bursts they time
// (harness/loops.hpp), so that the floor a case is judged by is measured in the same
// milliseconds as the case.
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

#include "transports/os/shm_ring.hpp"   // kFalseSharingBytes
#include "transports/os/shm_wait.hpp"   // cpu_relax
#include "transports/os/sys_error.hpp"  // throw_if_interrupted

namespace ipcbench {

// Cache-line round trips timed between one pair of clock reads. A clock read costs ~20 ns here,
// a quarter of an 80 ns bounce: timing every bounce on its own would add a clock pair to each and
// push every ratio to the floor toward 1. Over 64 bounces the pair adds under 0.5 ns per bounce.
inline constexpr std::uint64_t kBouncesPerSample = 64;

// Times `samples` samples: each is `k` back-to-back calls of `bounce()` between two calls of
// `clock()` (ns), and `on_sample` gets its (t1 - t0) / k, in ns per bounce. The clock is read
// exactly twice per sample and nowhere else; `on_sample` runs outside the timed part. k >= 1.
template <typename Bounce, typename Clock, typename OnSample>
void sample_bounces(std::uint64_t samples, std::uint64_t k, Bounce&& bounce, Clock&& clock,
                    OnSample&& on_sample) {
  for (std::uint64_t s = 0; s < samples; ++s) {
    const std::uint64_t t0 = clock();
    for (std::uint64_t i = 0; i < k; ++i) bounce();
    const std::uint64_t t1 = clock();
    on_sample(static_cast<double>(t1 - t0) / static_cast<double>(k));
  }
}

// The line the two sides bounce (`line`), and the answering side's own line for the two-line
// bounce (`back`). The initiator writes odd values, the other side answers with value + 1.
struct BounceLines {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  alignas(kFalseSharingBytes) std::atomic<std::uint64_t> line{0};
  alignas(kFalseSharingBytes) std::atomic<std::uint64_t> back{0};
};
// An odd value no bounce reaches: it stops the answering side.
inline constexpr std::uint64_t kBounceStop = UINT64_MAX;

// Spins until `line` holds `want` or kBounceStop, and returns what it holds. Two processes on one
// CPU take turns only when the spinner yields, as shm_spin does. Checks interrupted() (the
// watchdog) every 1024 turns and then throws std::system_error naming `what`.
inline std::uint64_t wait_for_line(const std::atomic<std::uint64_t>& line, std::uint64_t want,
                                   bool yield, const char* what) {
  for (std::uint32_t i = 1;; ++i) {
    const std::uint64_t value = line.load(std::memory_order_acquire);
    if (value == want || value == kBounceStop) return value;
    if (yield) {
      ::sched_yield();
    } else {
      cpu_relax();
    }
    if (i % 1024 == 0) throw_if_interrupted("spin", what);
  }
}

}  // namespace ipcbench
