#include "harness/loops.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/cpus.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

// Thrown by a peer thread to end early (Fault::Kind::kExit).
struct PeerExit : std::runtime_error {
  PeerExit() : std::runtime_error("consumer thread ended early (injected fault)") {}
};

}  // namespace

void require_process_fault(const std::string& id, const Fault& fault, bool in_process) {
  if (in_process && (fault.kind == Fault::Kind::kKill || fault.kind == Fault::Kind::kStop)) {
    throw std::invalid_argument(id +
                                ": a kill or stop fault acts on a process, and the consumer of "
                                "an in_process transport is a thread");
  }
}

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
  // The CPU time from the scheduler's own nanosecond count (the CPU-time clocks): getrusage's
  // user/system split is sampled at ticks and adjusted to stay monotonic, so over a few
  // milliseconds it can read 0. Context switches only come from getrusage.
  timespec ts{};
  ::clock_gettime(thread ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID, &ts);
  rusage ru{};
  ::getrusage(thread ? RUSAGE_THREAD : RUSAGE_SELF, &ru);
  return {static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
              static_cast<std::uint64_t>(ts.tv_nsec),
          static_cast<std::uint64_t>(ru.ru_nvcsw) + static_cast<std::uint64_t>(ru.ru_nivcsw)};
}

// ---- the control channel ----

ControlChannel::ControlChannel() {
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds_) != 0) {
    throw_sys_error(errno, "socketpair", "control channel");
  }
}

ControlChannel::ControlChannel(Role self, int connected_fd) noexcept : owned_(false) {
  fds_[self == Role::kProducer ? 0 : 1] = connected_fd;
}

