// The machine's own limits as benchmarks (Limit/cacheline_rtt on two CPUs, Limit/yield_pingpong on
// one, Limit/memcpy/bytes:<n>, Limit/syscall), the cache-line floor measured on demand for the
// transport rows' distance counters, and what the Limit benchmarks measured in this run.
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bench/options.hpp"
#include "harness/clock.hpp"
#include "harness/cpus.hpp"
#include "harness/launch.hpp"
#include "harness/process.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {

// What the Limit benchmarks measured so far in this run (the last run of each wins, so with
// repetitions it is the latest). Zero or absent: that Limit has not run in this process, and no
// transport row may claim a distance to it.
struct MeasuredLimits {
  std::map<std::size_t, double> memcpy_bytes_per_second;  // Limit/memcpy by size
};
[[nodiscard]] const MeasuredLimits& measured_limits() noexcept;

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

// The cache-line floor between two CPUs: the round trip of one cache line bounced between two
// processes pinned there, the same bounce as Limit/cacheline_rtt.
struct CachelineFloor {
  bool measured = false;     // false on one CPU (no floor exists there) or when the bounce failed
  double ns_per_bounce = 0;  // p50 over samples of (K bounces' time / K), ns, round trip
  std::uint64_t bounces_per_sample = 0;  // K (kBouncesPerSample) when measured
  std::uint64_t samples = 0;
  std::string why_not;  // when !measured: "one CPU: ..." or what failed
};

// The budget of cacheline_floor_now: ~2000 round trips after the warm-up, as before the bounces
// were sampled K at a time.
inline constexpr std::uint64_t kSamplesNow = 2048 / kBouncesPerSample;

// Measures the cache-line floor on `cpus` now: kSamplesNow samples of kBouncesPerSample bounces
// (after an untimed warm-up). A RoundTrip row divides its p50 by this, measured right after it on
// its own CPUs, so a floor that drifts during a run (as it does on a shared virtual machine) or
// differs between placements cannot distort the ratio. With both ends on one CPU it bounces
// nothing and returns measured=false: there the "bounce" is a sched_yield ping-pong. Blocks for
// the bounce (two forked processes, watched by a watchdog of `watchdog`); never throws: a
// failure is returned in why_not.
[[nodiscard]] inline CachelineFloor cacheline_floor_now(const CpuPair& cpus,
                                                        std::chrono::milliseconds watchdog);

// Registers the Limit benchmarks, pinned like the transports (the producer's CPU, and the
// consumer's for the second process of the bounce), memcpy at every size of `options`. The bounce
// is Limit/cacheline_rtt on two CPUs and Limit/yield_pingpong on one (never published as a
// cache-line floor there); one iteration is one bounce, timed kBouncesPerSample at a time. Call it
// before registering the transports: Google Benchmark runs benchmarks in registration order, so
// the limits are known when the transport rows are published. With --quick the iteration counts
// are fixed.
void register_limit_benchmarks(const BenchOptions& options);

// The bounce itself. Defined in this header, not in limits.cpp, so that the tests (which link the
// harness, not the bench binary's sources) can run it.
namespace limits_detail {

// The one cache line the two processes bounce.
struct Bounce {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  alignas(kFalseSharingBytes) std::atomic<std::uint64_t> line{0};
};
// The parent writes odd values, the peer answers with value + 1; this odd value stops the peer.
inline constexpr std::uint64_t kStop = UINT64_MAX;
inline constexpr std::uint64_t kBounceWarmup = 1000;

// Spins until `line` holds `want` (or, for the peer, kStop). Two processes on one CPU take turns
// only when the spinner yields, as shm_spin does.
inline std::uint64_t wait_for(const std::atomic<std::uint64_t>& line, std::uint64_t want,
                              bool yield, const char* what) {
  for (std::uint32_t i = 1;; ++i) {
    const std::uint64_t value = line.load(std::memory_order_acquire);
    if (value == want || value == kStop) return value;
    if (yield) {
      ::sched_yield();
    } else {
      cpu_relax();
    }
    if (i % 1024 == 0) throw_if_interrupted("spin", what);
  }
}

// Two processes pinned to `cpus` bounce one cache line: the parent stores an odd value, the peer
// sees it and stores value + 1, the parent sees that. After kBounceWarmup untimed bounces,
// `samples` samples of `k` bounces are timed by sample_bounces with now_ns (the transports'
// clock) and each sample's ns per bounce goes to `on_sample`. With both ends on one CPU the
// spinners yield: a sched_yield ping-pong. `what` names the run in failures. Returns "" or what
// failed; never throws.
inline std::string bounce_line(const CpuPair& cpus, std::chrono::milliseconds watchdog,
                               const char* what, std::uint64_t samples, std::uint64_t k,
                               const std::function<void(double)>& on_sample) {
  const bool yield = cpus.same();
  std::string failure;
  try {
    SharedRegion<Bounce> bounce;
    ScopedPin pinned(cpus.producer);
    Launch launch(what, watchdog);
    launch.start("bounce peer", cpus.consumer, [&](Peer& peer) {
      for (std::uint64_t want = 1;; want += 2) {
        if (wait_for(bounce->line, want, yield, what) == kStop) break;
        bounce->line.store(want + 1, std::memory_order_release);
      }
      peer.finish();
    });
    std::atomic<std::uint64_t> progress{0};
    failure = launch.watch(&progress, [&] {
      std::uint64_t value = 1;
      const auto bounce_once = [&] {
        bounce->line.store(value, std::memory_order_release);
        (void)wait_for(bounce->line, value + 1, yield, what);
        value += 2;
      };
      for (std::uint64_t i = 0; i < kBounceWarmup; ++i) bounce_once();
      progress.store(1, std::memory_order_relaxed);
      sample_bounces(samples, k, bounce_once, now_ns, [&](double ns_per_bounce) {
        on_sample(ns_per_bounce);
        progress.fetch_add(1, std::memory_order_relaxed);
      });
      bounce->line.store(kStop, std::memory_order_release);
    });
    const std::string ended = launch.end(0, !failure.empty());
    if (failure.empty()) failure = ended;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return failure;
}

}  // namespace limits_detail

inline CachelineFloor cacheline_floor_now(const CpuPair& cpus, std::chrono::milliseconds watchdog) {
  CachelineFloor floor;
  if (cpus.same()) {
    floor.why_not = "one CPU: both ends on cpu" + std::to_string(cpus.producer) +
                    ": a sched_yield ping-pong, not a cache-line floor";
    return floor;
  }
  std::vector<double> ns;
  ns.reserve(kSamplesNow);
  floor.why_not = limits_detail::bounce_line(cpus, watchdog, "cache-line floor", kSamplesNow,
                                             kBouncesPerSample, [&](double v) { ns.push_back(v); });
  if (!floor.why_not.empty()) return floor;
  if (ns.empty()) {
    floor.why_not = "cache-line floor: no sample";
    return floor;
  }
  // The sample of nearest rank ceil(n / 2), exact (no histogram bucket).
  const auto mid = ns.begin() + static_cast<std::ptrdiff_t>((ns.size() + 1) / 2 - 1);
  std::nth_element(ns.begin(), mid, ns.end());
  floor.measured = true;
  floor.ns_per_bounce = *mid;
  floor.bounces_per_sample = kBouncesPerSample;
  floor.samples = ns.size();
  return floor;
}

}  // namespace ipcbench
