#include "bench/limits.hpp"

#include <benchmark/benchmark.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/cases.hpp"
#include "harness/clock.hpp"
#include "harness/histogram.hpp"

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

// One bounce row: Limit/cacheline_rtt (or, `two_lines`, Limit/two_line_rtt) on two CPUs,
// Limit/yield_pingpong on one. One iteration is
// one bounce; the bounces are timed kBouncesPerSample at a time, and every iteration of a sample
// gets that sample's ns per bounce, so the Time column is the round trip per bounce and Google
// Benchmark's iteration count matches the time it is given. The histogram holds one value per
// sample (its mean per bounce, rounded to ns).
void bounce_row(Publisher& p, const BenchOptions& o, const char* name, bool two_lines) {
  const auto iterations =
      std::max<std::uint64_t>(static_cast<std::uint64_t>(p.state().max_iterations), 1);
  const std::uint64_t samples = (iterations + kBouncesPerSample - 1) / kBouncesPerSample;
  auto rtt = std::make_unique<Histogram>();
  std::vector<double> ns_per_bounce;
  ns_per_bounce.reserve(samples);
  const std::string failure = limits_detail::bounce_line(
      o.cpus, o.watchdog, name, samples, kBouncesPerSample,
      [&](double ns) {
        rtt->record(static_cast<std::uint64_t>(std::llround(ns)));
        ns_per_bounce.push_back(ns);
      },
      two_lines);
  if (!failure.empty()) throw std::runtime_error(failure);
  std::vector<double> seconds(iterations);
  for (std::uint64_t i = 0; i < iterations; ++i) {
    seconds[i] = ns_per_bounce[i / kBouncesPerSample] * 1e-9;
  }
  p.iteration_times(seconds);
  const std::string k = std::to_string(kBouncesPerSample);
  p.latency(*rtt, "",
            o.cpus.same() ? "yield_pingpong_rtt" : (two_lines ? "two_line_rtt" : "cacheline_rtt"),
            "round trip, mean of " + k + " bounces per sample", /*with_mean=*/true);
  p.counter("bounces_per_sample", static_cast<double>(kBouncesPerSample));
  const std::string producer = std::to_string(o.cpus.producer);
  p.label(o.cpus.same()
              ? "not a cache-line floor: a sched_yield ping-pong of two processes on one CPU (cpu" +
                    producer + "); round trip per bounce, " + k + " bounces per sample"
              : (two_lines ? "two lines, each written by one side, bounced between cpu"
                           : "cache line bounced between cpu") +
                    producer + " and cpu" + std::to_string(o.cpus.consumer) +
                    "; round trip per bounce, " + k + " bounces per sample");
}

// One copy row: Limit/cross_core_copy/bytes:<n> on two CPUs, Limit/same_cpu_copy/bytes:<n> on
// one. One iteration is one message of `bytes` streamed through the copy's ring, timed
// handovers_per_sample(bytes) at a time; every iteration of a sample gets that sample's time per
// message, as in bounce_row. bytes_per_second is bytes over the p50 of the samples' time per
// message, as cross_core_copy_now gives it to the Stream rows.
void copy_row(Publisher& p, const BenchOptions& o, std::size_t bytes, const char* name) {
  const std::uint64_t k = handovers_per_sample(bytes);
  const CopyGeometry g = copy_geometry(bytes);
  const auto iterations =
      std::max<std::uint64_t>(static_cast<std::uint64_t>(p.state().max_iterations), 1);
  const std::uint64_t samples = (iterations + k - 1) / k;
  std::vector<double> ns_per_handover;
  ns_per_handover.reserve(samples);
  const std::string failure = limits_detail::copy_lines(
      o.cpus, o.watchdog, name, bytes, copy_warmup_handovers(bytes), samples, k,
      [&](const CopySample& s) { ns_per_handover.push_back(s.ns_per_handover); });
  if (!failure.empty()) throw std::runtime_error(failure);
  std::vector<double> seconds(iterations);
  for (std::uint64_t i = 0; i < iterations; ++i) seconds[i] = ns_per_handover[i / k] * 1e-9;
  p.iteration_times(seconds);
  std::vector<double> sorted = ns_per_handover;
  const double p50 = limits_detail::median_of(sorted);
  p.counter("ns_per_handover_p50", p50);
  p.counter("bytes_per_second", p50 > 0 ? static_cast<double>(bytes) * 1e9 / p50 : 0);
  p.counter("handovers_per_sample", static_cast<double>(k));
  p.counter("samples", static_cast<double>(ns_per_handover.size()));
  p.counter("ring_bytes", static_cast<double>(g.ring_bytes()));
  p.counter("piece_bytes", static_cast<double>(g.piece_bytes));
  const std::string per = "bytes/s = bytes / p50 of (" + std::to_string(k) + " messages' time / " +
                          std::to_string(k) + "); ring of " + std::to_string(g.slots) + " x " +
                          std::to_string(g.piece_bytes) + " B, writer and reader overlapping";
  const std::string producer = std::to_string(o.cpus.producer);
  p.label(o.cpus.same()
              ? "not a cross-core floor: a ring written and read by two processes taking turns "
                "on one CPU (cpu" +
                    producer + "); " + per
              : "lines written on cpu" + producer + ", read on cpu" +
                    std::to_string(o.cpus.consumer) + "; " + per);
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

void register_limit_benchmarks(const BenchOptions& o) {
  // On one CPU the bounce is a sched_yield ping-pong, not a cache-line floor: it runs under its
  // own name so that nothing reads it as one. --quick: 2000 samples (enough for p99.9), like a
  // 64-byte RoundTrip.
  const char* bounce = o.cpus.same() ? "Limit/yield_pingpong" : "Limit/cacheline_rtt";
  register_case(
      bounce, [o, bounce](Publisher& p) { bounce_row(p, o, bounce, false); },
      benchmark::kMicrosecond, o.quick ? 2000 * kBouncesPerSample : 0);
  // On two CPUs also the two-line bounce: the floor of a round trip over two one-way channels.
  if (!o.cpus.same()) {
    register_case(
        "Limit/two_line_rtt", [o](Publisher& p) { bounce_row(p, o, "Limit/two_line_rtt", true); },
        benchmark::kMicrosecond, o.quick ? 2000 * kBouncesPerSample : 0);
  }
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
  // The cross-core copy at every size; on one CPU nothing crosses, so it is named for what it is.
  // --quick: 32 samples (at least 32 MiB per size).
  const char* copy = o.cpus.same() ? "Limit/same_cpu_copy" : "Limit/cross_core_copy";
  for (std::size_t bytes : o.sizes) {
    if (bytes == 0) continue;
    const std::uint64_t quick = kCopySamplesNow * handovers_per_sample(bytes);
    const std::string name = std::string(copy) + "/bytes:" + std::to_string(bytes);
    register_case(
        name, [o, bytes, name](Publisher& p) { copy_row(p, o, bytes, name.c_str()); },
        benchmark::kMicrosecond, o.quick ? quick : 0);
  }
  const int cpu = o.cpus.producer;
  register_case(
      "Limit/syscall", [cpu](Publisher& p) { syscall_cost(p.state(), cpu); },
      benchmark::kNanosecond, o.quick ? 100'000 : 0, /*manual_time=*/false);
}

}  // namespace ipcbench
