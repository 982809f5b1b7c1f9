// The ipcbench command line: its own flags, parsed and checked before Google Benchmark's.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/peer.hpp"
#include "harness/topology.hpp"

namespace ipcbench {

struct BenchOptions {
  std::vector<std::size_t> sizes;       // message sizes in bytes, in the order given
  std::vector<std::string> transports;  // ids, in registry order unless given
  bool transports_given = false;        // --transports named them (else: all)
  // --rates: the Load cases' offered rates in messages per second, in the order given; empty: a
  // sweep from each transport's stream rate (bench/load.hpp).
  std::vector<std::uint64_t> rates;
  CpuPair cpus;
  bool cpus_given = false;
  std::vector<Placement> placements;  // --placement: run every pair case on each of these
  bool patterns = true;               // --patterns=off skips FanIn/FanOut/Pairs
  bool quick = false;
  bool list = false;
  bool all_counters = false;  // --counters=all: Google Benchmark's full console table
  bool help = false;
  std::chrono::milliseconds watchdog{10'000};
  // --case_budget: the wall time each repetition of a case may take, Google Benchmark's search
  // for an iteration count included (default: kFullBudget, or kQuickBudget with --quick).
  std::chrono::milliseconds case_budget{0};
  // --serve=ADDR:PORT: serve another host's --peer runs (no cases here); --peer=ADDR:PORT: run the
  // cases against that server (harness/peer.hpp).
  std::optional<HostPort> serve, peer;
};

inline constexpr std::chrono::milliseconds kFullBudget{10'000};
inline constexpr std::chrono::milliseconds kQuickBudget{2'000};

// The highest rate --rates takes: a message every 10 ns, already below what one clock read and one
// system call per message can keep (no transport here gets near it).
inline constexpr std::uint64_t kMaxRate = 100'000'000;

inline constexpr std::size_t kMaxMessageBytes = std::size_t{64} << 20;  // 64 MiB

// Removes ipcbench's own flags from argv (leaving argv[0] and Google Benchmark's flags) and returns
// them. Throws std::invalid_argument naming the bad flag and value.
[[nodiscard]] BenchOptions parse_bench_options(int& argc, char** argv);
[[nodiscard]] std::string bench_usage();

// The CPUs the many-process patterns spread over: the --cpus pair when given (one CPU when both
// are the same), else every allowed CPU. The first is the producer's or server's.
[[nodiscard]] std::vector<int> pattern_cpus(const BenchOptions& o);

}  // namespace ipcbench
