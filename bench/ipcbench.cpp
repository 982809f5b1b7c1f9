// ipcbench: every registered transport x pattern x size as a Google Benchmark, manual time.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "bench/fan_in.hpp"
#include "bench/limits.hpp"
#include "bench/options.hpp"
#include "bench/patterns.hpp"
#include "harness/frame.hpp"
#include "harness/git_rev.hpp"
#include "harness/pair.hpp"
#include "harness/system_info.hpp"
#include "transports/os/ledger.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// Cases a transport cannot carry, in the order they would have run: name -> reason.
std::vector<std::pair<std::string, std::string>> g_unsupported;

// The console table, with the unsupported cases listed after it (they are not run, so Google
// Benchmark 1.7, which has no SkipWithMessage, would otherwise not show them at all).
class Console : public benchmark::ConsoleReporter {
 public:
  void Finalize() override {
    benchmark::ConsoleReporter::Finalize();
    if (g_unsupported.empty()) return;
    std::cout << "\nUnsupported (not run; also in the JSON context as \"unsupported/<name>\"):\n";
    for (const auto& [name, why] : g_unsupported) std::cout << "  " << name << ": " << why << "\n";
  }
};

std::string short_checks(Payload payload) {
  switch (payload) {
    case Payload::kBytes:
      return "checks=seq+payload+stamp";
    case Payload::kWord:
      return "checks=seq";
    case Payload::kNothing:
      return "checks=count";
  }
  return "";
}

// Fixed iteration counts for --quick: >= 1000 round trips where affordable, bounded in bytes.
std::uint64_t quick_iterations(Pattern pattern, std::size_t bytes) {
  if (pattern == Pattern::kStream) return 4;
  return std::clamp<std::uint64_t>((std::uint64_t{32} << 20) / std::max<std::size_t>(bytes, 1), 50,
                                   2000);
}

// `floor_ns`: the cache-line round trip measured on the same CPUs right after the case (0: none).
void publish(benchmark::State& state, const PairResult& r, Pattern pattern, std::size_t bytes,
             Payload payload, double floor_ns) {
  std::size_t i = 0;
  for (auto _ : state) state.SetIterationTime(r.iteration_seconds[i++]);
  auto& c = state.counters;
  const double seconds = r.timed_seconds > 0 ? r.timed_seconds : 1e-300;
  if (pattern == Pattern::kRoundTrip) {
    c["p50_ns"] = static_cast<double>(r.rtt.percentile(50));
    c["p90_ns"] = static_cast<double>(r.rtt.percentile(90));
    c["p99_ns"] = static_cast<double>(r.rtt.percentile(99));
    c["p999_ns"] = static_cast<double>(r.rtt.percentile(99.9));
    c["max_ns"] = static_cast<double>(r.rtt.max());
    c["mean_ns"] = r.rtt.mean();
    c["samples"] = static_cast<double>(r.rtt.count());
    if (payload == Payload::kBytes) {
      c["oneway_p50_ns"] = static_cast<double>(r.oneway.percentile(50));
      c["oneway_p99_ns"] = static_cast<double>(r.oneway.percentile(99));
    }
    // A round trip moves the message both ways.
    const double done = static_cast<double>(r.rtt.count());
    c["items_per_second"] = done / seconds;
    c["bytes_per_second"] = 2.0 * done * static_cast<double>(bytes) / seconds;
    // The distance to the hardware, against the floor measured next to this case.
    if (floor_ns > 0) {
      c["cacheline_p50_ns"] = floor_ns;
      c["rtt_p50_x_cacheline"] = c["p50_ns"] / floor_ns;
    }
  } else {
    c["items_per_second"] = static_cast<double>(r.received) / seconds;
    c["bytes_per_second"] = static_cast<double>(r.bytes_received) / seconds;
    c["sent"] = static_cast<double>(r.sent);
    c["received"] = static_cast<double>(r.received);
    c["batch"] = static_cast<double>(r.batch);
    c["coalesced"] = static_cast<double>(r.coalesced);
    const auto& memcpy_bps = measured_limits().memcpy_bytes_per_second;
    if (auto it = memcpy_bps.find(bytes); it != memcpy_bps.end() && it->second > 0) {
      c["fraction_of_memcpy"] = c["bytes_per_second"] / it->second;
    }
  }
  c["lost"] = static_cast<double>(r.lost);
  c["corrupt"] = static_cast<double>(r.corrupt);
  c["reordered"] = static_cast<double>(r.reordered);
  const double messages = static_cast<double>(std::max<std::uint64_t>(r.messages, 1));
  c["cpu_ns_per_msg"] = r.cpu_seconds * 1e9 / messages;
  c["ctx_switches_per_msg"] = static_cast<double>(r.context_switches) / messages;
  std::string label = short_checks(payload);
  if (r.coalesced > 0) {
    label += " coalesced=" + std::to_string(r.coalesced) + "/" + std::to_string(r.sent);
  }
  if (r.lost > 0) label += " lost=" + std::to_string(r.lost);
  if (r.corrupt > 0) label += " CORRUPT=" + std::to_string(r.corrupt);
  state.SetLabel(label);
}

