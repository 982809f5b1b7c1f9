// run_load: latency under a fixed offered load (the Load pattern), without coordinated omission:
// a short driver over the launcher (harness/launch.hpp) and the Load loops (harness/loops.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/histogram.hpp"
#include "harness/loops.hpp"
#include "harness/resolve.hpp"

namespace ipcbench {

// A message sent later than this after its due time is a late send: about one timer wake-up on a
// virtual machine, so a sender that keeps its schedule has few.
inline constexpr std::uint64_t kLateToleranceNs = 100'000;

struct LoadConfig {
  std::string transport_id;
  std::size_t message_bytes = 64;
  double rate = 1000;             // messages per second offered
  std::uint64_t messages = 1000;  // timed messages on the schedule
  std::uint64_t warmup = 0;       // closed-loop round trips before the schedule; 0: 100
  CpuPair cpus;                   // the producer's sender and the consumer (load_placement)
  std::chrono::milliseconds watchdog{10'000};
  std::filesystem::path tmp_root;  // empty: $TMPDIR or /tmp
  std::uint64_t deadline_ns = 0;   // CLOCK_MONOTONIC when the sender stops early (0: never)
  std::uint64_t late_tolerance_ns = kLateToleranceNs;
  // Tests: a fault the consumer acts out after its echo of message n (kKill and kStop are refused
  // for an in_process transport, whose consumer is a thread).
  Fault fault;
};

struct LoadResult {
  Histogram corrected;    // reply time - the message's due (intended send) time, ns
  Histogram uncorrected;  // reply time - its actual send time, ns
  double offered_per_second = 0;
  // Replies per second: replies over the time from the first message's due time to the last
  // reply. At a rate the transport keeps up with, the offered rate (within the schedule's
  // rounding); above it, what it can carry.
  double achieved_per_second = 0;
  double seconds = 0;                    // that time
  std::uint64_t sent = 0, received = 0;  // timed messages sent, replies received and checked
  std::uint64_t lost = 0;                // no reply (lossy transports: a receive timed out)
  std::uint64_t corrupt = 0, reordered = 0;
  std::uint64_t late_sends = 0;       // sent more than late_tolerance_ns after due
  std::uint64_t max_send_lag_ns = 0;  // the latest any message went after its due time
  bool cut = false;                   // the sender stopped at deadline_ns
  double cpu_seconds = 0;             // sender + receiver + consumer threads, timed part
  std::uint64_t context_switches = 0;
  std::vector<int> placement;  // sender, receiver, consumer CPUs
  CpuSharing sharing;          // of `placement`
  std::string checks;          // which checks applied to every message
};

// A lossy transport's receives give up after this: long beside a loopback round trip, short
// enough that the end of a run (the last receive must time out) costs little.
inline constexpr std::chrono::milliseconds kLoadLossyRecvTimeout{20};

// What the consumer of a Load run counted (LoadShared's counts, or the same sent across hosts).
struct LoadConsumerCounts {
  std::uint64_t received = 0, corrupt = 0, reordered = 0, cpu_ns = 0, context_switches = 0;
  static LoadConsumerCounts of(const LoadShared& s) noexcept {
    return {s.received, s.corrupt, s.reordered, s.cpu_ns, s.context_switches};
  }
};

// The parts of run_load() the two-host driver (harness/peer.hpp) shares with it: the plan from the
// config and the mechanism's capabilities (receiver_cpu and fault left to the caller), and what
// the two sides measured gathered into `result`.
[[nodiscard]] LoadPlan load_plan(const LoadConfig& config, const Capabilities& caps);
void gather_load_result(LoadResult& result, const LoadTally& producer,
                        const LoadConsumerCounts& consumer);

// Runs one Load case: resolve_load() on load_placement(config.cpus); two transport objects, one
// per direction (data down on one, echoes up on the other, so no object is used by two threads
// of one process); forks the consumer (a thread for an in_process transport) through the
// launcher; the warm-up; then the schedule. Blocks until every reply came or, lossy, the last
// receive after the schedule timed out. Throws Unsupported for what resolve_load() refuses,
// std::invalid_argument for a bad config, and std::runtime_error "<transport>: <what>" when
// anything fails; the consumer is always reaped.
[[nodiscard]] LoadResult run_load(const LoadConfig& config);

}  // namespace ipcbench