ControlChannel::~ControlChannel() {
  if (!owned_) return;
  for (int fd : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

void ControlChannel::send(Role from, const Message& m) {
  const int fd = fds_[from == Role::kProducer ? 0 : 1];
  // Whole: a stream socket (across hosts) may take a message in parts.
  const auto* bytes = reinterpret_cast<const char*>(&m);
  std::size_t done = 0;
  while (done < sizeof m) {
    const ssize_t n = ::send(fd, bytes + done, sizeof m - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EINTR) throw_sys_error(errno, "send", "control channel");
      throw_if_interrupted("send", "control channel");
      continue;
    }
    done += static_cast<std::size_t>(n);
  }
}

std::optional<ControlChannel::Message> ControlChannel::recv(Role to,
                                                            std::chrono::microseconds timeout) {
  const int fd = fds_[to == Role::kProducer ? 0 : 1];
  pollfd p{fd, POLLIN, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left =
        std::max(std::chrono::nanoseconds(0), std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                  deadline - std::chrono::steady_clock::now()));
    const timespec ts{static_cast<time_t>(left.count() / 1'000'000'000),
                      static_cast<long>(left.count() % 1'000'000'000)};
    const int ready = ::ppoll(&p, 1, &ts, nullptr);
    if (ready < 0 && errno != EINTR) throw_sys_error(errno, "poll", "control channel");
    if (ready > 0) break;
    throw_if_interrupted("recv", "control channel");
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
  }
  Message m;
  // MSG_WAITALL: a stream socket (across hosts) may deliver a message in parts.
  ssize_t n = 0;
  do {
    n = ::recv(fd, &m, sizeof m, MSG_WAITALL);
  } while (n < 0 && errno == EINTR && !interrupted());
  if (n == 0) throw_sys_error(ECONNRESET, "recv", "control channel (the peer is gone)");
  if (n != static_cast<ssize_t>(sizeof m)) {
    throw_sys_error(n < 0 ? errno : EPROTO, "recv", "control channel");
  }
  return m;
}

ControlChannel::Message ControlChannel::expect(Role to, Kind kind,
                                               std::chrono::milliseconds timeout,
                                               const char* what) {
  const std::optional<Message> m = recv(to, std::chrono::microseconds(timeout));
  if (!m) {
    throw_sys_error(ETIMEDOUT, "recv",
                    std::string(what) + " on the control channel within " +
                        std::to_string(timeout.count()) + " ms");
  }
  if (m->kind != kind) {
    throw_sys_error(EPROTO, "recv",
                    std::string(what) + " on the control channel (got message kind " +
                        std::to_string(static_cast<std::uint64_t>(m->kind)) + ")");
  }
  return *m;
}

namespace {

void require_control(const PairPlan& plan, ControlChannel* control) {
  if (plan.lossy && control == nullptr) {
    throw std::invalid_argument("a lossy transport's pair needs the control channel");
  }
}

class Producer {
 public:
  Producer(Transport& t, const PairPlan& plan, Framer& framer, std::atomic<std::uint64_t>& progress,
           ProducerTally& result, PairShared& shared, ControlChannel* control,
           const std::function<void()>& before_timing)
      : t_(t),
        plan_(plan),
        framer_(framer),
        progress_(progress),
        r_(result),
        shared_(shared),
        control_(control),
        in_(plan.bytes),
        before_timing_(before_timing) {}

  void round_trips() {
    require_control(plan_, control_);
    if (plan_.lossy)
      (void)control_->expect(Role::kProducer, ControlChannel::Kind::kReady, plan_.control_timeout,
                             "consumer ready");
    std::uint64_t seq = 0;
    // The handshake and the warm-up: a lossy transport's lost one is simply not repeated (the
    // consumer is known to be there: it said so on the control channel).
    for (std::uint64_t i = 0; i < 1 + plan_.warmup; ++i, ++seq) {
      RoundTripTimes times;
      (void)round_trip(seq, times, false);
      progress_.fetch_add(1, std::memory_order_relaxed);
    }
    bursts(seq);
    if (before_timing_) before_timing_();
    // One more round trip after the barrier: the consumer's wait through it is not timed.
    {
      RoundTripTimes times;
      (void)round_trip(seq++, times, false);
    }
    r_.iteration_seconds.reserve(plan_.iterations);
    const std::uint64_t first = seq;  // the consumer's index of the first timed message
    r_.timed_start_ns = now_ns();
    const Usage start = usage_now(true);
    std::uint64_t done = 0, tries = 0, last_end = r_.timed_start_ns;
    // A lossy transport tries until `iterations` came back, at most twice as many times.
    const std::uint64_t most = plan_.lossy ? 2 * plan_.iterations : plan_.iterations;
    while (done < plan_.iterations && tries < most) {
      // The budget is looked at before a round trip: a reliable consumer learns that this one is
      // its last before it is sent. A lossy one goes on until one comes back.
      const bool final = plan_.deadline_ns != 0 && last_end >= plan_.deadline_ns;
      if (final) {
        r_.cut = true;
        if (!plan_.lossy) shared_.last.store(seq, std::memory_order_seq_cst);
      }
      RoundTripTimes times;
      const bool ok = round_trip(seq, times, true);
      ++seq;
      ++tries;
      last_end = times.end_ns;
      if (!ok) {  // lost: counted, its timeout kept out of every time and rate
        ++r_.lost;
        continue;
      }
      ++done;
      r_.rtt.record(times.rtt_ns);
      r_.iteration_seconds.push_back(static_cast<double>(times.rtt_ns) * 1e-9);
      progress_.store(seq, std::memory_order_relaxed);
      if (final) break;
    }
    r_.timed_end_ns = now_ns();
    const Usage end = usage_now(true);
    r_.cpu_seconds = static_cast<double>(end.cpu_ns - start.cpu_ns) * 1e-9;
    r_.context_switches = end.switches - start.switches;
    r_.sent = seq - first;
    if (plan_.lossy) tell({ControlChannel::Kind::kStop});
  }

  void stream() {
    require_control(plan_, control_);
    if (plan_.lossy)
      (void)control_->expect(Role::kProducer, ControlChannel::Kind::kReady, plan_.control_timeout,
                             "consumer ready");
    std::uint64_t seq = 0;
    r_.iteration_seconds.reserve(plan_.iterations);
    Usage start{};
    std::uint64_t timed_batches = 0;
    // Batch 0 is the handshake and warm-up; then up to plan_.iterations timed batches.
    for (std::uint64_t b = 0; b < 1 + plan_.iterations; ++b) {
      if (b == 1) {
        if (before_timing_) before_timing_();
        r_.timed_start_ns = now_ns();
        start = usage_now(true);
      }
      // The budget is looked at before a batch: a reliable consumer learns that this batch is
      // the last before any of it is sent, so no batch is ever left waiting.
      const bool last = b == plan_.iterations ||
                        (b >= 1 && plan_.deadline_ns != 0 && now_ns() >= plan_.deadline_ns);
      if (last && b < plan_.iterations) {
        r_.cut = true;
        shared_.last.store(b, std::memory_order_seq_cst);
      }
      const std::uint64_t t0 = now_ns();
      for (std::uint64_t k = 0; k < plan_.batch; ++k, ++seq) t_.send(framer_.data(seq, t0));
      std::uint64_t t1 = 0;
      if (plan_.lossy) {
        // The receive rate: the batch ends when its last datagram arrived (the consumer's stamp,
        // same clock), or when the last was sent if none of it arrived. The control exchange
        // that follows is not the transport's.
        const std::uint64_t sent_ns = now_ns();
        const ControlChannel::Message ack = end_batch(b, seq);
        t1 = ack.b > t0 ? ack.b : sent_ns;
      } else {
        if (plan_.end_mark) t_.send_end();
        wait_ack(b);
        t1 = now_ns();
      }
      if (b >= 1) {
        r_.iteration_seconds.push_back(static_cast<double>(t1 - t0) * 1e-9);
        ++timed_batches;
      }
      progress_.fetch_add(1, std::memory_order_relaxed);
      if (last) break;
    }
    r_.timed_end_ns = now_ns();
    const Usage end = usage_now(true);
    r_.cpu_seconds = static_cast<double>(end.cpu_ns - start.cpu_ns) * 1e-9;
    r_.context_switches = end.switches - start.switches;
    r_.sent = timed_batches * plan_.batch;
    // The stop's wake-up names the batch the consumer waits in now (one past the last), so it
    // is not taken for a stale one.
    if (plan_.lossy) tell({ControlChannel::Kind::kStop, 1 + timed_batches});
  }

 private:
  // One ping-pong through the suite's one round trip; false if the reply was lost (lossy
  // transports). A timed one records the reply's one-way time.
  bool round_trip(std::uint64_t seq, RoundTripTimes& times, bool timed) {
    EchoChecks checks;
    const bool ok = ipcbench::round_trip(
        framer_, in_, seq, plan_.lossy, [this](std::span<const std::byte> m) { t_.send(m); },
        [this](std::span<std::byte> m) { return t_.recv(m); }, times, checks);
    r_.corrupt += checks.corrupt;
    r_.reordered += checks.reordered;
    if (timed && ok && times.stamped) r_.oneway_rev.record(times.oneway_ns);
    return ok;
  }

  // burst_samples samples of burst_k back-to-back round trips, one pair of clock reads per
  // sample (so no clock read sits inside a round trip), every reply checked after the sample's
  // clock stopped. Reliable transports only: a lost reply would stall the sample.
  void bursts(std::uint64_t& seq) {
    if (plan_.burst_k == 0 || plan_.burst_samples == 0) return;
    if (plan_.lossy) throw std::invalid_argument("bursts need a transport that cannot lose");
    std::vector<std::byte> replies(plan_.burst_k * plan_.bytes);
    r_.burst_ns.reserve(plan_.burst_samples);
    r_.floor_ns.reserve(plan_.burst_samples);
    std::uint64_t bounce_value = 1;
    for (std::uint64_t s = 0; s < plan_.burst_samples; ++s) {
      const std::uint64_t first = seq;
      const std::uint64_t t0 = now_ns();
      for (std::uint64_t k = 0; k < plan_.burst_k; ++k, ++seq) {
        t_.send(framer_.data(seq, t0));
        if (t_.recv(std::span<std::byte>(replies.data() + k * plan_.bytes, plan_.bytes)) !=
            Received::kMessage) {
          throw_sys_error(EPROTO, "recv", "burst reply");
        }
      }
      const std::uint64_t t1 = now_ns();
      r_.burst_ns.push_back(static_cast<double>(t1 - t0) / static_cast<double>(plan_.burst_k));
      if (plan_.burst_floor) bounce_floor(bounce_value);
      for (std::uint64_t k = 0; k < plan_.burst_k; ++k) {
        const std::span<const std::byte> reply(replies.data() + k * plan_.bytes, plan_.bytes);
        if (plan_.payload == Payload::kNothing) continue;
        if (Framer::seq_of(reply) != first + k || !framer_.payload_ok(reply, first + k)) {
          ++r_.corrupt;
        }
      }
      progress_.fetch_add(plan_.burst_k, std::memory_order_relaxed);
    }
  }

  // The cache-line floor beside a burst sample: the consumer, which has just sent the sample's
  // last reply, answers on PairShared::floor. `value`: the next odd value to write (it goes on
  // from sample to sample, as the consumer's does).
  void bounce_floor(std::uint64_t& value) {
    const auto bounce_once = [&] {
      shared_.floor.line.store(value, std::memory_order_release);
      (void)wait_for_line(shared_.floor.line, value + 1, false, "cache-line floor");
      value += 2;
    };
    for (std::uint64_t i = 0; i < PairPlan::kFloorWarmupBounces; ++i) bounce_once();
    sample_bounces(1, plan_.burst_k, bounce_once, now_ns,
                   [&](double ns_per_bounce) { r_.floor_ns.push_back(ns_per_bounce); });
  }

  // Sends `m` on the control channel and then a wake-up on the data path: a full-size message
  // whose sequence number carries kEndFlag and no information (what it announces is on the
  // control channel). The consumer, blocked in the data path's receive, looks at the control
  // channel at once rather than after its receive timeout; a lost wake-up costs that timeout.
  void tell(const ControlChannel::Message& m) {
    control_->send(Role::kProducer, m);
    wake(m.a);
  }
  void wake(std::uint64_t arg) {
    try {
      t_.send(framer_.control(kEndFlag | arg, 0, plan_.bytes));
    } catch (const std::system_error& e) {
      if (e.code().value() != ECONNREFUSED) throw;  // the consumer already left: nothing to wake
    }
  }

  // Tells the consumer that batch `b` is sent (`sent` data messages in all) and waits for its ack,
  // waking the consumer again every kWakeEvery until it answers: a wake-up sent while the
  // receiver's buffer was still full (both ends on one CPU: it has not run yet) is lost, and the
  // next one, sent after this wait let it drain, is not.
  ControlChannel::Message end_batch(std::uint64_t b, std::uint64_t sent) {
    constexpr std::chrono::microseconds kWakeEvery{200};
    tell({ControlChannel::Kind::kEndBatch, b, sent});
    const auto deadline = std::chrono::steady_clock::now() + plan_.control_timeout;
    while (true) {
      if (const auto m = control_->recv(Role::kProducer, kWakeEvery)) {
        if (m->kind != ControlChannel::Kind::kAck || m->a != b) {
          throw_sys_error(EPROTO, "recv", "ack of batch " + std::to_string(b));
        }
        return *m;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw_sys_error(ETIMEDOUT, "recv",
                        "ack of batch " + std::to_string(b) + " on the control channel within " +
                            std::to_string(plan_.control_timeout.count()) + " ms");
      }
      wake(b);
    }
  }

  void wait_ack(std::uint64_t batch) {
    std::span<std::byte> ack(in_.data(), framer_.ack_bytes());
    if (t_.recv(ack) != Received::kMessage) throw_sys_error(EPROTO, "recv", "ack");
    if (plan_.payload != Payload::kNothing && Framer::seq_of(ack) != (kAckFlag | batch)) {
      throw_sys_error(EPROTO, "recv", "ack of batch " + std::to_string(batch));
    }
  }

  Transport& t_;
  const PairPlan& plan_;
  Framer& framer_;
  std::atomic<std::uint64_t>& progress_;
  ProducerTally& r_;
  PairShared& shared_;
  ControlChannel* control_;
  std::vector<std::byte> in_;
  const std::function<void()>& before_timing_;
};

// The consumer's side of Producer::bounce_floor: answers its warm-up and `k` timed bounces.
void answer_floor(BounceLines& floor, std::uint64_t& value, std::uint64_t k) {
  for (std::uint64_t i = 0; i < PairPlan::kFloorWarmupBounces + k; ++i, value += 2) {
    (void)wait_for_line(floor.line, value, false, "cache-line floor");
    floor.line.store(value + 1, std::memory_order_release);
  }
}

}  // namespace

// The consumer of round trips echoes each message as it came (a kBytes one restamped, so the
// reply's one-way time is measured) and checks nothing on the way: the producer checks every
// reply's sequence number and payload after its clock stopped, and as the echo carries the
// request unchanged, that check covers both directions. So no check lands inside a timed round
// trip, on one CPU or two.
void consume_round_trips(Transport& t, const PairPlan& plan, Framer& framer, PairShared& shared,
                         ControlChannel* control) {
  (void)framer;
  require_control(plan, control);
  ConsumerTally& out = shared.tally;
  std::vector<std::byte> buf(plan.bytes);
  const std::uint64_t untimed = plan.untimed_round_trips();
  const std::uint64_t bursts_from = 1 + plan.warmup;
  const std::uint64_t bursts_to = bursts_from + plan.burst_k * plan.burst_samples;
  Usage start{};
  bool started = false;
  std::uint64_t floor_value = 1;  // the odd value the producer's next floor bounce writes
  if (plan.lossy) control->send(Role::kConsumer, {ControlChannel::Kind::kReady});
  for (std::uint64_t i = 0;; ++i) {
    const Received got = t.recv(buf);
    if (got == Received::kTimeout) {  // lossy only: nothing came; the producer may be done
      const auto m = control->recv(Role::kConsumer, std::chrono::microseconds(0));
      if (m && m->kind == ControlChannel::Kind::kStop) break;
      --i;
      continue;
    }
    // A lossy transport's index is the message's sequence number (some never arrive).
    const std::uint64_t index = plan.lossy ? Framer::seq_of(buf) : i;
    if (plan.lossy && (index & kEndFlag) != 0) {  // a wake-up: the news is on the control channel
      const auto m = control->recv(Role::kConsumer, std::chrono::microseconds(0));
      if (m && m->kind == ControlChannel::Kind::kStop) break;
      --i;
      continue;
    }
    const bool timed = index >= untimed;
    if (timed && !started) {
      start = usage_now(true);
      started = true;
    }
    const bool drop =
        plan.fault.kind == Fault::Kind::kDropReply && i + 1 == plan.fault.after_messages;
    if (plan.payload == Payload::kBytes && !(index >= bursts_from && index < bursts_to)) {
      const std::uint64_t now = now_ns();  // no clock read inside a burst
      if (timed) out.oneway.record(now - Framer::stamp_of(buf));
      Framer::set_stamp(buf, now);
    }
    if (!drop) t.send(buf);
    // The last reply of a burst sample: the producer bounces the floor's line next.
    if (plan.burst_floor && index >= bursts_from && index < bursts_to &&
        (index - bursts_from + 1) % plan.burst_k == 0) {
      answer_floor(shared.floor, floor_value, plan.burst_k);
    }
    if (timed) {
      ++out.received;
      out.bytes += plan.bytes;
    }
    inject_fault(plan.fault, i + 1, plan.in_process);
    if (!plan.lossy && i >= shared.last.load(std::memory_order_seq_cst)) break;
  }
  if (!started) start = usage_now(true);
  const Usage end = usage_now(true);
  out.cpu_ns = end.cpu_ns - start.cpu_ns;
  out.context_switches = end.switches - start.switches;
}

void consume_stream(Transport& t, const PairPlan& plan, Framer& framer, PairShared& shared,
                    ControlChannel* control) {
  require_control(plan, control);
  ConsumerTally& out = shared.tally;
  std::vector<std::byte> buf(plan.bytes);
  Usage start{};
  SeqTracker seqs;
  std::uint64_t received_total = 0;
  if (plan.lossy) control->send(Role::kConsumer, {ControlChannel::Kind::kReady});
  bool stopped = false;
  for (std::uint64_t b = 0; !stopped; ++b) {
    if (b == 1) {
      start = usage_now(true);
      seqs = SeqTracker{seqs.expected};
    }
    const bool timed = b >= 1;
    std::uint64_t got_in_batch = 0;
    // Lossy transports: when the last data message of the batch arrived. The ack carries it, so
    // the producer stops the clock there rather than after the control exchange.
    std::uint64_t last_data_ns = 0;
    while (true) {
      if (!plan.lossy && !plan.end_mark && got_in_batch == plan.batch) break;
      const Received got = t.recv(buf);
      // Lossy only: nothing for a while, or a wake-up (kEndFlag): the batch may be over; its end
      // is on the control channel, never on the lossy path. A wake-up for an earlier batch is
      // one the producer repeated before that batch's ack reached it, queued ahead of this
      // batch's data: looking at the control channel then could find this batch's end already
      // there (a consumer slow to run, under load) and count the data still queued behind the
      // stale wake-up lost, then reordered in the next batch. It is skipped.
      const bool wake = plan.lossy && got == Received::kMessage &&
                        (Framer::seq_of(buf) & kEndFlag) != 0;
      if (wake && (Framer::seq_of(buf) & ~kFlagMask) < b) continue;
      if (got == Received::kTimeout || wake) {
        const auto m = control->recv(Role::kConsumer, std::chrono::microseconds(0));
        if (!m) continue;
        if (m->kind == ControlChannel::Kind::kStop) {
          stopped = true;
          break;
        }
        if (m->kind != ControlChannel::Kind::kEndBatch || m->a != b) {
          throw_sys_error(EPROTO, "recv", "end of batch " + std::to_string(b));
        }
        seqs.end_at(m->b);
        break;
      }
      if (got == Received::kEnd) break;  // end_mark transports
      if (plan.payload != Payload::kNothing) {
        const std::uint64_t seq = Framer::seq_of(buf);
        if (plan.lossy) last_data_ns = now_ns();
        seqs.see(seq);
        if (!framer.payload_ok(buf, seq)) ++out.corrupt;
      }
      ++got_in_batch;
      ++received_total;
      inject_fault(plan.fault, received_total, plan.in_process);
    }
    if (stopped) break;
    if (timed) {
      out.received += got_in_batch;
      out.bytes += got_in_batch * plan.bytes;
      if (plan.end_mark && got_in_batch < plan.batch) out.coalesced += plan.batch - got_in_batch;
    }
    if (plan.lossy) {
      control->send(Role::kConsumer, {ControlChannel::Kind::kAck, b, last_data_ns});
    } else {
      t.send(framer.control(kAckFlag | b, 0, framer.ack_bytes()));
      if (b >= shared.last.load(std::memory_order_seq_cst)) break;
    }
  }
  const Usage end = usage_now(true);
  out.cpu_ns = end.cpu_ns - start.cpu_ns;
  out.context_switches = end.switches - start.switches;
  out.lost = seqs.lost;
  out.reordered = seqs.reordered;
}

void produce_round_trips(Transport& t, const PairPlan& plan, Framer& framer,
                         std::atomic<std::uint64_t>& progress, ProducerTally& out,
                         PairShared& shared, ControlChannel* control,
                         const std::function<void()>& before_timing) {
  Producer(t, plan, framer, progress, out, shared, control, before_timing).round_trips();
}

void produce_stream(Transport& t, const PairPlan& plan, Framer& framer,
                    std::atomic<std::uint64_t>& progress, ProducerTally& out, PairShared& shared,
                    ControlChannel* control, const std::function<void()>& before_timing) {
  Producer(t, plan, framer, progress, out, shared, control, before_timing).stream();
}

// ---- Load ----

void consume_load(Transport& down, Transport& up, const LoadPlan& plan, Framer& framer,
                  LoadShared& shared) {
  std::vector<std::byte> buf(plan.bytes);
  SeqTracker seqs;
  Usage start{};
  bool started = false;
  std::uint64_t received = 0, corrupt = 0;
  // `i` counts every message, the warm-up's first: a reliable transport delivers message i as
  // sequence number i, so the consumer stops after number shared.last whatever a corrupt one says.
  for (std::uint64_t i = 0;;) {
    const Received got = down.recv(buf);
    if (got == Received::kTimeout) {  // lossy only: nothing for recv_timeout
      if (shared.stop.load(std::memory_order_acquire) != 0) break;
      continue;
    }
    const std::uint64_t seq = Framer::seq_of(buf);
    if (!started && seq >= plan.warmup) {
      started = true;
      start = usage_now(true);
    }
    seqs.see(seq);
    if (!framer.payload_ok(buf, seq)) ++corrupt;
    if (seq >= plan.warmup) ++received;
    up.send(buf);  // the echo: the whole message, its due time included
    inject_fault(plan.fault, i + 1, plan.in_process);
    if (!plan.lossy && i >= shared.last.load(std::memory_order_seq_cst)) break;
    ++i;
  }
  if (!started) start = usage_now(true);
  const Usage end = usage_now(true);
  shared.received = received;
  shared.corrupt = corrupt;
  shared.reordered = seqs.reordered;
  shared.cpu_ns = end.cpu_ns - start.cpu_ns;
  shared.context_switches = end.switches - start.switches;
}

namespace {

// Sleeps until CLOCK_MONOTONIC reaches `due_ns`, or returns at once when it has passed. An
// absolute wake-up time, so a late wake-up is not carried into the next wait.
void sleep_until(std::uint64_t due_ns) {
  const timespec ts{static_cast<time_t>(due_ns / 1'000'000'000u),
                    static_cast<long>(due_ns % 1'000'000'000u)};
  while (true) {
    const int rc = ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc == 0) return;
    if (rc != EINTR) throw_sys_error(rc, "clock_nanosleep", "Load send schedule");
    throw_if_interrupted("clock_nanosleep", "Load send schedule");
  }
}

// The calling thread's timer slack at 1 ns while it lives: the default 50 us would let every
// scheduled wake-up, so every send, come up to 50 us late.
class FineTimerSlack {
 public:
  FineTimerSlack() : saved_(::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) {
    (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  }
  FineTimerSlack(const FineTimerSlack&) = delete;
  FineTimerSlack& operator=(const FineTimerSlack&) = delete;
  ~FineTimerSlack() {
    if (saved_ > 0) (void)::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(saved_), 0, 0, 0);
  }

 private:
  int saved_;
};

class LoadProducer {
 public:
  LoadProducer(Transport& down, Transport& up, const LoadPlan& plan, Framer& framer,
               std::atomic<std::uint64_t>& progress, LoadTally& out, LoadShared& shared)
      : down_(down),
        up_(up),
        plan_(plan),
        framer_(framer),
        progress_(progress),
        r_(out),
        shared_(shared),
        interval_ns_(1e9 / plan.rate),
        sent_at_(plan.messages) {}

  void run() {
    if (!(plan_.rate > 0) || plan_.messages == 0) {
      throw std::invalid_argument("Load needs a positive rate and at least one message");
    }
    warm_up();
    // The schedule starts a little ahead, so message 0 is not late for the receiver's start.
    r_.t0_ns = now_ns() + kLeadNs;
    std::thread receiver([this] { receive(); });
    try {
      send_on_schedule();
    } catch (...) {
      sender_failed_.store(true);
      // The receiver may wait for replies that never come: the watchdog (no progress) fires,
      // and join() interrupts the receiver's wait.
      join(receiver);
      throw;
    }
    join(receiver);
    if (receiver_error_) std::rethrow_exception(receiver_error_);
    r_.cpu_seconds = static_cast<double>(sender_usage_.cpu_ns + receiver_usage_.cpu_ns) * 1e-9;
    r_.context_switches = sender_usage_.switches + receiver_usage_.switches;
  }

 private:
  static constexpr std::uint64_t kLeadNs = 1'000'000;
  // How often a sender that has finished looks whether the watchdog fired while it waits for the
  // receiver: rare enough to cost nothing beside the replies being timed.
  static constexpr std::chrono::milliseconds kJoinLook{10};

  // Waits until the receiver thread has ended, then joins it. The watchdog signals only this
  // thread (SIGALRM); once it has fired, the receiver is signalled the same way, again until it
  // ends (a signal that lands just before its blocking call begins would be missed), and its
  // wait fails with EINTR into throw_if_interrupted().
  void join(std::thread& receiver) {
    std::unique_lock lock(end_mutex_);
    while (!receiver_ended_) {
      if (interrupted()) ::pthread_kill(receiver.native_handle(), SIGALRM);
      end_cv_.wait_for(lock, kJoinLook);
    }
    lock.unlock();
    receiver.join();
  }

  [[nodiscard]] std::uint64_t first() const noexcept { return plan_.warmup; }
  // When timed message k is due: from t0 and k alone, so rounding never accumulates.
  [[nodiscard]] std::uint64_t due(std::uint64_t k) const noexcept {
    return r_.t0_ns +
           static_cast<std::uint64_t>(std::llround(static_cast<double>(k) * interval_ns_));
  }

  // Closed-loop round trips before the schedule: the handshake, then page faults, caches and the
  // scheduler settle. A lossy transport's lost one is not repeated.
  void warm_up() {
    std::vector<std::byte> in(plan_.bytes);
    for (std::uint64_t seq = 0; seq < plan_.warmup; ++seq) {
      RoundTripTimes times;
      EchoChecks checks;
      (void)round_trip(
          framer_, in, seq, plan_.lossy, [this](std::span<const std::byte> m) { down_.send(m); },
          [this](std::span<std::byte> m) { return up_.recv(m); }, times, checks);
      r_.corrupt += checks.corrupt;
      r_.reordered += checks.reordered;
      progress_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // This thread sends and does nothing else: it sleeps until each message is due, stamps the due
  // time into it, notes when it really went (for the uncorrected latency), and sends it. It never
  // waits for a reply; it waits only where the transport itself blocks (full).
  void send_on_schedule() {
    FineTimerSlack slack;
    const Usage start = usage_now(true);
    for (std::uint64_t k = 0; k < plan_.messages; ++k) {
      bool final = k + 1 == plan_.messages;
      if (!final && k > 0 && plan_.deadline_ns != 0 && now_ns() >= plan_.deadline_ns) {
        r_.cut = true;
        final = true;
        shared_.last.store(first() + k, std::memory_order_seq_cst);  // before it is sent
      }
      if (receiver_failed_.load(std::memory_order_relaxed)) break;
      const std::uint64_t due_ns = due(k);
      if (now_ns() < due_ns) sleep_until(due_ns);  // behind schedule: no system call at all
      const std::uint64_t at = now_ns();
      const std::uint64_t lag = at > due_ns ? at - due_ns : 0;
      if (lag > plan_.late_tolerance_ns) ++r_.late_sends;
      r_.max_send_lag_ns = std::max(r_.max_send_lag_ns, lag);
      sent_at_[k].store(at, std::memory_order_release);
      down_.send(framer_.data(first() + k, due_ns));
      ++r_.sent;
      progress_.fetch_add(1, std::memory_order_relaxed);
      if (final) break;
    }
    r_.last_send_ns = now_ns();
    sender_usage_ = usage_now(true);
    sender_usage_.cpu_ns -= start.cpu_ns;
    sender_usage_.switches -= start.switches;
    sender_done_ns_.store(r_.last_send_ns, std::memory_order_release);
  }

  // The receiver thread: takes every reply, checks its sequence number, payload and due time, and
  // records reply time - due time (corrected) and reply time - send time (uncorrected). It shares
  // with the sender only the send times (one atomic word per message, written before the send)
  // and the end flags: no lock, nothing the sender waits for.
  void receive() noexcept {
    try {
      if (plan_.receiver_cpu >= 0) pin_to_cpu(plan_.receiver_cpu);
      Framer own(Payload::kBytes, plan_.bytes);  // not the sender's: it writes headers into its own
      std::vector<std::byte> in(plan_.bytes);
      SeqTracker seqs;
      const Usage start = usage_now(true);
      std::uint64_t replies = 0;
      while (true) {
        const std::uint64_t asked = now_ns();
        const Received got = up_.recv(in);
        const std::uint64_t t1 = now_ns();
        const std::uint64_t done_ns = sender_done_ns_.load(std::memory_order_acquire);
        if (got != Received::kMessage) {
          // Lossy: a receive that began after the last send and got nothing for recv_timeout
          // ends the run; what has not come is lost. Before that, only a quiet spell.
          if ((done_ns != 0 && asked >= done_ns) || sender_failed_.load()) break;
          continue;
        }
        const std::uint64_t seq = Framer::seq_of(in);
        if (seq < first()) continue;  // a late reply to a lost warm-up round trip (lossy)
        ++replies;
        progress_.fetch_add(1, std::memory_order_relaxed);
        const std::uint64_t k = seq - first();
        if (k >= plan_.messages || !own.payload_ok(in, seq) || Framer::stamp_of(in) != due(k)) {
          ++r_.corrupt;
        } else {
          seqs.see(k);
          const std::uint64_t sent = sent_at_[k].load(std::memory_order_acquire);
          const std::uint64_t due_ns = due(k);
          r_.corrected.record(t1 > due_ns ? t1 - due_ns : 0);
          r_.uncorrected.record(t1 > sent ? t1 - sent : 0);
          r_.last_reply_ns = t1;
        }
        // Every reply came: the last message's number is final once the sender is done.
        const std::uint64_t last = shared_.last.load(std::memory_order_seq_cst);
        if (replies >= last - first() + 1) break;
      }
      const std::uint64_t last = shared_.last.load(std::memory_order_seq_cst);
      seqs.end_at(last - first() + 1);  // what the sender sent, or will have when it is done
      r_.replies = replies;
      r_.lost = seqs.lost;
      r_.reordered += seqs.reordered;
      receiver_usage_ = usage_now(true);
      receiver_usage_.cpu_ns -= start.cpu_ns;
      receiver_usage_.switches -= start.switches;
    } catch (...) {
      receiver_error_ = std::current_exception();
      receiver_failed_.store(true);
    }
    const std::lock_guard lock(end_mutex_);
    receiver_ended_ = true;
    end_cv_.notify_one();
  }

  Transport& down_;
  Transport& up_;
  const LoadPlan& plan_;
  Framer& framer_;
  std::atomic<std::uint64_t>& progress_;
  LoadTally& r_;
  LoadShared& shared_;
  double interval_ns_;
  std::vector<std::atomic<std::uint64_t>> sent_at_;  // CLOCK_MONOTONIC of each timed send
  std::atomic<std::uint64_t> sender_done_ns_{0};     // when the last message was sent (0: not yet)
  std::atomic<bool> sender_failed_{false}, receiver_failed_{false};
  std::exception_ptr receiver_error_;
  Usage sender_usage_{}, receiver_usage_{};
  std::mutex end_mutex_;  // guards receiver_ended_, which the sender waits for on end_cv_
  std::condition_variable end_cv_;
  bool receiver_ended_ = false;
};

}  // namespace

void produce_load(Transport& down, Transport& up, const LoadPlan& plan, Framer& framer,
                  std::atomic<std::uint64_t>& progress, LoadTally& out, LoadShared& shared) {
  LoadProducer(down, up, plan, framer, progress, out, shared).run();
}

}  // namespace ipcbench