// `placement` is empty for the default CPUs, else the kind, added to the name.
void register_case(const BenchOptions& o, const TransportInfo& info, const Capabilities& caps,
                   Pattern pattern, std::size_t bytes, CpuPair cpus, const std::string& placement) {
  const std::string name = std::string(pattern_name(pattern)) + "/" + std::string(info.id) +
                           "/bytes:" + std::to_string(bytes) +
                           (placement.empty() ? "" : "/placement:" + placement);
  if (auto why = unsupported_reason(caps, bytes)) {
    g_unsupported.emplace_back(name, *why);
    benchmark::AddCustomContext("unsupported/" + name, *why);
    return;
  }
  const std::string id(info.id);
  const Payload payload = caps.payload;
  auto* b = benchmark::RegisterBenchmark(
      name.c_str(), [=](benchmark::State& state) {
        PairConfig config;
        config.transport_id = id;
        config.pattern = pattern;
        config.message_bytes = bytes;
        config.iterations = static_cast<std::uint64_t>(state.max_iterations);
        config.cpus = cpus;
        config.watchdog = o.watchdog;
        try {
          const PairResult r = run_pair(config);
          const double floor_ns =
              pattern == Pattern::kRoundTrip ? cacheline_rtt_p50_now(cpus, o.watchdog) : 0;
          publish(state, r, pattern, bytes, payload, floor_ns);
        } catch (const std::exception& e) {
          state.SkipWithError(e.what());
          for (auto _ : state) {
          }
        }
      });
  b->UseManualTime();
  b->Unit(pattern == Pattern::kRoundTrip ? benchmark::kMicrosecond : benchmark::kMillisecond);
  if (o.quick) b->Iterations(static_cast<benchmark::IterationCount>(quick_iterations(pattern, bytes)));
}

std::string yes_no(bool v) { return v ? "yes" : "no"; }

void print_list() {
  std::printf("%-12s %-14s %-5s %-9s %-8s %-9s %s\n", "transport", "largest msg", "lose",
              "coalesce", "reorder", "waits", "limit from / checks / description");
  for (const TransportInfo& info : all_transports()) {
    const Capabilities caps = info.describe();
    const std::string largest = caps.max_message_bytes == SIZE_MAX
                                    ? "any"
                                    : std::to_string(caps.max_message_bytes) + " B";
    std::printf("%-12s %-14s %-5s %-9s %-8s %-9s %s\n", std::string(info.id).c_str(),
                largest.c_str(), yes_no(caps.may_lose).c_str(), yes_no(caps.may_coalesce).c_str(),
                yes_no(caps.may_reorder).c_str(), caps.busy_polls ? "spins" : "blocks",
                std::string(info.description).c_str());
    std::printf("%-12s   limit: %s\n%-12s   checks: %s; waits by %s\n", "", caps.limit_source.c_str(),
                "", checks_applied(caps.payload).c_str(), caps.waits_by.c_str());
  }
}

bool console_format(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) {
      return std::strcmp(argv[i] + 19, "console") == 0;
    }
  }
  return true;
}

}  // namespace
}  // namespace ipcbench

