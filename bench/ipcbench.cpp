// ipcbench: every registered transport x pattern x size as a Google Benchmark, manual time.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/cases.hpp"
#include "bench/console.hpp"
#include "bench/limits.hpp"
#include "bench/load.hpp"
#include "bench/options.hpp"
#include "bench/pair.hpp"
#include "bench/patterns.hpp"
#include "bench/peer.hpp"
#include "harness/frame.hpp"
#include "harness/git_rev.hpp"
#include "harness/resolve.hpp"
#include "harness/system_info.hpp"
#include "transports/os/ledger.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

std::string yes_no(bool v) { return v ? "yes" : "no"; }

// The patterns a form is measured in, as case names start.
std::string form_label(Form form) {
  switch (form) {
    case Form::kPair:
      return "RoundTrip, Stream";
    case Form::kFanIn:
      return "FanIn";
    case Form::kFanOut:
      return "FanOut";
    case Form::kPairs:
      return "Pairs";
  }
  return "?";
}

void print_list() {
  std::printf("%-14s %-14s %-5s %-9s %-8s %-9s %s\n", "transport", "largest msg", "lose",
              "coalesce", "reorder", "waits", "limit from / checks / description");
  for (const TransportInfo& info : all_transports()) {
    const Capabilities caps = info.describe();
    const std::string largest =
        caps.max_message_bytes == SIZE_MAX ? "any" : std::to_string(caps.max_message_bytes) + " B";
    std::printf("%-14s %-14s %-5s %-9s %-8s %-9s %s\n", std::string(info.id).c_str(),
                largest.c_str(), yes_no(caps.may_lose).c_str(), yes_no(caps.may_coalesce).c_str(),
                yes_no(caps.may_reorder).c_str(), caps.busy_polls ? "spins" : "blocks",
                std::string(info.description).c_str());
    std::printf("%-14s   limit: %s\n%-14s   checks: %s; waits by %s\n", "",
                caps.limit_source.c_str(), "", checks_applied(caps.payload).c_str(),
                caps.waits_by.c_str());
    // What it can be measured in, and why not the rest: resolve()'s words, as in the JSON.
    std::string runs, lacks;
    for (Form form : kAllForms) {
      const FormSupport support = form_support(info, form);
      const std::string name = form_label(form);
      if (support.supported) {
        runs += (runs.empty() ? "" : ", ") + name;
      } else {
        lacks += "\n" + std::string(19, ' ') + name + ": " + support.text;
      }
      // Load is a pair pattern of its own: resolve_load()'s answer on this machine's CPUs.
      if (form == Form::kPair && support.supported) {
        const Resolved load = resolve_load(info.id, pattern_bytes(info, kLoadBytes),
                                           load_placement(default_cpu_pair()));
        if (load.runs()) {
          runs += ", Load";
        } else {
          lacks += "\n" + std::string(19, ' ') + "Load: " + load.unsupported;
        }
      }
    }
    if (!caps.relay.empty()) {
      std::printf(
          "%-14s   relay: every message passes through %s, a process of its own that runs "
          "unpinned: a placement places the two ends only, and cpu_ns_per_msg leaves its "
          "work out\n",
          "", caps.relay.c_str());
    }
    if (!caps.unavailable.empty()) {
      std::printf("%-14s   unavailable on this machine: %s\n", "", caps.unavailable.c_str());
    }
    std::printf("%-14s   patterns: %s\n", "", runs.c_str());
    if (!lacks.empty()) std::printf("%-14s   lacks:%s\n", "", lacks.c_str());
  }
}

// The value of --benchmark_out=FILE, or "" (read before Initialize() consumes the flag).
std::string benchmark_out(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_out=", 16) == 0) return argv[i] + 16;
  }
  return "";
}

