// run_pairs: N independent pairs of one transport at once, a short driver over the launcher.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/histogram.hpp"
#include "harness/resolve.hpp"

namespace ipcbench {

// N pairs of `transport_id` doing round trips at the same time, started together by a barrier
// after each pair's handshake and warm-up. Pair i runs on cpus[i % cpus.size()] pairs of CPUs.
struct PairsConfig {
  std::string transport_id;
  std::size_t message_bytes = 64;
  std::size_t pairs = 2;
  std::uint64_t iterations = 1000;  // round trips per pair
  std::vector<CpuPair> cpus;        // empty: spread over the allowed CPUs (pattern_placement)
  std::chrono::milliseconds watchdog{10'000};
  std::filesystem::path tmp_root;
  std::uint64_t deadline_ns = 0;  // the case's budget: each pair ends at its next round trip after it
};

struct PairsResult {
  double wall_seconds = 0;         // from the barrier's release to the last pair's end
  std::uint64_t round_trips = 0;   // completed, all pairs
  Histogram rtt;                   // every round trip of every pair, ns
  std::uint64_t worst_p99_ns = 0;  // the highest per-pair p99
  std::size_t worst_pair = 0;
  std::uint64_t lost = 0, corrupt = 0, reordered = 0;
  std::size_t failed = 0;              // pairs that did not finish
  std::string failures;                // "pair 2: pipe: consumer[..] died: ...; ..."
  double cpu_seconds = 0;              // run_pair's, summed over the pairs that finished
  std::uint64_t context_switches = 0;  // likewise
  std::vector<std::string> placement;  // "pair 0: cpu0->cpu1" ...
  CpuSharing sharing;                  // whether two of the processes are pinned to one CPU
  bool cut = false;                    // a pair ended early at deadline_ns
};

// Forks one process per pair through the launcher, each running run_pair() with the launcher's
// barrier before timing. A pair that fails after the barrier is reported in `failed`/`failures`
// while the others finish; one that fails before it fails the run (std::runtime_error). Throws
// Unsupported for a case resolve() refuses (a size, or a spinner with fewer CPUs than
// processes). Blocks; reaps every child.
[[nodiscard]] PairsResult run_pairs(const PairsConfig& config);

}  // namespace ipcbench
