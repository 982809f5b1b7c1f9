// The machine's own limits as benchmarks (Limit/cacheline_rtt on two CPUs, Limit/yield_pingpong on
// one, Limit/cross_core_copy/bytes:<n> on two CPUs, Limit/same_cpu_copy/bytes:<n> on one,
// Limit/memcpy/bytes:<n>, Limit/syscall), the cache-line and cross-core copy floors measured on
// demand for the transport rows' distance counters, and what the Limit benchmarks measured in this
// run.
#pragma once

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
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

// The cross-core copy: one process pinned to the producer's CPU writes `bytes` of a shared buffer
// (memset), hands it over with a cache-line flag, and the process on the consumer's CPU reads all
// of them (a sum of every byte, checked) and hands it back. One handover is one write, one read
// and the two flags, one after the other; its bytes/s is the rate at which the buffer's lines move
// from one core to the other, the floor for a stream of that size between the two CPUs.

// Handovers per pair of clock reads at `bytes`: 64 up to 1 KiB (as the bounce: the ~40 ns of two
// clock reads is under 1 ns per handover), then 64 KiB / bytes, at least 8 (a sample of 8 moves
// at least 512 KiB, tens of microseconds).
[[nodiscard]] constexpr std::uint64_t handovers_per_sample(std::size_t bytes) noexcept {
  return std::clamp<std::uint64_t>((std::uint64_t{64} << 10) / std::max<std::size_t>(bytes, 1), 8,
                                   64);
}

// One sample of handovers: its time per handover and its rate.
struct CopySample {
  double ns_per_handover = 0;   // (t1 - t0) / k
  double bytes_per_second = 0;  // bytes * k / (t1 - t0), plain bytes/s; 0 when t1 == t0
};

// Times `samples` samples of `k` back-to-back calls of `handover()` (each moving `bytes`) between
// two calls of `clock()` (ns), as sample_bounces does: the clock is read exactly twice per sample,
// and `on_sample` (untimed) gets the sample's CopySample. k >= 1.
template <typename Handover, typename Clock, typename OnSample>
void sample_handovers(std::uint64_t samples, std::uint64_t k, std::size_t bytes,
                      Handover&& handover, Clock&& clock, OnSample&& on_sample) {
  sample_bounces(samples, k, handover, clock, [&](double ns_per_handover) {
    CopySample s;
    s.ns_per_handover = ns_per_handover;
    if (ns_per_handover > 0)
      s.bytes_per_second = static_cast<double>(bytes) * 1e9 / ns_per_handover;
    on_sample(s);
  });
}

// The cross-core copy floor at one size between two CPUs, as Limit/cross_core_copy measures it.
struct CopyFloor {
  bool measured = false;  // false on one CPU (no line crosses), at 0 bytes, or when it failed
  std::size_t bytes = 0;
  double ns_per_handover = 0;              // p50 over samples of (k handovers' time / k)
  double bytes_per_second = 0;             // bytes * 1e9 / ns_per_handover, plain bytes/s
  std::uint64_t handovers_per_sample = 0;  // k = handovers_per_sample(bytes) when measured
  std::uint64_t samples = 0;
  std::string why_not;  // when !measured: "one CPU: ..." or what failed
};

// The budget of cross_core_copy_now: this many samples of handovers_per_sample(bytes), after an
// untimed warm-up of copy_warmup_handovers(bytes). At 1 MiB: 256 MiB timed, tens of milliseconds.
inline constexpr std::uint64_t kCopySamplesNow = 32;
[[nodiscard]] constexpr std::uint64_t copy_warmup_handovers(std::size_t bytes) noexcept {
  return std::clamp<std::uint64_t>((std::uint64_t{4} << 20) / std::max<std::size_t>(bytes, 1), 16,
                                   4096);
}

// Measures the cross-core copy floor at `bytes` on `cpus` now (kCopySamplesNow samples). A Stream
// row divides its bytes/s by this, measured right after it on its own CPUs, as a RoundTrip row
// does with cacheline_floor_now. With both ends on one CPU, or at 0 bytes, it copies nothing and
// returns measured=false. Blocks for the copy (two forked processes, watched by a watchdog of
// `watchdog`); never throws: a failure is returned in why_not.
[[nodiscard]] inline CopyFloor cross_core_copy_now(const CpuPair& cpus, std::size_t bytes,
                                                   std::chrono::milliseconds watchdog);

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

// `bytes` in an anonymous MAP_SHARED mapping made before fork() (page-aligned, so line-aligned):
// the buffer of the cross-core copy. Owns the mapping; throws std::system_error when mmap fails.
class SharedBytes {
 public:
  explicit SharedBytes(std::size_t bytes) : bytes_(std::max<std::size_t>(bytes, 1)) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_sys_error(errno, "mmap", "cross-core copy buffer");
    data_ = static_cast<unsigned char*>(p);
  }
  SharedBytes(const SharedBytes&) = delete;
  SharedBytes& operator=(const SharedBytes&) = delete;
  ~SharedBytes() { ::munmap(data_, bytes_); }
  [[nodiscard]] unsigned char* data() const noexcept { return data_; }

 private:
  std::size_t bytes_;
  unsigned char* data_ = nullptr;
};

// The byte every position holds in handover h (never 0, changes every handover).
inline unsigned char copy_byte(std::uint64_t h) { return static_cast<unsigned char>(1 + h % 251); }

