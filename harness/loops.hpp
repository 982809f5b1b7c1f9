// The loops every pattern shares: the round trip with its sequence and payload checks, the
// sequence tracker, the injected faults, the CPU accounting, and the pair's echo, stream and
// producer loops built on them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness/bounce.hpp"
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
// Throws std::invalid_argument "<id>: a kill or stop fault acts on a process, ..." when `fault`
// would kill or stop a consumer that is a thread (`in_process`).
void require_process_fault(const std::string& id, const Fault& fault, bool in_process);

// CPU time (user + system, in ns from the CPU-time clocks) and context switches (voluntary +
// involuntary) so far, of the calling process, or with `thread` of the calling thread only (what
// the loops use: a side's working thread, never the watchdog's; and with both roles in one
// process each side counts its own, so nothing is counted twice).
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
  std::uint64_t end_ns = 0;     // CLOCK_MONOTONIC when the reply (or the timeout) came
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
    times.end_ns = t1;
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
  WakeCounts wakes;  // the consumer's transport's, once it is done (Transport::wake_counts)
};

// The pair's shared memory: the consumer's tally, and where the producer tells a reliable
// consumer to stop early.
struct PairShared {
  ConsumerTally tally;
  // The index of the consumer's last message (round trips: counting every message it receives,
  // the untimed ones first) or last batch (streams). Set before the run to the planned end; the
  // producer lowers it BEFORE sending that message or batch when the case's wall-time budget is
  // spent, so the consumer, which reads it after each one, stops right after it.
  std::atomic<std::uint64_t> last{UINT64_MAX};
  // The cache line the two sides bounce between the burst samples (PairPlan::burst_floor).
  BounceLines floor;
};

// The reliable channel beside a lossy transport's data path, as netperf, sockperf and iperf3 keep
// a control connection: a SOCK_SEQPACKET socket pair made before fork(). The start, end-of-batch,
// acknowledgement and stop messages travel here and only data over the lossy transport, so a lost
// datagram costs nothing but its own loss count (never a timeout and a resend of an end mark).
class ControlChannel {
 public:
  enum class Kind : std::uint64_t {
    kReady = 1,  // consumer -> producer: attached, the data may flow
    kEndBatch,   // producer -> consumer: batch `a` is sent, `b` data messages sent so far in all
    kAck,        // consumer -> producer: batch `a` is counted, its last data arrived at `b` (ns)
    kStop,       // producer -> consumer: no more data
  };
  struct Message {
    Kind kind = Kind::kStop;
    std::uint64_t a = 0, b = 0;
  };
  // Throws std::system_error when the socket pair cannot be made.
  ControlChannel();
  // Across hosts: `self`'s end is `connected_fd`, a stream socket to the other host's ipcbench
  // (its control connection, not owned), and the other end is there. The same messages, whole.
  ControlChannel(Role self, int connected_fd) noexcept;
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;
  // The producer uses end 0 and the consumer end 1 (a thread consumer shares the process).
  void send(Role from, const Message& m);
  // The next message for `to`, waiting at most `timeout` (0: only looks); nullopt if none came.
  [[nodiscard]] std::optional<Message> recv(Role to, std::chrono::microseconds timeout);
  // The next message for `to`, which must be of `kind` within `timeout`: throws std::system_error
  // (ETIMEDOUT or EPROTO) naming `what` otherwise.
  Message expect(Role to, Kind kind, std::chrono::milliseconds timeout, const char* what);

 private:
  int fds_[2] = {-1, -1};  // [0] the producer's end, [1] the consumer's
  bool owned_ = true;
};

