#include "bench/patterns.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>

#include "harness/frame.hpp"
#include "harness/multi.hpp"
#include "harness/pair.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kPatternBytes = 64;  // the patterns run at one small size

void set_latency_counters(benchmark::State& state, const Histogram& h, const std::string& prefix) {
  state.counters[prefix + "p50_ns"] = static_cast<double>(h.percentile(50));
  state.counters[prefix + "p90_ns"] = static_cast<double>(h.percentile(90));
  state.counters[prefix + "p99_ns"] = static_cast<double>(h.percentile(99));
  state.counters[prefix + "p999_ns"] = static_cast<double>(h.percentile(99.9));
  state.counters[prefix + "max_ns"] = static_cast<double>(h.max());
}

// Google Benchmark wants one time per iteration; these patterns measure a wall time over all of
// them, so every iteration gets its share.
void spread_time(benchmark::State& state, double seconds) {
  const double each = seconds / static_cast<double>(std::max<benchmark::IterationCount>(state.max_iterations, 1));
  for (auto _ : state) state.SetIterationTime(each);
}

void register_pairs(const BenchOptions& o, const std::string& id, std::size_t bytes,
                    std::size_t n) {
  const std::string name = "Pairs/" + id + "/pairs:" + std::to_string(n) + "/bytes:" +
                           std::to_string(bytes);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    PairsConfig c;
    c.transport_id = id;
    c.message_bytes = bytes;
    c.pairs = n;
    c.iterations = static_cast<std::uint64_t>(state.max_iterations);
    const std::vector<int> cpus = pattern_cpus(o);
    for (std::size_t i = 0; i < n; ++i) {
      c.cpus.push_back({cpus[(2 * i) % cpus.size()], cpus[(2 * i + 1) % cpus.size()]});
    }
    c.watchdog = o.watchdog;
    try {
      const PairsResult r = run_pairs(c);
      if (r.failed > 0) {
        state.SkipWithError((std::to_string(r.failed) + " of " + std::to_string(n) +
                             " pairs failed (the others finished): " + r.failures).c_str());
        for (auto _ : state) {
        }
        return;
      }
      spread_time(state, r.wall_seconds);
      set_latency_counters(state, r.rtt, "");
      state.counters["worst_pair_p99_ns"] = static_cast<double>(r.worst_p99_ns);
      const double wall = std::max(r.wall_seconds, 1e-12);
      state.counters["items_per_second"] = static_cast<double>(r.round_trips) / wall;
      state.counters["bytes_per_second"] =
          2.0 * static_cast<double>(r.round_trips) * static_cast<double>(bytes) / wall;
      state.counters["pairs"] = static_cast<double>(n);
      state.counters["lost"] = static_cast<double>(r.lost);
      state.counters["corrupt"] = static_cast<double>(r.corrupt);
      state.counters["reordered"] = static_cast<double>(r.reordered);
      const double msgs = std::max(2.0 * static_cast<double>(r.round_trips), 1.0);
      state.counters["cpu_ns_per_msg"] = r.cpu_seconds * 1e9 / msgs;
      state.counters["ctx_switches_per_msg"] = static_cast<double>(r.context_switches) / msgs;
      std::string where;
      for (const std::string& p : r.placement) where += (where.empty() ? "" : ", ") + p;
      state.SetLabel(where);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      for (auto _ : state) {
      }
    }
  });
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
  if (o.quick) b->Iterations(500);
}

