#include "bench/pair.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "bench/cases.hpp"
#include "bench/limits.hpp"
#include "bench/peer.hpp"
#include "harness/frame.hpp"
#include "harness/pair.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

std::string short_checks(Payload payload) {
  switch (payload) {
    case Payload::kBytes:
      return "checks=seq+payload+stamp";
    case Payload::kWord:
      return "checks=seq";
    case Payload::kNothing:
      return "checks=count";
  }
  return "";
}

// Fixed iteration counts for --quick: >= 1000 round trips where affordable, bounded in bytes.
std::uint64_t quick_iterations(Pattern pattern, std::size_t bytes) {
  if (pattern == Pattern::kStream) return 4;
  return std::clamp<std::uint64_t>((std::uint64_t{32} << 20) / std::max<std::size_t>(bytes, 1), 50,
                                   2000);
}

// The round trips timed in bursts (PairResult::rtt_burst_ns): at these sizes only, where the clock
// read is a visible part of a round trip and the burst's replies fit in a small buffer.
constexpr std::size_t kBurstMaxBytes = 1024;
constexpr std::uint64_t kBurstSamples = 16;

// `floor`: the cache-line floor bounced by the case's own two processes between its burst samples
// (RoundTrip rows); `two_line`: the two-line floor, measured on the same CPUs right after the case;
// `copy`: the cross-core copy floor at the case's size, likewise (Stream rows).
void publish(Publisher& p, const PairResult& r, Pattern pattern, std::size_t bytes, Payload payload,
             const CachelineFloor& floor, const CachelineFloor& two_line, const CopyFloor& copy) {
  p.iteration_times(r.iteration_seconds, r.cut);
  if (pattern == Pattern::kRoundTrip) {
    p.latency(r.rtt, "", "rtt", "round trip", /*with_mean=*/true);
    // Between two hosts the clocks differ: no one-way time (the report says so).
    if (payload == Payload::kBytes && !r.across_hosts) {
      p.counter("oneway_p50_ns", static_cast<double>(r.oneway.percentile(50)));
      p.counter("oneway_p99_ns", static_cast<double>(r.oneway.percentile(99)));
      p.counter("oneway_fwd_p50_ns", static_cast<double>(r.oneway_fwd.percentile(50)));
      p.counter("oneway_fwd_p99_ns", static_cast<double>(r.oneway_fwd.percentile(99)));
      p.counter("oneway_rev_p50_ns", static_cast<double>(r.oneway_rev.percentile(50)));
      p.counter("oneway_rev_p99_ns", static_cast<double>(r.oneway_rev.percentile(99)));
      p.histogram(r.oneway_fwd, "oneway_fwd", "one-way producer->consumer");
      p.histogram(r.oneway_rev, "oneway_rev", "one-way consumer->producer");
    }
    // A round trip moves the message both ways.
    const double done = static_cast<double>(r.rtt.count());
    p.rates(done, 2.0 * done * static_cast<double>(bytes), r.timed_seconds);
    // The distance to the hardware: the round trip and the cache-line floor, each timed K at a
    // time per pair of clock reads, by the same two processes on the same CPUs, the floor's
    // samples taken between the round trip's (so a vCPU the host moves during the case moves
    // both). None on one CPU, where no cache line travels (the floor is then a sched_yield
    // ping-pong).
    if (r.burst_samples > 0) {
      p.counter("rtt_burst_ns", r.rtt_burst_ns);
      p.counter("burst_round_trips_per_sample", static_cast<double>(r.burst_k));
      if (floor.measured && floor.ns_per_bounce > 0) {
        p.counter("cacheline_ns", floor.ns_per_bounce);
        p.counter("floor_bounces_per_sample", static_cast<double>(floor.bounces_per_sample));
        p.counter("floor_between_bursts", 1);  // bounced by the case's processes, not after it
        p.counter("rtt_x_cacheline", r.rtt_burst_ns / floor.ns_per_bounce);
      }
      // The same against two lines, one written by each side: what a pair of one-way channels
      // must at least pay (the one-line bounce lets each side write the line it just read).
      if (two_line.measured && two_line.ns_per_bounce > 0) {
        p.counter("two_line_ns", two_line.ns_per_bounce);
        p.counter("rtt_x_two_line", r.rtt_burst_ns / two_line.ns_per_bounce);
      }
    }
  } else {
    p.rates(static_cast<double>(r.received), static_cast<double>(r.bytes_received),
            r.timed_seconds);
    p.counter("sent", static_cast<double>(r.sent));
    p.counter("received", static_cast<double>(r.received));
    p.counter("batch", static_cast<double>(r.batch));
    p.counter("coalesced", static_cast<double>(r.coalesced));
    const auto& memcpy_bps = measured_limits().memcpy_bytes_per_second;
    if (auto it = memcpy_bps.find(bytes); it != memcpy_bps.end() && it->second > 0) {
      p.counter("fraction_of_memcpy", p.counter("bytes_per_second") / it->second);
    }
    // The distance to the hardware for a stream: its rate over the rate at which the same bytes
    // move from the producer's core to the consumer's, measured right after it on the same CPUs.
    // None on one CPU, where no line crosses.
    if (copy.measured && copy.bytes_per_second > 0) {
      p.counter("floor_bytes_per_second", copy.bytes_per_second);
      p.counter("floor_handovers_per_sample", static_cast<double>(copy.handovers_per_sample));
      p.counter("fraction_of_floor", p.counter("bytes_per_second") / copy.bytes_per_second);
    }
  }
  p.checks(r.lost, r.corrupt, r.reordered);
  // A notification mechanism's wake-ups: what both sides' read()s took, and how many of those
  // notifications merged into a read() that already took one (eventfd; never eventfd_sem).
  if (r.wakes.counted) {
    p.counter("notifications_taken", static_cast<double>(r.wakes.notifications));
    p.counter("notifications_merged", static_cast<double>(r.wakes.merged()));
  }
  p.cpu_cost(r.cpu_seconds, r.context_switches, static_cast<double>(r.messages));
  std::string label = short_checks(payload);
  if (r.coalesced > 0) {
    label += " coalesced=" + std::to_string(r.coalesced) + "/" + std::to_string(r.sent);
  }
  if (r.lost > 0) label += " lost=" + std::to_string(r.lost);
  if (r.corrupt > 0) label += " CORRUPT=" + std::to_string(r.corrupt);
  p.label(label);
}

