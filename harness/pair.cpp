#include "harness/pair.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "harness/frame.hpp"
#include "harness/launch.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {

std::string_view pattern_name(Pattern pattern) noexcept {
  return pattern == Pattern::kRoundTrip ? "RoundTrip" : "Stream";
}

std::uint64_t default_warmup(std::size_t message_bytes) noexcept {
  // Enough to fault in buffers and settle the scheduler, bounded in bytes for large messages.
  return std::clamp<std::uint64_t>((8u << 20) / std::max<std::size_t>(message_bytes, 1), 10, 1000);
}

std::uint64_t default_batch(std::size_t message_bytes) noexcept {
  // About 4 MiB per batch, so the ack that ends a batch is a small part of its time.
  return std::clamp<std::uint64_t>((4u << 20) / std::max<std::size_t>(message_bytes, 1), 16, 4096);
}

namespace {
// The sample of rank n / 2 + 1 (the median of an odd count, the upper one of an even count).
double upper_median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}
}  // namespace

PairPlan pair_plan(const PairConfig& config, const Capabilities& caps) {
  PairPlan plan{config.pattern,
                caps.payload,
                config.message_bytes,
                config.iterations,
                config.warmup ? config.warmup : default_warmup(config.message_bytes),
                config.batch ? config.batch : default_batch(config.message_bytes),
                caps.may_lose,
                caps.may_coalesce && caps.payload == Payload::kNothing,
                caps.in_process,
                config.fault};
  if (config.pattern == Pattern::kRoundTrip && !plan.lossy) {
    plan.burst_k = config.burst_k;
    plan.burst_samples = config.burst_k > 0 ? config.burst_samples : 0;
    plan.burst_floor = config.burst_floor && plan.burst_samples > 0 && !config.cpus.same();
  }
  plan.deadline_ns = config.deadline_ns;
  // Longer than the watchdog, so a hung or dead peer is reported by it (it interrupts the wait).
  plan.control_timeout = 4 * config.watchdog;
  return plan;
}

std::uint64_t planned_last(const PairPlan& plan) noexcept {
  return plan.pattern == Pattern::kRoundTrip ? plan.untimed_round_trips() + plan.iterations - 1
                                             : plan.iterations;
}

void gather_pair_result(PairResult& result, ProducerTally& tally, const ConsumerTally& report,
                        const PairPlan& plan) {
  result.iteration_seconds = std::move(tally.iteration_seconds);
  result.rtt = tally.rtt;
  result.oneway_rev = tally.oneway_rev;
  result.sent = tally.sent;
  result.lost = tally.lost;
  result.corrupt = tally.corrupt;
  result.reordered = tally.reordered;
  result.timed_start_ns = tally.timed_start_ns;
  result.timed_end_ns = tally.timed_end_ns;
  result.cpu_seconds = tally.cpu_seconds;
  result.context_switches = tally.context_switches;
  result.cut = tally.cut;
  if (!tally.burst_ns.empty()) {
    result.rtt_burst_ns = upper_median(tally.burst_ns);
    result.burst_k = plan.burst_k;
    result.burst_samples = tally.burst_ns.size();
  }
  if (!tally.floor_ns.empty()) {
    result.cacheline_ns = upper_median(tally.floor_ns);
    result.floor_samples = tally.floor_ns.size();
  }
  result.oneway_fwd.merge(report.oneway);
  result.oneway.merge(result.oneway_fwd);
  result.oneway.merge(result.oneway_rev);
  result.received = report.received;
  result.bytes_received = report.bytes;
  result.lost += report.lost;
  result.corrupt += report.corrupt;
  result.reordered += report.reordered;
  result.coalesced += report.coalesced;
  result.cpu_seconds += static_cast<double>(report.cpu_ns) * 1e-9;
  result.context_switches += report.context_switches;
  result.wakes = {tally.wakes.counted || report.wakes.counted,
                  tally.wakes.reads + report.wakes.reads,
                  tally.wakes.notifications + report.wakes.notifications};
  for (double s : result.iteration_seconds) result.timed_seconds += s;
  // Requests and their echoes, or data and one ack per batch.
  result.messages = plan.pattern == Pattern::kRoundTrip
                        ? result.sent + result.received
                        : result.sent + result.iteration_seconds.size();
}

