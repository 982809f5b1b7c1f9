#include "bench/limits.hpp"

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/cases.hpp"
#include "harness/clock.hpp"
#include "harness/histogram.hpp"
#include "harness/launch.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

MeasuredLimits g_limits;

// Pins the calling thread for one benchmark run and restores its affinity afterwards.
class PinFor {
 public:
  explicit PinFor(int cpu) {
    CPU_ZERO(&saved_);
    ::sched_getaffinity(0, sizeof saved_, &saved_);
    pin_to_cpu(cpu);
  }
  PinFor(const PinFor&) = delete;
  PinFor& operator=(const PinFor&) = delete;
  ~PinFor() { ::sched_setaffinity(0, sizeof saved_, &saved_); }

 private:
  cpu_set_t saved_;
};

// The one cache line the two processes bounce, and the peer's report.
struct Bounce {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  alignas(kFalseSharingBytes) std::atomic<std::uint64_t> line{0};
};
// The parent writes odd values, the peer answers with value + 1; this odd value stops the peer.
constexpr std::uint64_t kStop = UINT64_MAX;
constexpr std::uint64_t kBounceWarmup = 1000;

// Spins until `line` holds `want` (or, for the peer, kStop). Two processes on one CPU take turns
// only when the spinner yields, as shm_spin does.
std::uint64_t wait_for(const std::atomic<std::uint64_t>& line, std::uint64_t want, bool yield) {
  for (std::uint32_t i = 1;; ++i) {
    const std::uint64_t value = line.load(std::memory_order_acquire);
    if (value == want || value == kStop) return value;
    if (yield) {
      ::sched_yield();
    } else {
      cpu_relax();
    }
    if (i % 1024 == 0) throw_if_interrupted("spin", "Limit/cacheline_rtt line");
  }
}

// Two pinned processes bounce one cache line `iterations` times after a warm-up: the parent
// stores an odd value, the peer sees it and stores value + 1, the parent sees that. Every round
// trip is timed with the clock the transports' round trips use, so the two are comparable (both
// include one clock read per sample). Records into `rtt` (and `seconds` when given); returns ""
// or what failed.
std::string bounce_line(const CpuPair& cpus, std::chrono::milliseconds watchdog_after,
                        std::uint64_t iterations, Histogram& rtt, std::vector<double>* seconds) {
  const bool yield = cpus.same();
  std::string failure;
  try {
    SharedRegion<Bounce> bounce;
    PinFor pinned(cpus.producer);
    Launch launch("Limit/cacheline_rtt", watchdog_after);
    launch.start("cacheline peer", cpus.consumer, [&](Peer& peer) {
      for (std::uint64_t want = 1;; want += 2) {
        if (wait_for(bounce->line, want, yield) == kStop) break;
        bounce->line.store(want + 1, std::memory_order_release);
      }
      peer.finish();
    });
    std::atomic<std::uint64_t> progress{0};
    failure = launch.watch(&progress, [&] {
      std::uint64_t value = 1;
      for (std::uint64_t i = 0; i < kBounceWarmup + iterations; ++i, value += 2) {
        const std::uint64_t t0 = now_ns();
        bounce->line.store(value, std::memory_order_release);
        (void)wait_for(bounce->line, value + 1, yield);
        const std::uint64_t t1 = now_ns();
        if (i >= kBounceWarmup) {
          rtt.record(t1 - t0);
          if (seconds != nullptr) seconds->push_back(static_cast<double>(t1 - t0) * 1e-9);
        }
        progress.store(i + 1, std::memory_order_relaxed);
      }
      bounce->line.store(kStop, std::memory_order_release);
    });
    const std::string ended = launch.end(0, !failure.empty());
    if (failure.empty()) failure = ended;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return failure;
}

void cacheline_rtt(Publisher& p, const BenchOptions& o) {
  const auto iterations = static_cast<std::uint64_t>(p.state().max_iterations);
  auto rtt = std::make_unique<Histogram>();
  std::vector<double> seconds;
  seconds.reserve(iterations);
  const std::string failure = bounce_line(o.cpus, o.watchdog, iterations, *rtt, &seconds);
  if (!failure.empty()) throw std::runtime_error(failure);
  p.iteration_times(seconds);
  p.latency(*rtt, "", "cacheline_rtt", "round trip", /*with_mean=*/true);
  p.label(o.cpus.same() ? "one CPU: the spinner yields" : "two CPUs");
}

// Single-thread copy bandwidth between two buffers of `bytes`, both written beforehand (no page
// faults in the loop); the copy is glibc's memcpy, the one the transports use.
void memcpy_bandwidth(benchmark::State& state, std::size_t bytes, int cpu) {
  PinFor pinned(cpu);
  std::vector<std::byte> src(bytes, std::byte{0x5a});
  std::vector<std::byte> dst(bytes, std::byte{0});
  std::memcpy(dst.data(), src.data(), bytes);  // warm
  benchmark::DoNotOptimize(src.data());
  const std::uint64_t t0 = now_ns();
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::ClobberMemory();  // the copy is observable: never elided or hoisted
  }
  const std::uint64_t t1 = now_ns();
  const double seconds = static_cast<double>(t1 - t0) * 1e-9;
  const double bps = static_cast<double>(bytes) * static_cast<double>(state.iterations()) / seconds;
  state.counters["bytes_per_second"] = bps;  // plain bytes/s (10^0), not Google's 1024-based rate
  g_limits.memcpy_bytes_per_second[bytes] = bps;
}

// A trivial system call: getppid() through syscall(), so glibc cannot answer from a cache.
void syscall_cost(benchmark::State& state, int cpu) {
  PinFor pinned(cpu);
  const std::uint64_t t0 = now_ns();
  for (auto _ : state) benchmark::DoNotOptimize(::syscall(SYS_getppid));
  const std::uint64_t t1 = now_ns();
  state.counters["ns_per_call"] =
      static_cast<double>(t1 - t0) / static_cast<double>(state.iterations());
}

}  // namespace

const MeasuredLimits& measured_limits() noexcept { return g_limits; }

double cacheline_rtt_p50_now(const CpuPair& cpus, std::chrono::milliseconds watchdog) {
  auto rtt = std::make_unique<Histogram>();
  if (!bounce_line(cpus, watchdog, kBouncesNow, *rtt, nullptr).empty()) return 0;
  return static_cast<double>(rtt->percentile(50));
}

void register_limit_benchmarks(const BenchOptions& o) {
  // Like a 64-byte RoundTrip in --quick: enough samples for p99.9.
  register_case(
      "Limit/cacheline_rtt", [o](Publisher& p) { cacheline_rtt(p, o); }, benchmark::kMicrosecond,
      o.quick ? 2000 : 0);
  for (std::size_t bytes : o.sizes) {
    const int cpu = o.cpus.producer;
    // About 64 MiB copied per size in --quick.
    const std::uint64_t quick =
        std::clamp<std::size_t>((std::size_t{64} << 20) / bytes, 64, 1'000'000);
    register_case(
        "Limit/memcpy/bytes:" + std::to_string(bytes),
        [bytes, cpu](Publisher& p) { memcpy_bandwidth(p.state(), bytes, cpu); },
        benchmark::kNanosecond, o.quick ? quick : 0, /*manual_time=*/false);
  }
  const int cpu = o.cpus.producer;
  register_case(
      "Limit/syscall", [cpu](Publisher& p) { syscall_cost(p.state(), cpu); },
      benchmark::kNanosecond, o.quick ? 100'000 : 0, /*manual_time=*/false);
}

}  // namespace ipcbench
