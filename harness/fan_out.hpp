// run_fan_out: one producer broadcasting to N consumers (the lecture's mailbox), a short driver
// over the launcher.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/frame.hpp"
#include "harness/histogram.hpp"
#include "harness/loops.hpp"
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
  std::vector<int> cpus;            // empty: allowed_cpus(); the producer on cpus[0], consumer i on
                                    // cpus[(i + 1) % cpus.size()] (pattern_placement)
  std::chrono::milliseconds watchdog{10'000};
  std::filesystem::path tmp_root;
};

struct FanOutResult {
  std::string design;          // "one broadcast ring, written once" or "one channel per consumer"
  std::vector<int> placement;  // the producer's CPU, then consumer i's
  CpuSharing sharing;          // whether two of the processes are pinned to one CPU
  std::vector<double> iteration_seconds;  // one broadcast round each (to the last ack)
  Histogram delivery;                     // one-way: stamp to the LAST consumer's receipt, ns
  Histogram round;                        // send to every consumer until the last ack, ns
  std::uint64_t delivered = 0;            // timed messages received and checked, all consumers
  std::uint64_t lost = 0;                 // sequence numbers that never arrived, warm-up included
  std::uint64_t corrupt = 0;              // wrong payload, warm-up included
  std::uint64_t reordered = 0;            // an older sequence number after a newer one
  double timed_seconds = 0;
  // User + system CPU time and context switches of the producer's and every consumer's working
  // thread over its own timed part. They move 2 * delivered messages: each consumer's copy of a
  // message and its ack (on the broadcast ring, the consumer's tail release).
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
};

// What one consumer found, as it reports it.
struct FanOutCounts {
  std::uint64_t delivered = 0, lost = 0, corrupt = 0, reordered = 0;
};

// A consumer's check of every message it receives: the sequence number (a gap is lost, going
// back is reordered, as Stream counts them: SeqTracker) and every payload byte; a timed message
// is counted delivered. Local to the consumer: no allocation, no system call.
class FanOutChecks {
 public:
  void see(const Framer& framer, std::span<const std::byte> msg, bool timed) noexcept {
    const std::uint64_t seq = Framer::seq_of(msg);
    seqs_.see(seq);
    if (!framer.payload_ok(msg, seq)) ++corrupt_;
    if (timed) ++delivered_;
  }
  // The counts once the producer has sent `sent` messages (warm-up included): any not seen by
  // then are lost.
  [[nodiscard]] FanOutCounts counts(std::uint64_t sent) const noexcept {
    SeqTracker seqs = seqs_;
    seqs.end_at(sent);
    return {delivered_, seqs.lost, corrupt_, seqs.reordered};
  }

 private:
  SeqTracker seqs_;
  std::uint64_t delivered_ = 0, corrupt_ = 0;
};

// A short driver over the launcher. Throws Unsupported for a case resolve() refuses,
// std::invalid_argument like run_pair, std::runtime_error "<transport>: <what>" if a consumer
// dies or hangs (it is named by index).
[[nodiscard]] FanOutResult run_fan_out(const FanOutConfig& config);

}  // namespace ipcbench