// The repetitions Google Benchmark will run of each case (the last --benchmark_repetitions=N
// wins, as in Google Benchmark), or 0 when --benchmark_filter= chooses which cases run (then the
// total is unknown). Read before Initialize() consumes the flags.
std::size_t repetitions_of_each(int argc, char** argv) {
  long repetitions = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_filter=", 19) == 0) return 0;
    if (std::strncmp(argv[i], "--benchmark_repetitions=", 24) == 0) {
      repetitions = std::strtol(argv[i] + 24, nullptr, 10);
    }
  }
  return repetitions > 0 ? static_cast<std::size_t>(repetitions) : 1;
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
  if (o.serve) {
    ServeConfig config;
    config.address = *o.serve;
    config.watchdog = o.watchdog;
    if (o.cpus_given) config.cpu = o.cpus.consumer;
    config.on_listening = [&](std::uint16_t port) {
      HostPort at = *o.serve;
      at.port = port;
      std::printf(
          "ipcbench --serve: listening on %s (protocol version %d), one client at a "
          "time; Ctrl-C or SIGTERM ends it\n",
          at.text().c_str(), kPeerProtocolVersion);
      std::fflush(stdout);
    };
    try {
      return serve(config);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ipcbench: --serve=%s: %s\n", o.serve->text().c_str(), e.what());
      return 1;
    }
  }
  // --peer: the server is reached, and greets us, before anything else runs.
  std::unique_ptr<PeerClient> peer;
  if (o.peer) {
    try {
      peer = std::make_unique<PeerClient>(*o.peer, o.watchdog);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ipcbench: %s\n", e.what());
      return 1;
    }
    set_peer_client(peer.get());
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
  const std::size_t repetitions = repetitions_of_each(argc, argv);
  const std::string out_file = benchmark_out(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  if (!out_file.empty()) {
    try {
      open_histogram_file(out_file);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ipcbench: cannot write the histograms: %s\n", e.what());
      return 1;
    }
  }
  benchmark::AddCustomContext("ipcbench_transports", transports_json());

  benchmark::AddCustomContext("ipcbench_build_type", IPCBENCH_BUILD_TYPE);
  benchmark::AddCustomContext("ipcbench_git_revision", std::string(git_revision()));
  benchmark::AddCustomContext("ipcbench_cpus", "producer=cpu" + std::to_string(o.cpus.producer) +
                                                   " consumer=cpu" +
                                                   std::to_string(o.cpus.consumer));
  if (o.placements.empty()) {
    benchmark::AddCustomContext("ipcbench_placement",
                                o.cpus.same() ? "same_cpu" : "different_cpus");
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
  benchmark::AddCustomContext(
      "ipcbench_units",
      "RoundTrip time and *_ns: round trip (RTT) in ns; oneway_fwd_*_ns: one-way producer->"
      "consumer in ns; oneway_rev_*_ns: one-way consumer->producer in ns; oneway_*_ns: both "
      "directions' samples merged into one histogram; bytes_per_second: bytes/s; "
      "items_per_second: messages/s (RoundTrip: round trips/s, bytes counted both ways); lost "
      "round trips are counted in lost and kept out of every time and rate; cpu_ns_per_msg: CPU "
      "time (user + system) of the working thread of each side over its own timed part only, "
      "divided by the messages both sides sent in it (requests and replies, data and acks); "
      "budget_cut: 1 when the case's wall-time budget (ipcbench_case_budget_s) ended it early, "
      "measured_iterations then says how many of Google Benchmark's iterations were measured "
      "(the rest carry their mean); hist_id: this row's lines in the ipcbench_histograms file");
  benchmark::AddCustomContext("ipcbench_case_budget_s",
                              std::to_string(static_cast<double>(o.case_budget.count()) / 1000.0));
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
      "rtt_x_cacheline: rtt_burst_ns / cacheline_ns, on two CPUs only, at sizes up to 1 KiB, for "
      "transports that cannot lose. rtt_burst_ns: the RoundTrip's median over 16 samples of " +
          std::to_string(kBouncesPerSample) +
          " back-to-back round trips between one pair of clock reads, divided by " +
          std::to_string(kBouncesPerSample) +
          " (ns per round trip, replies checked after the clock); cacheline_ns: the median over "
          "the same 16 samples of one cache line bounced between the case's own producer and "
          "consumer, pinned to its two CPUs, right after each burst sample (" +
          std::to_string(PairPlan::kFloorWarmupBounces) + " untimed bounces, then " +
          std::to_string(kBouncesPerSample) +
          " back-to-back round trips between one pair of clock reads divided by " +
          std::to_string(kBouncesPerSample) +
          ", ns per round trip), so that the floor and the round trip are measured in the same "
          "milliseconds; two_line_ns and rtt_x_two_line: the same with two lines, each written by "
          "one process and read by the other (Limit/two_line_rtt), the least a round trip over "
          "two one-way channels can cost, " +
          std::to_string(kSamplesNow) +
          " samples bounced by two processes forked right after the case. "
          "Absent when both ends are on one CPU (a sched_yield ping-pong there, not a cache-line "
          "floor: Limit/yield_pingpong) or when the bounce failed. fraction_of_memcpy: Stream "
          "bytes_per_second / Limit/memcpy bytes_per_second at the same size, as measured earlier "
          "in this run, absent when it did not run (a copy within one core's cache, not a floor "
          "for a stream between two cores). fraction_of_floor: Stream bytes_per_second / "
          "floor_bytes_per_second, on two CPUs only; floor_bytes_per_second: the cross-core copy "
          "(Limit/cross_core_copy) at the case's size on the case's own two CPUs, measured right "
          "after the case: a process on the producer's CPU streams n-byte messages to one on the "
          "consumer's through a ring of " +
          std::to_string(kCopyRingBytes >> 10) + " KiB in shared memory (pieces of at most " +
          std::to_string(kCopyPieceBytes >> 10) +
          " KiB), writing each with plain stores and publishing it with a sequence word in its "
          "slot, while the reader sums and checks every byte of the ones before and hands slots "
          "back a quarter of the ring at a time: writer and reader overlap, and nothing moves "
          "that a stream of n-byte messages would not also move, so it is an upper bound for "
          "such a stream; n / the median over " +
          std::to_string(kCopySamplesNow) +
          " samples of (floor_handovers_per_sample messages between one pair of the writer's "
          "clock reads / floor_handovers_per_sample), plain bytes/s; floor_handovers_per_sample "
          "is 1 MiB / n, at least 8, at most 16384. Absent on "
          "one CPU (Limit/same_cpu_copy there, not a floor) or when the copy failed");
  if (peer) {
    const PeerInfo& info = peer->info();
    benchmark::AddCustomContext("ipcbench_peer_address", info.address);
    benchmark::AddCustomContext("ipcbench_peer_kernel", info.kernel);
    benchmark::AddCustomContext("ipcbench_peer_cpu_model", info.cpu_model);
    benchmark::AddCustomContext("ipcbench_peer_cpus", info.cpus);
    benchmark::AddCustomContext(
        "ipcbench_peer_units",
        "between two hosts: the producer runs here, the consumer on the --serve host; the two "
        "clocks differ, so no one-way time is reported, only round trips (this host's clock) and "
        "rates; only transports with a two-host form run (the others: one host only), in "
        "RoundTrip, Stream and Load; no hardware floor is measured (they are one host's); a "
        "reliable transport's case is never cut by its budget (the consumer on the other host "
        "could not learn of the cut before the message it applies to)");
  }
  // First: Google Benchmark runs in registration order, and the transport rows divide by these.
  // None between two hosts: the floors and the many-process patterns are one host's.
  if (!peer) register_limit_benchmarks(o);
  register_pair_benchmarks(o);
  if (o.patterns && !peer) register_pattern_benchmarks(o);
  register_load_benchmarks(o);
  set_case_budget(o.case_budget);
  start_heartbeat();
  progress_start(registered_cases() * repetitions);
  benchmark::RunSpecifiedBenchmarks(console ? console_reporter(o.all_counters) : nullptr);
  progress_clear();
  stop_heartbeat();
  if (!console) print_unsupported_to_stderr();
  benchmark::Shutdown();
  set_peer_client(nullptr);
  return 0;
}
