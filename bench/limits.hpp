// The machine's own limits as benchmarks (Limit/cacheline_rtt, Limit/memcpy/bytes:<n>,
// Limit/syscall), and what they measured in this run, for the transport rows' distance counters.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>

#include "bench/options.hpp"

namespace ipcbench {

// What the Limit benchmarks measured so far in this run (the last run of each wins, so with
// repetitions it is the latest). Zero or absent: that Limit has not run in this process, and no
// transport row may claim a distance to it.
struct MeasuredLimits {
  std::map<std::size_t, double> memcpy_bytes_per_second;  // Limit/memcpy by size
};
[[nodiscard]] const MeasuredLimits& measured_limits() noexcept;

// The cache-line round trip p50 in ns on `cpus`, measured now: kBouncesNow round trips (after a
// warm-up) of the same bounce as Limit/cacheline_rtt. A RoundTrip row divides its p50 by this,
// measured right after it on its own CPUs, so a floor that drifts during a run (as it does on a
// shared virtual machine) or differs between placements cannot distort the ratio. 0 when the
// bounce failed (the row then carries no ratio).
inline constexpr std::uint64_t kBouncesNow = 2000;
[[nodiscard]] double cacheline_rtt_p50_now(const CpuPair& cpus, std::chrono::milliseconds watchdog);

// Registers the Limit benchmarks, pinned like the transports (the producer's CPU, and the
// consumer's for the second process of cacheline_rtt), memcpy at every size of `options`. Call it
// before registering the transports: Google Benchmark runs benchmarks in registration order, so
// the limits are known when the transport rows are published. With --quick the iteration counts
// are fixed.
void register_limit_benchmarks(const BenchOptions& options);

}  // namespace ipcbench