PairResult run_pair(const PairConfig& config) {
  const Resolved resolved = resolve(config.transport_id, Form::kPair, config.message_bytes);
  resolved.require();
  const TransportInfo& info = *resolved.info;
  const std::string id = resolved.id();
  const Capabilities& caps = resolved.caps;
  if (config.iterations == 0) throw std::invalid_argument(id + ": iterations must be at least 1");

  const PairPlan plan = pair_plan(config, caps);
  require_process_fault(id, config.fault, plan.in_process);

  PairResult result;
  result.batch = config.pattern == Pattern::kStream ? plan.batch : 0;
  result.checks = checks_applied(caps.payload);
  try {
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = config.message_bytes;
    options.tmp_root = config.tmp_root.empty() ? default_tmp_root() : config.tmp_root;
    options.same_cpu = config.cpus.same();
    options.recv_buffer_bytes = config.recv_buffer_bytes;
    // A lossy stream's consumer learns that a batch is over on the control channel, which it
    // looks at when the data path has been quiet this long: short, so a batch's end costs little
    // wall time (the batch's own time ends at its last receipt, before this wait).
    if (plan.lossy && plan.pattern == Pattern::kStream) {
      options.recv_timeout = std::chrono::milliseconds(5);
    }
    std::optional<ControlChannel> control;
    if (plan.lossy) control.emplace();
    // Declared before the launcher: its peers are ended before the transport is destroyed.
    TransportPtr transport = info.make(options);
    Framer framer(caps.payload, config.message_bytes);
    SharedRegion<PairShared> shared;
    shared->last.store(planned_last(plan));
    ControlChannel* ctl = control ? &*control : nullptr;
    ScopedPin pinned(config.cpus.producer);
    const pid_t parent = ::getpid();
    Launch launch(id, config.watchdog);
    // An in_process transport's consumer is a thread (a forked copy would share nothing with us).
    // It builds its own Framer: the producer writes headers into the buffers of ours.
    const std::size_t consumer = launch.start(
        "consumer", config.cpus.consumer,
        [&](Peer& peer) {
          std::optional<Framer> own;
          if (plan.in_process) own.emplace(caps.payload, config.message_bytes);
          Framer& f = own ? *own : framer;
          transport->attach(Role::kConsumer, parent);
          if (plan.pattern == Pattern::kRoundTrip) {
            consume_round_trips(*transport, plan, f, *shared, ctl);
          } else {
            consume_stream(*transport, plan, f, *shared, ctl);
          }
          shared->tally.wakes = transport->wake_counts();
          transport->detach();  // its last reply or ack out of the process (zeromq)
          peer.finish();
        },
        plan.in_process ? Launch::Kind::kThread : Launch::Kind::kProcess);

    std::atomic<std::uint64_t> progress{0};
    auto tally = std::make_unique<ProducerTally>();
    const pid_t peer_pid = launch.pid(consumer);
    const std::string failure = launch.watch(&progress, [&] {
      transport->attach(Role::kProducer, peer_pid > 0 ? peer_pid : parent);
      if (plan.pattern == Pattern::kRoundTrip) {
        produce_round_trips(*transport, plan, framer, progress, *tally, *shared, ctl,
                            config.before_timing);
      } else {
        produce_stream(*transport, plan, framer, progress, *tally, *shared, ctl,
                       config.before_timing);
      }
      tally->wakes = transport->wake_counts();
    });
    launch.end_after_watch(consumer, failure);
    gather_pair_result(result, *tally, shared->tally, plan);
  } catch (const std::system_error& e) {
    throw std::runtime_error(id + ": " + e.what());
  }
  return result;
}

}  // namespace ipcbench
