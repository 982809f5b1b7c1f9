// run_pair: one producer/consumer pair over one transport (RoundTrip and Stream), a short driver
// over the launcher (harness/launch.hpp) and the loops (harness/loops.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/histogram.hpp"
#include "harness/loops.hpp"
#include "harness/resolve.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

[[nodiscard]] std::string_view pattern_name(Pattern pattern) noexcept;  // "RoundTrip", "Stream"

struct PairConfig {
  std::string transport_id;
  Pattern pattern = Pattern::kRoundTrip;
  std::size_t message_bytes = 64;
  std::uint64_t iterations = 1000;             // timed round trips, or timed stream batches
  CpuPair cpus;                                // producer (parent) and consumer (child) CPUs
  std::chrono::milliseconds watchdog{10'000};  // no progress for this long: the peer is killed
  std::filesystem::path tmp_root;              // empty: $TMPDIR or /tmp
  std::uint64_t warmup = 0;  // untimed round trips before timing; 0: chosen from the size
  std::uint64_t batch = 0;   // messages per stream batch; 0: chosen from the size
  Fault fault;
  // Called by the producer after the handshake and warm-up, right before timing starts (the
  // many-pairs pattern waits on a barrier here). May throw to abort the run.
  std::function<void()> before_timing;
  std::size_t recv_buffer_bytes = 0;  // tests only: see TransportOptions::recv_buffer_bytes
  // CLOCK_MONOTONIC after which the producer ends at its next round trip or batch (0: never):
  // the case's wall-time budget. At least one timed round trip or batch is always measured.
  std::uint64_t deadline_ns = 0;
  // Round trips of transports that cannot lose: burst_samples samples of burst_k back-to-back
  // round trips each timed by one pair of clock reads (PairResult::rtt_burst_ns); 0: none.
  std::uint64_t burst_k = 0, burst_samples = 0;
  // With bursts, on two CPUs: after each burst sample the two sides bounce a cache line of their
  // own burst_k times, timed alike (PairResult::cacheline_ns): the round trip's floor, measured
  // in the same milliseconds as the round trips it judges. Ignored on one CPU.
  bool burst_floor = false;
};

struct PairResult {
  // One per measured round trip (a lost one has none) or stream batch. Shorter than planned when
  // `cut`, or when a lossy transport lost so many that twice the planned tries ran out.
  std::vector<double> iteration_seconds;
  Histogram rtt;            // round trip, ns (round trip only)
  Histogram oneway;         // one-way latency, ns, both directions merged (round trip, kBytes only)
  Histogram oneway_fwd;     // one-way producer->consumer, ns (the consumer's receipts)
  Histogram oneway_rev;     // one-way consumer->producer, ns (the producer's receipts)
  std::uint64_t batch = 0;  // messages per stream batch
  std::uint64_t sent = 0;   // timed data messages (round trips: requests) sent by the producer
  std::uint64_t received = 0;        // timed data messages received and checked
  std::uint64_t bytes_received = 0;  // their bytes
  std::uint64_t lost = 0;            // missing by sequence gap or timeout (may_lose only)
  std::uint64_t corrupt = 0;         // wrong payload or size, warm-up included
  std::uint64_t reordered = 0;       // arrived after a later sequence number
  std::uint64_t coalesced = 0;       // sent but merged into another delivery (standard signals)
  double timed_seconds = 0;          // sum of iteration_seconds
  // CPU time (user + system) of the two working threads, each over its own timed part only (no
  // warm-up, barrier, watchdog thread, teardown), and their context switches.
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
  // Messages both sides sent in the timed part: requests and replies, or data and batch acks.
  std::uint64_t messages = 0;
  double rtt_burst_ns = 0;  // median over the burst samples of (sample time / burst_k), ns
  std::uint64_t burst_k = 0, burst_samples = 0;
  // With PairConfig::burst_floor: the median over the burst samples of the cache-line bounce timed
  // right after each (ns per bounce, burst_k bounces per pair of clock reads), and how many.
  double cacheline_ns = 0;
  std::uint64_t floor_samples = 0;
  bool cut = false;                  // ended early by deadline_ns
  std::string checks;                // which checks applied to every message
  std::uint64_t timed_start_ns = 0;  // CLOCK_MONOTONIC when timing began and ended (producer)
  std::uint64_t timed_end_ns = 0;
  // Between two hosts (--peer): the two clocks differ, so no one-way time was measured (the
  // one-way histograms are empty) and only round trips and rates are reported.
  bool across_hosts = false;
  // Both sides' waits, warm-up included (Transport::wake_counts; counted only by notification
  // mechanisms that count them: eventfd, eventfd_sem).
  WakeCounts wakes;
};

// Forks the consumer (or, for an in_process transport, starts it as a thread) through the
// launcher, pins both, attaches, handshakes, warms up, then runs the timed part. Blocks until
// done. Throws Unsupported for a size resolve() refuses,
// std::invalid_argument for an unknown transport, and std::runtime_error "<transport>: <what>"
// when anything fails (the peer died, hung, or a call failed); the child is always reaped.
[[nodiscard]] PairResult run_pair(const PairConfig& config);

// The parts of run_pair() the two-host driver (harness/peer.hpp) shares with it: the plan both
// sides run from the config and the mechanism's capabilities; the consumer's planned last index
// (PairShared::last); and what the two sides measured gathered into `result` (timed seconds and
// messages included).
[[nodiscard]] PairPlan pair_plan(const PairConfig& config, const Capabilities& caps);
[[nodiscard]] std::uint64_t planned_last(const PairPlan& plan) noexcept;
void gather_pair_result(PairResult& result, ProducerTally& producer, const ConsumerTally& consumer,
                        const PairPlan& plan);

// Defaults the harness uses when PairConfig leaves them 0.
[[nodiscard]] std::uint64_t default_warmup(std::size_t message_bytes) noexcept;
[[nodiscard]] std::uint64_t default_batch(std::size_t message_bytes) noexcept;

}  // namespace ipcbench
