#include "harness/loops.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

// Thrown by a peer thread to end early (Fault::Kind::kExit).
struct PeerExit : std::runtime_error {
  PeerExit() : std::runtime_error("consumer thread ended early (injected fault)") {}
};

}  // namespace

void inject_fault(const Fault& fault, std::uint64_t count, bool thread) {
  if (fault.kind == Fault::Kind::kNone || count != fault.after_messages) return;
  switch (fault.kind) {
    case Fault::Kind::kKill:
      ::raise(SIGKILL);
      break;
    case Fault::Kind::kStop:
      ::raise(SIGSTOP);
      break;
    case Fault::Kind::kExit:
      if (thread) throw PeerExit();
      ::_exit(7);
    case Fault::Kind::kHang:
      while (!interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      throw_if_interrupted("consumer", "injected hang");
      break;
    case Fault::Kind::kNone:
    case Fault::Kind::kDropReply:  // the caller's: it does not send the reply
      break;
  }
}

Usage usage_now(bool thread) {
  rusage ru{};
  ::getrusage(thread ? RUSAGE_THREAD : RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(tv.tv_usec) * 1000u;
  };
  return {ns(ru.ru_utime) + ns(ru.ru_stime),
          static_cast<std::uint64_t>(ru.ru_nvcsw) + static_cast<std::uint64_t>(ru.ru_nivcsw)};
}

namespace {

constexpr int kEndRetries = 50;  // times recv_timeout: how long a lost end mark is retried

class Producer {
 public:
  Producer(Transport& t, const PairPlan& plan, Framer& framer, std::atomic<std::uint64_t>& progress,
           ProducerTally& result, const std::function<void()>& before_timing)
      : t_(t),
        plan_(plan),
        framer_(framer),
        progress_(progress),
        r_(result),
        in_(plan.bytes),
        before_timing_(before_timing) {}

  void round_trips() {
    std::uint64_t seq = 0;
    for (std::uint64_t i = 0; i < 1 + plan_.warmup; ++i) {  // handshake, then warm-up
      int tries = 0;
      while (!round_trip(seq, nullptr)) {
        if (++tries > kEndRetries) throw_sys_error(ETIMEDOUT, "recv", "handshake reply");
      }
      ++seq;
      progress_.fetch_add(1, std::memory_order_relaxed);
    }
    r_.iteration_seconds.reserve(plan_.iterations);
    if (before_timing_) before_timing_();
    r_.timed_start_ns = now_ns();
    const Usage start = usage_now(plan_.in_process);
    for (std::uint64_t i = 0; i < plan_.iterations; ++i, ++seq) {
      std::uint64_t rtt = 0;
      const bool ok = round_trip(seq, &rtt);
      r_.iteration_seconds.push_back(static_cast<double>(rtt) * 1e-9);
      if (!ok) {
        ++r_.lost;
        continue;
      }
      r_.rtt.record(rtt);
      progress_.store(seq + 1, std::memory_order_relaxed);
    }
    r_.timed_end_ns = now_ns();
    const Usage end = usage_now(plan_.in_process);
    r_.cpu_seconds = static_cast<double>(end.cpu_ns - start.cpu_ns) * 1e-9;
    r_.context_switches = end.switches - start.switches;
    r_.sent = plan_.iterations;
    if (plan_.lossy) finish_lossy(kEndFlag, plan_.bytes, in_.size());
  }

  void stream() {
    std::uint64_t seq = 0;
    r_.iteration_seconds.reserve(plan_.iterations);
    Usage start{};
    for (std::uint64_t b = 0; b < 1 + plan_.iterations; ++b) {
      if (b == 1) {
        if (before_timing_) before_timing_();
        r_.timed_start_ns = now_ns();
        start = usage_now(plan_.in_process);
      }
      const std::uint64_t t0 = now_ns();
      for (std::uint64_t k = 0; k < plan_.batch; ++k, ++seq) t_.send(framer_.data(seq, t0));
      std::uint64_t last_receipt = 0;
      if (plan_.lossy) {
        last_receipt = finish_lossy(kEndFlag | b, plan_.bytes, framer_.ack_bytes(), seq);
      } else {
        if (plan_.end_mark) t_.send_end();
        wait_ack(b);
      }
      // A lossy batch ends when its last datagram was received (the consumer's stamp, same
      // clock): the end-mark handshake and its retries are not the transport's throughput.
      const std::uint64_t t1 = last_receipt > t0 ? last_receipt : now_ns();
      if (b >= 1) r_.iteration_seconds.push_back(static_cast<double>(t1 - t0) * 1e-9);
      progress_.fetch_add(1, std::memory_order_relaxed);
    }
    r_.timed_end_ns = now_ns();
    const Usage end = usage_now(plan_.in_process);
    r_.cpu_seconds = static_cast<double>(end.cpu_ns - start.cpu_ns) * 1e-9;
    r_.context_switches = end.switches - start.switches;
    r_.sent = plan_.iterations * plan_.batch;
  }

 private:
  // One ping-pong through the suite's one round trip; false if the reply was lost (lossy
  // transports). rtt_ns gets the round trip; a timed one records the reply's one-way time.
  bool round_trip(std::uint64_t seq, std::uint64_t* rtt_ns) {
    RoundTripTimes times;
    EchoChecks checks;
    const bool ok = ipcbench::round_trip(
        framer_, in_, seq, plan_.lossy, [this](std::span<const std::byte> m) { t_.send(m); },
        [this](std::span<std::byte> m) { return t_.recv(m); }, times, checks);
    r_.corrupt += checks.corrupt;
    r_.reordered += checks.reordered;
    if (rtt_ns != nullptr) {
      *rtt_ns = times.rtt_ns;
      if (ok && times.stamped) r_.oneway_rev.record(times.oneway_ns);
    }
    return ok;
  }

  void wait_ack(std::uint64_t batch) {
    std::span<std::byte> ack(in_.data(), framer_.ack_bytes());
    if (t_.recv(ack) != Received::kMessage) throw_sys_error(EPROTO, "recv", "ack");
    if (plan_.payload != Payload::kNothing && Framer::seq_of(ack) != (kAckFlag | batch)) {
      throw_sys_error(EPROTO, "recv", "ack of batch " + std::to_string(batch));
    }
  }

  // Sends an end mark until its ack arrives (a lost datagram is retried, never waited on forever)
  // and returns the ack's argument. If the consumer is already gone after a first try (it acked
  // the last end mark and exited, and that ack was lost: the port now refuses), returns 0; the
  // consumer's exit status, checked by run_pair, tells whether it ended well.
  std::uint64_t finish_lossy(std::uint64_t mark, std::size_t mark_bytes, std::size_t ack_bytes,
                             std::uint64_t arg = 0) {
    const std::uint64_t want = kAckFlag | (mark & ~kFlagMask);
    for (int tries = 0; tries < kEndRetries; ++tries) {
      try {
        t_.send(framer_.control(mark, arg, mark_bytes));
        while (true) {
          std::span<std::byte> slot(in_.data(), ack_bytes);
          const Received got = t_.recv(slot);
          if (got == Received::kTimeout) break;
          const std::uint64_t seq = Framer::seq_of(slot);
          if (seq == want) return Framer::stamp_of(slot);
          // a late echo or an old ack: keep waiting
        }
      } catch (const std::system_error& e) {
        if (tries == 0 || e.code().value() != ECONNREFUSED) throw;
        return 0;
      }
    }
    throw_sys_error(ETIMEDOUT, "recv",
                    "ack of end mark (lost " + std::to_string(kEndRetries) + " times)");
  }

  Transport& t_;
  const PairPlan& plan_;
  Framer& framer_;
  std::atomic<std::uint64_t>& progress_;
  ProducerTally& r_;
  std::vector<std::byte> in_;
  const std::function<void()>& before_timing_;
};

}  // namespace

void consume_round_trips(Transport& t, const PairPlan& plan, Framer& framer, ConsumerTally& out) {
  std::vector<std::byte> buf(plan.bytes);
  const std::uint64_t untimed = 1 + plan.warmup;
  const std::uint64_t total = untimed + plan.iterations;
  Usage start{};
  SeqTracker seqs;
  for (std::uint64_t i = 0; plan.lossy || i < total; ++i) {
    if (i == untimed) start = usage_now(plan.in_process);
    const Received got = t.recv(buf);
    if (got == Received::kTimeout) {
      --i;  // nothing arrived; the producer retries or ends
      continue;
    }
    const bool timed = i >= untimed;
    const bool drop =
        plan.fault.kind == Fault::Kind::kDropReply && i + 1 == plan.fault.after_messages;
    std::uint64_t seq = 0;
    if (plan.payload == Payload::kBytes) {
      seq = Framer::seq_of(buf);
      if (seq & kEndFlag) {  // lossy transports only: the producer is done
        t.send(framer.control(kAckFlag, 0, plan.bytes));
        break;
      }
      const std::uint64_t now = now_ns();
      if (timed) out.oneway.record(now - Framer::stamp_of(buf));
      Framer::set_stamp(buf, now);
      if (!drop) t.send(buf);
    } else if (plan.payload == Payload::kWord) {
      seq = Framer::seq_of(buf);
      if (!drop) t.send(buf);
    } else if (!drop) {
      t.send(buf);
    }
    // Checked after the echo is on its way, so the check overlaps the producer's own.
    if (plan.payload != Payload::kNothing) {
      if (timed) seqs.see(seq);
      if (!framer.payload_ok(buf, seq)) ++out.corrupt;
    }
    if (timed) {
      ++out.received;
      out.bytes += plan.bytes;
    }
    inject_fault(plan.fault, i + 1, plan.in_process);
  }
  const Usage end = usage_now(plan.in_process);
  out.cpu_ns = end.cpu_ns - start.cpu_ns;
  out.context_switches = end.switches - start.switches;
  out.reordered = seqs.reordered;
}

void consume_stream(Transport& t, const PairPlan& plan, Framer& framer, ConsumerTally& out) {
  std::vector<std::byte> buf(plan.bytes);
  const std::uint64_t batches = 1 + plan.iterations;  // batch 0 is the handshake and warm-up
  Usage start{};
  SeqTracker seqs;
  std::uint64_t received_total = 0;
  // Lossy transports: when the last data message of a batch arrived. The ack carries it, so the
  // producer stops the clock there rather than after end-mark retries (the receive rate).
  std::uint64_t last_data_ns = 0, previous_last_data_ns = 0;
  for (std::uint64_t b = 0; b < batches; ++b) {
    if (b == 1) {
      start = usage_now(plan.in_process);
      seqs = SeqTracker{seqs.expected};
    }
    const bool timed = b >= 1;
    std::uint64_t got_in_batch = 0;
    previous_last_data_ns = last_data_ns;
    last_data_ns = 0;
    while (true) {
      if (!plan.lossy && !plan.end_mark && got_in_batch == plan.batch) break;
      const Received got = t.recv(buf);
      if (got == Received::kTimeout) continue;  // the producer resends its end mark
      if (got == Received::kEnd) break;         // end_mark transports
      if (plan.payload != Payload::kNothing) {
        const std::uint64_t seq = Framer::seq_of(buf);
        if (seq & kEndFlag) {
          const std::uint64_t batch = seq & ~kFlagMask;
          if (batch < b) {  // our ack was lost: the producer asks again
            const std::uint64_t when = batch + 1 == b ? previous_last_data_ns : 0;
            t.send(framer.control(kAckFlag | batch, when, framer.ack_bytes()));
            continue;
          }
          seqs.end_at(Framer::stamp_of(buf));
          break;
        }
        if (plan.lossy) last_data_ns = now_ns();
        seqs.see(seq);
        if (!framer.payload_ok(buf, seq)) ++out.corrupt;
      }
      ++got_in_batch;
      ++received_total;
      inject_fault(plan.fault, received_total, plan.in_process);
    }
    if (timed) {
      out.received += got_in_batch;
      out.bytes += got_in_batch * plan.bytes;
      if (plan.end_mark && got_in_batch < plan.batch) out.coalesced += plan.batch - got_in_batch;
    }
    t.send(framer.control(kAckFlag | b, last_data_ns, framer.ack_bytes()));
  }
  const Usage end = usage_now(plan.in_process);
  out.cpu_ns = end.cpu_ns - start.cpu_ns;
  out.context_switches = end.switches - start.switches;
  out.lost = seqs.lost;
  out.reordered = seqs.reordered;
}

void produce_round_trips(Transport& t, const PairPlan& plan, Framer& framer,
                         std::atomic<std::uint64_t>& progress, ProducerTally& out,
                         const std::function<void()>& before_timing) {
  Producer(t, plan, framer, progress, out, before_timing).round_trips();
}

void produce_stream(Transport& t, const PairPlan& plan, Framer& framer,
                    std::atomic<std::uint64_t>& progress, ProducerTally& out,
                    const std::function<void()>& before_timing) {
  Producer(t, plan, framer, progress, out, before_timing).stream();
}

}  // namespace ipcbench