// How the two sides of a pair run, agreed before fork().
struct PairPlan {
  Pattern pattern;
  Payload payload;
  std::size_t bytes;
  std::uint64_t iterations, warmup, batch;
  bool lossy;       // data may be lost: the control channel carries start, ends, acks and stop
  bool end_mark;    // a coalescing notification transport ends a batch with send_end()
  bool in_process;  // the consumer is a thread of this process
  Fault fault;
  // Round trips only: burst_samples samples of burst_k back-to-back round trips, each sample timed
  // by one pair of clock reads, before the barrier (0: none; never for lossy transports).
  std::uint64_t burst_k = 0, burst_samples = 0;
  // After each burst sample, the producer and the consumer bounce PairShared::floor: untimed
  // kFloorWarmupBounces, then burst_k bounces timed as the sample was (ProducerTally::floor_ns).
  // Both ends on two CPUs only (the spinners do not yield).
  bool burst_floor = false;
  static constexpr std::uint64_t kFloorWarmupBounces = 64;
  // CLOCK_MONOTONIC after which the producer ends at its next round trip or batch (0: never).
  std::uint64_t deadline_ns = 0;
  std::chrono::milliseconds control_timeout{10'000};  // the longest wait on the control channel

  // Messages the consumer of round trips receives before the timed ones: the handshake, the
  // warm-up, the bursts, and one more after the barrier (so no barrier wait is timed).
  [[nodiscard]] std::uint64_t untimed_round_trips() const noexcept {
    return 1 + warmup + burst_k * burst_samples + 1;
  }
};

// The consumer's part (it lives in shared memory when the consumer is a process). Throws what the
// transport throws; acts out plan.fault. `control` is required when plan.lossy.
void consume_round_trips(Transport& t, const PairPlan& plan, Framer& framer, PairShared& shared,
                         ControlChannel* control);
void consume_stream(Transport& t, const PairPlan& plan, Framer& framer, PairShared& shared,
                    ControlChannel* control);

// What the producer measured.
struct ProducerTally {
  std::vector<double> iteration_seconds;  // one per measured round trip or stream batch
  Histogram rtt;                          // round trip, ns
  Histogram oneway_rev;                   // one-way consumer->producer, ns (kBytes replies)
  std::vector<double> burst_ns;           // per burst sample: its round trips' time / burst_k
  std::vector<double> floor_ns;           // per burst sample: the bounces after it, ns per bounce
  std::uint64_t sent = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t timed_start_ns = 0, timed_end_ns = 0;  // CLOCK_MONOTONIC
  double cpu_seconds = 0;                              // the producer's own, over the timed part
  std::uint64_t context_switches = 0;
  bool cut = false;  // ended early by plan.deadline_ns (iteration_seconds is shorter than planned)
  WakeCounts wakes;  // the producer's transport's, once it is done (Transport::wake_counts)
};

// The producer's part: the handshake, warm-up and bursts, then `before_timing` (may be empty; may
// throw), one more untimed round trip, then the timed round trips (or batches), counting
// `progress` for the watchdog. Round trips of a lossy transport go on until `iterations` came
// back (at most twice as many tries): a lost one is counted lost, its timeout in no time. Throws
// what the transport throws, and std::system_error naming what timed out or arrived out of
// protocol.
void produce_round_trips(Transport& t, const PairPlan& plan, Framer& framer,
                         std::atomic<std::uint64_t>& progress, ProducerTally& out,
                         PairShared& shared, ControlChannel* control,
                         const std::function<void()>& before_timing);
void produce_stream(Transport& t, const PairPlan& plan, Framer& framer,
                    std::atomic<std::uint64_t>& progress, ProducerTally& out, PairShared& shared,
                    ControlChannel* control, const std::function<void()>& before_timing);

// ---- the Load pattern's loops: a fixed send schedule, each reply timed from when its message was
// due (corrected) and from when it was sent (uncorrected) ----

// How a Load run goes, agreed before fork(). The producer first makes `warmup` closed-loop round
// trips (the first is the handshake), then sends `messages` more on a fixed schedule: timed
// message k (sequence number warmup + k) is due at t0 + k / rate and carries that due time in its
// stamp. It never waits for a reply before sending the next; the producer's receiver thread takes
// the replies.
struct LoadPlan {
  std::size_t bytes = 64;
  std::uint64_t warmup = 10;
  std::uint64_t messages = 1000;
  double rate = 1000;  // messages per second offered
  bool lossy = false;  // replies may be lost: receives time out (TransportOptions::recv_timeout)
  bool in_process = false;
  // CLOCK_MONOTONIC after which the sender stops at its next message (0: never): the case's
  // wall-time budget. At least one timed message is always sent.
  std::uint64_t deadline_ns = 0;
  // A message sent later than this after its due time counts in late_sends.
  std::uint64_t late_tolerance_ns = 100'000;
  int receiver_cpu = -1;  // where the producer's receiver thread runs (-1: unpinned)
  Fault fault;            // acted out by the consumer after its echo of message n (tests)
};

// The Load run's shared memory (counts and flags, never message data).
struct LoadShared {
  // The sequence number of the last message the producer sends: set before the run to the planned
  // end; the sender lowers it BEFORE sending that message when the budget is spent, so a reliable
  // consumer, which reads it after each echo, stops right after it.
  std::atomic<std::uint64_t> last{UINT64_MAX};
  std::atomic<std::uint32_t> stop{0};  // a lossy consumer ends at its next receive timeout
  std::uint64_t received = 0, corrupt = 0, reordered = 0;  // the consumer's checks (timed part)
  std::uint64_t cpu_ns = 0, context_switches = 0;
};

// What the producer's two threads measured.
struct LoadTally {
  Histogram corrected;    // reply time - due time, ns
  Histogram uncorrected;  // reply time - actual send time, ns
  std::uint64_t sent = 0, replies = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t late_sends = 0;       // sent more than plan.late_tolerance_ns after due
  std::uint64_t max_send_lag_ns = 0;  // the latest send after its due time
  std::uint64_t t0_ns = 0;            // CLOCK_MONOTONIC when timed message 0 was due
  std::uint64_t last_send_ns = 0;     // when the last timed message was sent
  std::uint64_t last_reply_ns = 0;    // when the last timed reply came
  double cpu_seconds = 0;             // sender + receiver threads, timed part
  std::uint64_t context_switches = 0;
  bool cut = false;  // the sender stopped at plan.deadline_ns
};

// The consumer's part: receives every message on `down`, checks its sequence number and payload,
// and echoes it whole (the stamp included) on `up`. A reliable consumer ends after the message
// numbered shared.last; a lossy one at a receive timeout once shared.stop is set. Acts out
// plan.fault. Throws what the transports throw.
void consume_load(Transport& down, Transport& up, const LoadPlan& plan, Framer& framer,
                  LoadShared& shared);

// The producer's part: the warm-up round trips (send on `down`, reply on `up`), then the sender
// (this thread, on `down` only) and the receiver (a thread it starts, pinned to
// plan.receiver_cpu, on `up` only), counting `progress` for the watchdog. Each direction has its
// own transport object, so each object is used by one thread per process, as every transport's
// contract requires. Returns once every reply came (or, lossy, none came within the receive
// timeout after the last send). Throws what the transports throw (the receiver's failure is
// rethrown here, after it is joined). The watchdog interrupts only this thread: once it has
// (interrupted()), this thread interrupts the receiver the same way until it ends, so a receiver
// waiting on a dead peer that sends no end (a semaphore, a queue, a datagram socket) ends too.
void produce_load(Transport& down, Transport& up, const LoadPlan& plan, Framer& framer,
                  std::atomic<std::uint64_t>& progress, LoadTally& out, LoadShared& shared);

}  // namespace ipcbench