void register_fan_out(const BenchOptions& o, const std::string& id, std::size_t n) {
  const std::string name = "FanOut/" + id + "/consumers:" + std::to_string(n) + "/bytes:" +
                           std::to_string(kPatternBytes);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    FanOutConfig c;
    c.transport_id = id;
    c.message_bytes = kPatternBytes;
    c.consumers = n;
    c.iterations = static_cast<std::uint64_t>(state.max_iterations);
    const std::vector<int> cpus = pattern_cpus(o);
    c.producer_cpu = cpus[0];
    // Consumers start on the CPU after the producer's, round-robin.
    for (std::size_t i = 0; i < cpus.size(); ++i) c.consumer_cpus.push_back(cpus[(i + 1) % cpus.size()]);
    c.watchdog = o.watchdog;
    try {
      const FanOutResult r = run_fan_out(c);
      std::size_t i = 0;
      for (auto _ : state) state.SetIterationTime(r.iteration_seconds[i++]);
      set_latency_counters(state, r.round, "");
      set_latency_counters(state, r.delivery, "delivery_");
      const double secs = std::max(r.timed_seconds, 1e-12);
      state.counters["items_per_second"] = static_cast<double>(r.delivered) / secs;
      state.counters["bytes_per_second"] =
          static_cast<double>(r.delivered) * static_cast<double>(kPatternBytes) / secs;
      state.counters["consumers"] = static_cast<double>(n);
      state.counters["lost"] = static_cast<double>(r.lost);
      state.counters["corrupt"] = static_cast<double>(r.corrupt);
      state.counters["reordered"] = static_cast<double>(r.reordered);
      const double msgs = std::max(static_cast<double>(r.delivered), 1.0);
      state.counters["cpu_ns_per_msg"] = r.cpu_seconds * 1e9 / msgs;
      state.counters["ctx_switches_per_msg"] = static_cast<double>(r.context_switches) / msgs;
      std::string where = "producer cpu" + std::to_string(c.producer_cpu) + ", consumers";
      for (std::size_t k = 0; k < n; ++k) {
        where += " cpu" + std::to_string(c.consumer_cpus[k % c.consumer_cpus.size()]);
      }
      state.SetLabel(where + "; " + r.design + "; delivery_* = one-way to the last consumer");
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      for (auto _ : state) {
      }
    }
  });
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
  if (o.quick) b->Iterations(500);
}

}  // namespace

void register_pattern_benchmarks(const BenchOptions& o,
                                 std::vector<std::pair<std::string, std::string>>& unsupported) {
  const std::size_t cpus = allowed_cpus().size();
  std::vector<std::size_t> pair_counts, consumer_counts;
  if (o.quick) {
    pair_counts = {2, 2 * cpus};
    consumer_counts = {2, 4};
  } else {
    for (std::size_t n = 1; n <= 2 * cpus; n *= 2) pair_counts.push_back(n);
    if (pair_counts.back() != 2 * cpus) pair_counts.push_back(2 * cpus);
    consumer_counts = {1, 2, 4, 8};
  }
  pair_counts.erase(std::unique(pair_counts.begin(), pair_counts.end()), pair_counts.end());
  for (const std::string& id : o.transports) {
    const Capabilities caps = find_transport(id)->describe();
    const std::size_t bytes = fixed_message_bytes(caps.payload).value_or(kPatternBytes);
    if (auto why = unsupported_reason(caps, bytes)) {
      unsupported.emplace_back("Pairs/" + id, *why);
      continue;
    }
    for (std::size_t n : pair_counts) register_pairs(o, id, bytes, n);
  }
  for (const std::string& id : o.transports) {
    const Capabilities caps = find_transport(id)->describe();
    if (caps.may_lose || caps.may_coalesce || caps.payload != Payload::kBytes ||
        unsupported_reason(caps, kPatternBytes)) {
      unsupported.emplace_back("FanOut/" + id,
                               "the mailbox pattern needs a reliable transport that carries bytes "
                               "(every copy is checked and time-stamped)");
      continue;
    }
    if (caps.in_process) {
      unsupported.emplace_back("FanOut/" + id,
                               "the mailbox pattern forks one consumer process per reader; this "
                               "transport's peer is a thread of the same process");
      continue;
    }
    for (std::size_t n : consumer_counts) register_fan_out(o, id, n);
  }
}

}  // namespace ipcbench