int main(int argc, char** argv) {
  using namespace ipcbench;
  BenchOptions o;
  try {
    o = parse_bench_options(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipcbench: %s\n", e.what());
    return 2;
  }
  if (o.help) {
    std::fputs(bench_usage().c_str(), stdout);
    return 0;
  }
  if (o.list) {
    print_list();
    return 0;
  }
  // A run killed with SIGKILL (or Ctrl-C) leaves nothing behind: the janitor removes what the
  // run's objects' owners could not.
  try {
    start_janitor();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ipcbench: cannot start the janitor: %s\n", e.what());
    return 1;
  }
  const bool console = console_format(argc, argv);  // before Initialize() consumes the flag
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  benchmark::AddCustomContext("ipcbench_build_type", IPCBENCH_BUILD_TYPE);
  benchmark::AddCustomContext("ipcbench_git_revision", std::string(git_revision()));
  benchmark::AddCustomContext("ipcbench_cpus", "producer=cpu" + std::to_string(o.cpus.producer) +
                                                   " consumer=cpu" + std::to_string(o.cpus.consumer));
  if (o.placements.empty()) {
    benchmark::AddCustomContext("ipcbench_placement", o.cpus.same() ? "same_cpu" : "different_cpus");
  } else {
    std::string all;
    for (const Placement& p : o.placements) {
      all += (all.empty() ? "" : "; ") + p.kind + "=cpu" + std::to_string(p.cpus.producer) +
             ",cpu" + std::to_string(p.cpus.consumer) + " (" + p.description + ")";
    }
    benchmark::AddCustomContext("ipcbench_placement", "per case (/placement:<kind> in names)");
    benchmark::AddCustomContext("ipcbench_placements", all);
  }
  benchmark::AddCustomContext("ipcbench_profile", o.quick ? "quick" : "full");
  benchmark::AddCustomContext("ipcbench_units",
                              "RoundTrip time and *_ns: round trip (RTT) in ns; oneway_*_ns: one-way "
                              "in ns; bytes_per_second: bytes/s; items_per_second: messages/s "
                              "(RoundTrip: round trips/s, bytes counted both ways)");
  for (const auto& [key, value] : system_context()) benchmark::AddCustomContext(key, value);
  std::string warnings;
  for (const std::string& w : stability_warnings()) {
    std::fprintf(stderr, "ipcbench: warning: %s\n", w.c_str());
    warnings += (warnings.empty() ? "" : "; ") + w;
  }
  benchmark::AddCustomContext("ipcbench_warnings", warnings.empty() ? "none" : warnings);
  if (std::string(IPCBENCH_BUILD_TYPE) != "Release") {
    std::fprintf(stderr, "ipcbench: warning: this is a %s build; only release numbers count\n",
                 IPCBENCH_BUILD_TYPE);
  }

  benchmark::AddCustomContext(
      "ipcbench_limit_ratios",
      "rtt_p50_x_cacheline: RoundTrip p50 / cacheline_p50_ns, the p50 of 2000 cache-line round "
      "trips (the bounce of Limit/cacheline_rtt) measured on the same CPUs right after the case, "
      "absent when that bounce failed; fraction_of_memcpy: Stream bytes_per_second / "
      "Limit/memcpy bytes_per_second at the same size, as measured earlier in this run, absent "
      "when it did not run");
  // First: Google Benchmark runs in registration order, and the transport rows divide by these.
  register_limit_benchmarks(o);
  for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
    for (const std::string& id : o.transports) {
      const TransportInfo& info = *find_transport(id);
      const Capabilities caps = info.describe();
      std::vector<std::size_t> sizes = o.sizes;
      // A notification or one-word transport runs at the one size it carries.
      if (auto fixed = fixed_message_bytes(caps.payload);
          fixed && std::find(sizes.begin(), sizes.end(), *fixed) == sizes.end()) {
        sizes.insert(sizes.begin(), *fixed);
      }
      if (o.placements.empty()) {
        for (std::size_t bytes : sizes) register_case(o, info, caps, pattern, bytes, o.cpus, "");
      }
      for (const Placement& p : o.placements) {
        for (std::size_t bytes : sizes) register_case(o, info, caps, pattern, bytes, p.cpus, p.kind);
      }
    }
  }
  if (o.patterns) {
    register_fan_in_benchmarks(o);
    std::vector<std::pair<std::string, std::string>> skipped;
    register_pattern_benchmarks(o, skipped);
    for (const auto& [name, why] : skipped) {
      g_unsupported.emplace_back(name, why);
      benchmark::AddCustomContext("unsupported/" + name, why);
    }
  }
  Console console_reporter;
  benchmark::RunSpecifiedBenchmarks(console ? &console_reporter : nullptr);
  if (!console && !g_unsupported.empty()) {
    for (const auto& [name, why] : g_unsupported) {
      std::fprintf(stderr, "ipcbench: unsupported (not run): %s: %s\n", name.c_str(), why.c_str());
    }
  }
  benchmark::Shutdown();
  return 0;
}