// The sum the reader computes: the buffer's 8-byte words (mod 2^64), then the tail bytes. Four
// accumulators, so the loads are not one dependency chain.
inline std::uint64_t sum_bytes(const unsigned char* p, std::size_t n) {
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w[4];
    std::memcpy(w, p + i, sizeof w);
    a += w[0];
    b += w[1];
    c += w[2];
    d += w[3];
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, sizeof w);
    a += w;
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

// What sum_bytes returns for `n` bytes all equal to `v`.
inline std::uint64_t expected_sum(unsigned char v, std::size_t n) {
  return static_cast<std::uint64_t>(n / 8) * (std::uint64_t{v} * 0x0101010101010101ULL) +
         static_cast<std::uint64_t>(n % 8) * v;
}

// Two processes pinned to `cpus` hand `bytes` back and forth: the parent memsets the buffer to
// copy_byte(h), stores the flag 2h + 1, and waits for 2h + 2; the peer waits for 2h + 1, sums all
// `bytes` (a sum that differs from expected_sum fails the run: the read is checked, never elided)
// and stores 2h + 2. After `warmup` untimed handovers, `samples` samples of `k` are timed by
// sample_handovers with now_ns and each goes to `on_sample`. On one CPU the spinners yield. `what`
// names the run in failures. Returns "" or what failed; never throws.
inline std::string copy_lines(const CpuPair& cpus, std::chrono::milliseconds watchdog,
                              const char* what, std::size_t bytes, std::uint64_t warmup,
                              std::uint64_t samples, std::uint64_t k,
                              const std::function<void(const CopySample&)>& on_sample) {
  const bool yield = cpus.same();
  std::string failure;
  try {
    SharedRegion<Bounce> flag;
    SharedBytes buffer(bytes);
    unsigned char* const data = buffer.data();
    ScopedPin pinned(cpus.producer);
    Launch launch(what, watchdog);
    launch.start("copy reader", cpus.consumer, [&](Peer& peer) {
      for (std::uint64_t want = 1;; want += 2) {
        if (wait_for(flag->line, want, yield, what) == kStop) break;
        const std::uint64_t h = want / 2;
        const std::uint64_t sum = sum_bytes(data, bytes);
        if (sum != expected_sum(copy_byte(h), bytes)) {
          throw std::runtime_error(std::string(what) + ": handover " + std::to_string(h) +
                                   " read a sum of " + std::to_string(sum) + ", expected " +
                                   std::to_string(expected_sum(copy_byte(h), bytes)));
        }
        flag->line.store(want + 1, std::memory_order_release);
      }
      peer.finish();
    });
    std::atomic<std::uint64_t> progress{0};
    failure = launch.watch(&progress, [&] {
      std::uint64_t h = 0;
      const auto handover = [&] {
        std::memset(data, copy_byte(h), bytes);
        flag->line.store(2 * h + 1, std::memory_order_release);
        (void)wait_for(flag->line, 2 * h + 2, yield, what);
        ++h;
      };
      for (std::uint64_t i = 0; i < warmup; ++i) {
        handover();
        if (i % 64 == 63) progress.fetch_add(1, std::memory_order_relaxed);
      }
      progress.fetch_add(1, std::memory_order_relaxed);
      sample_handovers(samples, k, bytes, handover, now_ns, [&](const CopySample& s) {
        on_sample(s);
        progress.fetch_add(1, std::memory_order_relaxed);
      });
      flag->line.store(kStop, std::memory_order_release);
    });
    const std::string ended = launch.end(0, !failure.empty());
    if (failure.empty()) failure = ended;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return failure;
}

// The value of nearest rank ceil(n / 2) of `v` (reordered), exact; 0 when empty.
inline double median_of(std::vector<double>& v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>((v.size() + 1) / 2 - 1);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

}  // namespace limits_detail

inline CopyFloor cross_core_copy_now(const CpuPair& cpus, std::size_t bytes,
                                     std::chrono::milliseconds watchdog) {
  CopyFloor floor;
  floor.bytes = bytes;
  if (cpus.same()) {
    floor.why_not = "one CPU: both ends on cpu" + std::to_string(cpus.producer) +
                    ": no line crosses between two cores, not a cross-core copy floor";
    return floor;
  }
  if (bytes == 0) {
    floor.why_not = "0 bytes: nothing to copy";
    return floor;
  }
  const std::uint64_t k = handovers_per_sample(bytes);
  std::vector<double> ns;
  ns.reserve(kCopySamplesNow);
  floor.why_not = limits_detail::copy_lines(
      cpus, watchdog, "cross-core copy floor", bytes, copy_warmup_handovers(bytes), kCopySamplesNow,
      k, [&](const CopySample& s) { ns.push_back(s.ns_per_handover); });
  if (!floor.why_not.empty()) return floor;
  const double p50 = limits_detail::median_of(ns);
  if (p50 <= 0) {
    floor.why_not = "cross-core copy floor: no sample";
    return floor;
  }
  floor.measured = true;
  floor.ns_per_handover = p50;
  floor.bytes_per_second = static_cast<double>(bytes) * 1e9 / p50;
  floor.handovers_per_sample = k;
  floor.samples = ns.size();
  return floor;
}

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