// `placement` is empty for the default CPUs, else the kind, added to the name.
void register_pair_case(const BenchOptions& o, const std::string& id, Pattern pattern,
                        std::size_t bytes, CpuPair cpus, const std::string& placement) {
  const std::string name = pair_case_name(pattern_name(pattern), id, bytes, placement);
  const Resolved resolved = resolve(id, Form::kPair, bytes);
  if (const std::string why = across_hosts_unsupported(id, bytes); !why.empty()) {
    record_unsupported(name, why);
    return;
  }
  if (!runs_or_record(name, resolved)) return;
  const Payload payload = resolved.caps.payload;
  const bool may_lose = resolved.caps.may_lose;
  register_case(
      name,
      [=](Publisher& p) {
        PairConfig config;
        config.transport_id = id;
        config.pattern = pattern;
        config.message_bytes = bytes;
        config.iterations = static_cast<std::uint64_t>(p.state().max_iterations);
        config.cpus = cpus;
        config.watchdog = o.watchdog;
        config.deadline_ns = p.deadline_ns();
        // The floors are one host's (two CPUs of it): none between two hosts.
        const bool one_host = peer_client() == nullptr;
        const bool floor_case = one_host && pattern == Pattern::kRoundTrip && !cpus.same() &&
                                bytes <= kBurstMaxBytes && !may_lose;
        if (floor_case) {
          config.burst_k = kBouncesPerSample;  // the floor's K: the two are timed alike
          config.burst_samples = kBurstSamples;
          config.burst_floor = true;  // the cache-line floor, bounced between the samples
        }
        const PairResult r = run_pair_case(config);
        CachelineFloor floor;
        if (r.floor_samples > 0 && r.cacheline_ns > 0) {
          floor.measured = true;
          floor.ns_per_bounce = r.cacheline_ns;
          floor.bounces_per_sample = r.burst_k;
          floor.samples = r.floor_samples;
        }
        const CachelineFloor two_line =
            floor_case ? cacheline_floor_now(cpus, o.watchdog, /*two_lines=*/true)
                       : CachelineFloor{};
        const bool copy_case = one_host && pattern == Pattern::kStream && !cpus.same() && bytes > 0;
        const CopyFloor copy =
            copy_case ? cross_core_copy_now(cpus, bytes, o.watchdog) : CopyFloor{};
        publish(p, r, pattern, bytes, payload, floor, two_line, copy);
      },
      pattern == Pattern::kRoundTrip ? benchmark::kMicrosecond : benchmark::kMillisecond,
      o.quick ? quick_iterations(pattern, bytes) : 0);
}

}  // namespace

void register_pair_benchmarks(const BenchOptions& o) {
  for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
    for (const std::string& id : o.transports) {
      const Capabilities caps = find_transport(id)->describe();
      std::vector<std::size_t> sizes = o.sizes;
      // A notification or one-word transport runs at the one size it carries.
      if (auto fixed = fixed_message_bytes(caps.payload);
          fixed && std::find(sizes.begin(), sizes.end(), *fixed) == sizes.end()) {
        sizes.insert(sizes.begin(), *fixed);
      }
      if (o.placements.empty()) {
        for (std::size_t bytes : sizes) register_pair_case(o, id, pattern, bytes, o.cpus, "");
      }
      for (const Placement& p : o.placements) {
        for (std::size_t bytes : sizes) register_pair_case(o, id, pattern, bytes, p.cpus, p.kind);
      }
    }
  }
}

}  // namespace ipcbench
