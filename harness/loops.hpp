// The loops every pattern shares: the round trip with its sequence and payload checks, the
// sequence tracker, the injected faults, the CPU accounting, and the pair's echo, stream and
// producer loops built on them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "harness/clock.hpp"
#include "harness/frame.hpp"
#include "harness/histogram.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// A fault a consumer or client injects into itself after `after_messages` messages (tests).
// kKill and kStop act on a process: refused (std::invalid_argument) for an in_process transport.
// kExit ends it (a thread: its body returns early); kHang stops it responding until the watchdog
// kills it (a process) or sets interrupted() (a thread); kDropReply: the consumer does not echo
// round trip `after_messages` (a lost reply, for transports that may lose).
struct Fault {
  enum class Kind { kNone, kKill, kStop, kExit, kDropReply, kHang };
  Kind kind = Kind::kNone;
  std::uint64_t after_messages = 0;
};

// Acts out `fault` when `count` == fault.after_messages (kDropReply is the caller's). `thread`:
// the caller is a peer thread, which throws to end early instead of _exit().
void inject_fault(const Fault& fault, std::uint64_t count, bool thread);

// CPU time (user + system) and context switches (voluntary + involuntary) so far, of the calling
// process, or with `thread` of the calling thread only (both roles in one process: each side
// counts its own thread, so the sum is not counted twice).
struct Usage {
  std::uint64_t cpu_ns = 0, switches = 0;
};
[[nodiscard]] Usage usage_now(bool thread = false);

// Counts sequence numbers as they arrive: gaps are losses, going back is reordering.
struct SeqTracker {
  std::uint64_t expected = 0;
  std::uint64_t lost = 0, reordered = 0;
  void see(std::uint64_t seq) noexcept {
    if (seq == expected) {
      ++expected;
    } else if (seq > expected) {
      lost += seq - expected;
      expected = seq + 1;
    } else {
      ++reordered;
      if (lost > 0) --lost;  // counted missing earlier, arrived late
    }
  }
  void end_at(std::uint64_t count) noexcept {  // the sender says `count` messages were sent
    if (count > expected) {
      lost += count - expected;
      expected = count;
    }
  }
};

// What the checks of the sending side of round trips found.
struct EchoChecks {
  std::uint64_t corrupt = 0;    // wrong sequence number or payload
  std::uint64_t reordered = 0;  // a late reply to an earlier round trip (reliable transports)
};

// What one round trip measured.
struct RoundTripTimes {
  std::uint64_t rtt_ns = 0;     // send to reply (to the timeout when lost)
  std::uint64_t oneway_ns = 0;  // the reply's one-way time, from its stamp
  bool stamped = false;         // oneway_ns was measured (a kBytes reply to this round trip)
};

// The one round trip of the suite: sends message `seq` (stamped now), receives until the reply
// to `seq` arrives, checks its sequence number and payload into `checks`. `send(span)` and
// `recv(span) -> Received` are the transport's. Returns false when the reply was lost (a
// kTimeout: transports that may lose). A late reply to an earlier round trip is skipped (and
// counted reordered unless `lossy`). kNothing transports carry no sequence: any reply is it.
template <typename Send, typename Recv>
[[nodiscard]] bool round_trip(Framer& framer, std::span<std::byte> in, std::uint64_t seq,
                              bool lossy, Send&& send, Recv&& recv, RoundTripTimes& times,
                              EchoChecks& checks) {
  const std::uint64_t t0 = now_ns();
  send(framer.data(seq, t0));
  while (true) {
    const Received got = recv(in);
    const std::uint64_t t1 = now_ns();
    times.rtt_ns = t1 - t0;
    times.oneway_ns = 0;
    times.stamped = false;
    if (got == Received::kTimeout) return false;
    if (framer.payload() == Payload::kNothing) return true;
    const std::uint64_t reply = Framer::seq_of(in);
    if (reply < seq) {  // a late reply to a round trip already counted lost
      if (!lossy) ++checks.reordered;
      continue;
    }
    if (reply != seq) {
      ++checks.corrupt;
      return true;
    }
    if (framer.payload() == Payload::kBytes) {
      times.oneway_ns = t1 - Framer::stamp_of(in);
      times.stamped = true;
    }
    if (!framer.payload_ok(in, seq)) ++checks.corrupt;
    return true;
  }
}

// The peer with the highest p99 of its own round trips: `histogram_of(i)` is peer i's histogram,
// or nullptr for a peer that did not finish (skipped). Ties go to the later peer.
struct WorstP99 {
  std::uint64_t p99_ns = 0;
  std::size_t index = 0;
};
template <typename HistogramOf>
[[nodiscard]] WorstP99 worst_p99(std::size_t peers, HistogramOf&& histogram_of) {
  WorstP99 worst;
  for (std::size_t i = 0; i < peers; ++i) {
    const Histogram* h = histogram_of(i);
    if (h == nullptr) continue;
    const std::uint64_t p99 = h->percentile(99);
    if (p99 >= worst.p99_ns) worst = {p99, i};
  }
  return worst;
}

// ---- the pair's loops (RoundTrip and Stream): the consumer's echo and receipt, the producer's
// round trips and batches ----

enum class Pattern {
  kRoundTrip,  // ping-pong: the producer (parent) sends, the consumer echoes the whole message
  kStream,     // the producer sends a batch back to back; the consumer checks all, acks the last
};

// What the consumer reports back through shared memory (counts, never message data).
struct ConsumerTally {
  Histogram oneway;  // producer -> consumer
  std::uint64_t received = 0, bytes = 0, lost = 0, corrupt = 0, reordered = 0, coalesced = 0;
  std::uint64_t cpu_ns = 0, context_switches = 0;
};

// How the two sides of a pair run, agreed before fork().
struct PairPlan {
  Pattern pattern;
  Payload payload;
  std::size_t bytes;
  std::uint64_t iterations, warmup, batch;
  bool lossy;       // receivers time out; ends and acks are retried
  bool end_mark;    // a coalescing notification transport ends a batch with send_end()
  bool in_process;  // the consumer is a thread of this process
  Fault fault;
};

// The consumer's part (it lives in shared memory when the consumer is a process). Throws what the
// transport throws; acts out plan.fault.
void consume_round_trips(Transport& t, const PairPlan& plan, Framer& framer, ConsumerTally& out);
void consume_stream(Transport& t, const PairPlan& plan, Framer& framer, ConsumerTally& out);

// What the producer measured.
struct ProducerTally {
  std::vector<double> iteration_seconds;  // one per timed round trip or stream batch
  Histogram rtt;                          // round trip, ns
  Histogram oneway_rev;                   // one-way consumer->producer, ns (kBytes replies)
  std::uint64_t sent = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t timed_start_ns = 0, timed_end_ns = 0;  // CLOCK_MONOTONIC
  double cpu_seconds = 0;                              // the producer's own, over the timed part
  std::uint64_t context_switches = 0;
};

// The producer's part: the handshake and warm-up, then `before_timing` (may be empty; may throw),
// then the timed round trips (or batches), counting `progress` for the watchdog. Throws what the
// transport throws, and std::system_error naming what timed out or arrived out of protocol.
void produce_round_trips(Transport& t, const PairPlan& plan, Framer& framer,
                         std::atomic<std::uint64_t>& progress, ProducerTally& out,
                         const std::function<void()>& before_timing);
void produce_stream(Transport& t, const PairPlan& plan, Framer& framer,
                    std::atomic<std::uint64_t>& progress, ProducerTally& out,
                    const std::function<void()>& before_timing);

}  // namespace ipcbench
