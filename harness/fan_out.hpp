// run_fan_out: one producer broadcasting to N consumers (the lecture's mailbox), a short driver
// over the launcher.
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

// One producer sending every message to N consumers: over N channels of `transport_id` (a kernel
// mailbox has one channel per reader), or for the shm ring transports over one broadcast ring
// (the transport's broadcast form) written once and read by all. Each round: the producer stamps
// the message, sends it to every consumer, and waits for every consumer's ack (on the ring: every
// consumer's tail has passed the message).
struct FanOutConfig {
  std::string transport_id;
  std::size_t message_bytes = 64;
  std::size_t consumers = 2;
  std::uint64_t iterations = 1000;  // messages broadcast
  int producer_cpu = 0;
  std::vector<int> consumer_cpus;  // consumer i runs on consumer_cpus[i % size]
  std::chrono::milliseconds watchdog{10'000};
  std::filesystem::path tmp_root;
};

struct FanOutResult {
  std::string design;  // "one broadcast ring, written once" or "one channel per consumer"
  std::vector<double> iteration_seconds;  // one broadcast round each (to the last ack)
  Histogram delivery;                     // one-way: stamp to the LAST consumer's receipt, ns
  Histogram round;                        // send to every consumer until the last ack, ns
  std::uint64_t delivered = 0;            // messages received and checked, all consumers
  std::uint64_t lost = 0, corrupt = 0, reordered = 0;
  double timed_seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
};

// A short driver over the launcher. Throws Unsupported for a case resolve() refuses,
// std::invalid_argument like run_pair, std::runtime_error "<transport>: <what>" if a consumer
// dies or hangs (it is named by index).
[[nodiscard]] FanOutResult run_fan_out(const FanOutConfig& config);

}  // namespace ipcbench
