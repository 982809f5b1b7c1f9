#include "bench/fan_in.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/fan_in.hpp"
#include "harness/frame.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kFanInBytes =
    64;  // small messages: the server's loop, not copying, dominates

// Timed round trips per client: about 20000 in all (so the merged p99.9 rests on enough samples),
// at least 1000 per client for its own p99. --quick: fixed and small.
std::uint64_t fan_in_iterations(bool quick, std::size_t clients) {
  if (quick) return 300;
  return std::max<std::uint64_t>(20000 / clients, 1000);
}

// The server on the first pattern CPU, the clients round-robin over them (see pattern_cpus).
std::vector<int> fan_in_cpus(const BenchOptions& o) { return pattern_cpus(o); }

void publish(benchmark::State& state, const FanInResult& r, std::uint64_t iterations,
             std::size_t bytes, std::size_t clients) {
  const double per_iteration = r.wall_seconds / static_cast<double>(iterations);
  for (auto _ : state) state.SetIterationTime(per_iteration);
  auto& c = state.counters;
  const double seconds = r.wall_seconds > 0 ? r.wall_seconds : 1e-300;
  const double done = static_cast<double>(r.round_trips);
  c["items_per_second"] = done / seconds;  // round trips/s, all clients together
  c["bytes_per_second"] = 2.0 * done * static_cast<double>(bytes) / seconds;  // both ways
  c["p50_ns"] = static_cast<double>(r.rtt.percentile(50));
  c["p90_ns"] = static_cast<double>(r.rtt.percentile(90));
  c["p99_ns"] = static_cast<double>(r.rtt.percentile(99));
  c["p999_ns"] = static_cast<double>(r.rtt.percentile(99.9));
  c["max_ns"] = static_cast<double>(r.rtt.max());
  c["samples"] = static_cast<double>(r.rtt.count());
  c["worst_client_p99_ns"] = static_cast<double>(r.worst_client_p99_ns);
  c["lost"] = static_cast<double>(r.lost);
  c["corrupt"] = static_cast<double>(r.corrupt);
  c["reordered"] = static_cast<double>(r.reordered);
  c["failed_clients"] = static_cast<double>(r.failed_clients.size());
  c["clients"] = static_cast<double>(clients);
  std::string label = "checks=seq+payload";
  if (r.lost > 0) label += " lost=" + std::to_string(r.lost);
  if (r.corrupt > 0) label += " CORRUPT=" + std::to_string(r.corrupt);
  state.SetLabel(label);
}

void register_case(const BenchOptions& o, const TransportInfo& info, std::size_t clients,
                   std::size_t bytes) {
  const std::string id(info.id);
  const std::string name =
      "FanIn/" + id + "/clients:" + std::to_string(clients) + "/bytes:" + std::to_string(bytes);
  if (auto why = unsupported_reason(info.fan_in->describe(clients), bytes)) {
    benchmark::AddCustomContext("unsupported/" + name, *why);
    return;
  }
  const std::vector<int> cpus = fan_in_cpus(o);
  benchmark::AddCustomContext("ipcbench_placement/" + name, fan_in_placement(cpus, clients));
  const std::uint64_t iterations = fan_in_iterations(o.quick, clients);
  auto* b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    FanInConfig config;
    config.transport_id = id;
    config.message_bytes = bytes;
    config.clients = clients;
    config.iterations = iterations;
    config.cpus = cpus;
    config.watchdog = o.watchdog;
    try {
      const FanInResult r = run_fan_in(config);
      if (!r.failed_clients.empty()) {
        // The others finished, but a row with a failed client is not a measurement.
        state.SkipWithError(("failed " + r.failures).c_str());
        for (auto _ : state) {
        }
        return;
      }
      publish(state, r, iterations, bytes, clients);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      for (auto _ : state) {
      }
    }
  });
  b->UseManualTime();
  b->Unit(benchmark::kMicrosecond);
  // Fixed: each call forks N + 1 processes, so Google Benchmark's iteration search is not wanted.
  b->Iterations(static_cast<benchmark::IterationCount>(iterations));
}

}  // namespace

void register_fan_in_benchmarks(const BenchOptions& o) {
  benchmark::AddCustomContext(
      "ipcbench_fan_in_units",
      "FanIn: time = wall time from the barrier's release to the last client's end, divided by "
      "the round trips per client; items_per_second = round trips/s of all clients together; "
      "*_ns = one client's round trip (RTT), merged over clients; bytes_per_second counts both "
      "ways");
  const std::vector<std::size_t> all_clients = {1, 2, 4, 8, 16};
  const std::vector<std::size_t> quick_clients = {2, 4};
  for (const std::string& id : o.transports) {
    const TransportInfo* info = find_transport(id);
    if (info == nullptr || info->fan_in == nullptr) continue;  // no fan-in form (signals, ...)
    for (std::size_t clients : o.quick ? quick_clients : all_clients) {
      register_case(o, *info, clients, kFanInBytes);
    }
  }
}

}  // namespace ipcbench
