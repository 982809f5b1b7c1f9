// Patterns with more than two processes: N independent pairs at once, and one producer
// broadcasting to N consumers (the lecture's mailbox).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/histogram.hpp"

namespace ipcbench {

// N pairs of `transport_id` doing round trips at the same time, started together by a barrier
// after each pair's handshake and warm-up. Pair i runs on cpus[i % cpus.size()] pairs of CPUs.
struct PairsConfig {
  std::string transport_id;
  std::size_t message_bytes = 64;
  std::size_t pairs = 2;
  std::uint64_t iterations = 1000;  // round trips per pair
  std::vector<CpuPair> cpus;        // empty: spread over the allowed CPUs
  std::chrono::milliseconds watchdog{10'000};
  std::filesystem::path tmp_root;
};

struct PairsResult {
  double wall_seconds = 0;           // from the barrier's release to the last pair's end
  std::uint64_t round_trips = 0;     // completed, all pairs
  Histogram rtt;                     // every round trip of every pair, ns
  std::uint64_t worst_p99_ns = 0;    // the highest per-pair p99
  std::size_t worst_pair = 0;
  std::uint64_t lost = 0, corrupt = 0, reordered = 0;
  std::size_t failed = 0;            // pairs that did not finish
  std::string failures;              // "pair 2: pipe: consumer[..] died: ...; ..."
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
  std::vector<std::string> placement;  // "pair 0: cpu0->cpu1" ...
};

// Forks one process per pair, each running run_pair() with a barrier before timing. A pair that
// fails is reported in `failed`/`failures` while the others finish. Blocks; reaps every child.
[[nodiscard]] PairsResult run_pairs(const PairsConfig& config);

// One producer sending every message to N consumers: over N channels of `transport_id` (a kernel
// mailbox has one channel per reader), or for the shm ring transports over one broadcast ring
// (transports/shm_broadcast.hpp) written once and read by all. Each round: the producer stamps
// the message, sends it to every consumer, and waits for every consumer's ack (on the ring: every
// consumer's tail has passed the message).
struct FanOutConfig {
  std::string transport_id;
  std::size_t message_bytes = 64;
  std::size_t consumers = 2;
  std::uint64_t iterations = 1000;   // messages broadcast
  int producer_cpu = 0;
  std::vector<int> consumer_cpus;    // consumer i runs on consumer_cpus[i % size]
  std::chrono::milliseconds watchdog{10'000};
  std::filesystem::path tmp_root;
};

struct FanOutResult {
  std::string design;  // "one broadcast ring, written once" or "one channel per consumer"
  std::vector<double> iteration_seconds;  // one broadcast round each (to the last ack)
  Histogram delivery;   // one-way: stamp to the LAST consumer's receipt, ns
  Histogram round;      // send to every consumer until the last ack, ns
  std::uint64_t delivered = 0;  // messages received and checked, all consumers
  std::uint64_t lost = 0, corrupt = 0, reordered = 0;
  double timed_seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
};

// Throws Unsupported / std::invalid_argument like run_pair, std::runtime_error
// "<transport>: <what>" if a consumer dies or hangs (it is named by index).
[[nodiscard]] FanOutResult run_fan_out(const FanOutConfig& config);

}  // namespace ipcbench
