#include "bench/load.hpp"

#include <algorithm>
#include <cmath>
#include <regex>
#include <span>
#include <string>

#include "bench/cases.hpp"
#include "bench/peer.hpp"
#include "harness/clock.hpp"
#include "harness/load.hpp"
#include "harness/pair.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// --quick: one transport of each kind of waiting that CI should see (a pipe, a stream socket,
// shared memory with a futex, a socket that may lose), so the pattern runs in well under a minute.
constexpr const char* kQuickTransports[] = {"pipe", "unix_stream", "shm_futex", "udp"};

// How long a case's schedule lasts (longer above saturation, where replies lag): enough messages
// for a p99.9 at the low rates (at least kMinMessages, kQuickMinMessages with --quick), but a slow
// rate stops after kLongestSeconds (kQuickLongestSeconds) with at least kFewestMessages.
constexpr double kFullSeconds = 1.0, kQuickSeconds = 0.1;
constexpr double kLongestSeconds = 2.0, kQuickLongestSeconds = 0.5;
constexpr std::uint64_t kMinMessages = 1000, kQuickMinMessages = 500, kFewestMessages = 100;
constexpr std::uint64_t kMaxMessages = 2'000'000;
constexpr std::uint64_t kStartAllowanceNs = 50'000'000;  // fork, attach and warm-up

// The calibration stream: a few batches of the size's default, bounded in time.
constexpr std::uint64_t kCalibrationBatches = 8;
constexpr std::uint64_t kCalibrationNs = 300'000'000;

std::uint64_t messages_for(std::uint64_t rate, bool quick) {
  const auto count = [rate](double seconds) {
    return static_cast<std::uint64_t>(std::llround(static_cast<double>(rate) * seconds));
  };
  const std::uint64_t fewest =
      std::clamp<std::uint64_t>(count(quick ? kQuickLongestSeconds : kLongestSeconds),
                                kFewestMessages, quick ? kQuickMinMessages : kMinMessages);
  return std::clamp<std::uint64_t>(count(quick ? kQuickSeconds : kFullSeconds), fewest,
                                   kMaxMessages);
}

std::string load_case_name(const std::string& id, std::uint64_t rate,
                           const std::string& placement) {
  return "Load/" + id + "/rate:" + std::to_string(rate) + "/bytes:" + std::to_string(kLoadBytes) +
         (placement.empty() ? "" : "/placement:" + placement);
}

// Whether Google Benchmark's --benchmark_filter may select a Load case of `id` at `placement`,
// judged on a sample name, so that a run filtered to other cases pays no calibration stream at
// registration. Errs towards yes: a filter that names Load (rate:5000 only, say) or that this
// check cannot read counts as selecting; a negative filter ("-Load") skips only what it matches.
bool filter_may_select(const std::string& id, const std::string& placement) {
  std::string filter = benchmark::GetBenchmarkFilter();
  if (filter.empty() || filter == "all" || filter == ".") return true;
  const bool negative = filter[0] == '-';
  if (negative) filter.erase(0, 1);
  const std::string sample = load_case_name(id, 1000, placement) + "/iterations:1000/manual_time";
  try {
    const bool matches = std::regex_search(sample, std::regex(filter, std::regex::extended));
    return negative ? !matches : matches || filter.find("Load") != std::string::npos;
  } catch (const std::regex_error&) {
    return true;
  }
}

// The transport's stream rate at kLoadBytes on these CPUs, messages per second (received over the
// timed batches). Throws what run_pair throws.
double saturation(const std::string& id, const CpuPair& cpus, const BenchOptions& o) {
  PairConfig c;
  c.transport_id = id;
  c.pattern = Pattern::kStream;
  c.message_bytes = kLoadBytes;
  c.iterations = kCalibrationBatches;
  c.cpus = cpus;
  c.watchdog = o.watchdog;
  c.deadline_ns = now_ns() + kCalibrationNs;
  const PairResult r = run_pair_case(c);
  if (!(r.timed_seconds > 0) || r.received == 0) {
    throw std::runtime_error("the calibration stream measured nothing");
  }
  return static_cast<double>(r.received) / r.timed_seconds;
}

void publish(Publisher& p, const LoadResult& r, double saturation_per_second) {
  p.spread(r.seconds, r.sent, r.cut);
  p.latency(r.corrected, "", "load_corrected", "reply time - intended send time (corrected)");
  p.latency(r.uncorrected, "uncorrected_", "load_uncorrected",
            "reply time - actual send time (uncorrected)");
  p.counter("offered_per_second", r.offered_per_second);
  p.counter("achieved_per_second", r.achieved_per_second);
  p.counter("sent", static_cast<double>(r.sent));
  p.counter("received", static_cast<double>(r.received));
  p.counter("late_sends", static_cast<double>(r.late_sends));
  p.counter("late_tolerance_ns", static_cast<double>(kLateToleranceNs));
  p.counter("max_send_lag_ns", static_cast<double>(r.max_send_lag_ns));
  if (saturation_per_second > 0) p.counter("saturation_per_second", saturation_per_second);
  const double lost_fraction =
      r.sent > 0 ? static_cast<double>(r.lost) / static_cast<double>(r.sent) : 1.0;
  const bool sustained = r.achieved_per_second >= kSustainedFraction * r.offered_per_second &&
                         lost_fraction <= kSustainedLoss;
  p.counter("sustained", sustained ? 1.0 : 0.0);
  // A round trip moves the message both ways.
  const double done = static_cast<double>(r.received);
  p.rates(done, 2.0 * done * static_cast<double>(kLoadBytes), r.seconds);
  p.checks(r.lost, r.corrupt, r.reordered);
  p.cpu_cost(r.cpu_seconds, r.context_switches, 2.0 * done);
  p.counter("cpu_shared", r.sharing.shared() ? 1.0 : 0.0);
  std::string label = load_placement_text(r.placement);
  if (r.sharing.shared()) {
    label += " (3 threads on " + std::to_string(r.sharing.cpus) + " CPU" +
             (r.sharing.cpus == 1 ? "" : "s") + ")";
  }
  label += "; checks=seq+payload+stamp";
  if (!sustained) {
    char text[160];
    std::snprintf(text, sizeof text, "; NOT SUSTAINED: achieved %.0f/s of %.0f/s, lost %.2f%%",
                  r.achieved_per_second, r.offered_per_second, 100.0 * lost_fraction);
    label += text;
  }
  if (r.late_sends > 0) label += "; late_sends=" + std::to_string(r.late_sends);
  if (r.corrupt > 0) label += " CORRUPT=" + std::to_string(r.corrupt);
  p.label(label);
}

void register_load_case(const BenchOptions& o, const std::string& id, std::uint64_t rate,
                        const CpuPair& cpus, const std::string& placement, double saturation_ps) {
  const std::string name = load_case_name(id, rate, placement);
  const std::uint64_t messages = messages_for(rate, o.quick);
  register_case(
      name,
      [=](Publisher& p) {
        LoadConfig c;
        c.transport_id = id;
        c.message_bytes = kLoadBytes;
        c.rate = static_cast<double>(rate);
        c.messages = messages;
        c.cpus = cpus;
        c.watchdog = o.watchdog;
        // Above saturation the schedule falls ever further behind: stop sending at three times
        // its planned length (or the case's budget), so a case past the knee stays short.
        const double planned_s = static_cast<double>(messages) / static_cast<double>(rate);
        const std::uint64_t cap =
            now_ns() + static_cast<std::uint64_t>(3e9 * planned_s) + kStartAllowanceNs;
        c.deadline_ns = p.deadline_ns() == 0 ? cap : std::min(cap, p.deadline_ns());
        publish(p, run_load_case(c), saturation_ps);
      },
      benchmark::kMicrosecond, messages);
}

}  // namespace

std::vector<std::uint64_t> sweep_rates(double saturation_per_second, bool quick) {
  std::vector<std::uint64_t> rates;
  const std::span<const double> fractions =
      quick ? std::span<const double>(kQuickSweep) : std::span<const double>(kFullSweep);
  for (double f : fractions) {
    const double r = f * saturation_per_second;
    if (!(r > 0)) continue;
    const double scale = std::pow(10.0, std::floor(std::log10(r)) - 1);  // two digits
    const auto rounded = static_cast<std::uint64_t>(std::llround(std::round(r / scale) * scale));
    rates.push_back(std::clamp<std::uint64_t>(rounded, 100, kMaxRate));
  }
  std::sort(rates.begin(), rates.end());
  rates.erase(std::unique(rates.begin(), rates.end()), rates.end());
  return rates;
}

void register_load_benchmarks(const BenchOptions& o) {
  benchmark::AddCustomContext(
      "ipcbench_load_units",
      "Load/<id>/rate:<r>/bytes:64: the producer sends on a fixed schedule (message k due at "
      "t0 + k/r, its due time written into it) and never waits for a reply; the consumer echoes "
      "each; a receiver thread in the producer process times the replies. p50_ns..max_ns: "
      "corrected latency, reply time - due time; uncorrected_*_ns: reply time - actual send "
      "time (what a closed loop reports); offered_per_second: r; achieved_per_second: replies / "
      "(last reply - t0); late_sends: messages sent more than late_tolerance_ns after due; lost: "
      "no reply (lossy transports; a 20 ms receive timeout after the last send ends the case); "
      "sustained: 1 when achieved >= 98% of offered and at most 0.1% lost; a case whose schedule "
      "falls behind stops sending at 3x its planned length (1 s, 0.1 s with --quick), which "
      "budget_cut and measured_iterations then show; "
      "saturation_per_second: the transport's stream rate at 64 B on the same CPUs, measured at "
      "registration, before any case, from which the default sweep is chosen. Each direction "
      "has its own transport object (data down one, echoes up the other), so no object is "
      "used by two threads of one process");
  std::vector<std::string> ids;
  for (const std::string& id : o.transports) {
    const bool representative = std::find(std::begin(kQuickTransports), std::end(kQuickTransports),
                                          id) != std::end(kQuickTransports);
    if (!o.quick || o.transports_given || representative) ids.push_back(id);
  }
  std::vector<Placement> placements = o.placements;
  if (placements.empty()) placements.push_back({"", o.cpus, ""});
  for (const Placement& where : placements) {
    const std::vector<int> threads = load_placement(where.cpus);
    const std::string suffix = where.kind.empty() ? "" : "/placement:" + where.kind;
    for (const std::string& id : ids) {
      const Resolved resolved = resolve_load(id, kLoadBytes, threads);
      std::string why = across_hosts_unsupported(id, kLoadBytes);
      if (why.empty() && !resolved.runs()) why = resolved.unsupported;
      if (!why.empty()) {
        record_unsupported("Load/" + id + "/bytes:" + std::to_string(kLoadBytes) + suffix, why);
        continue;
      }
      benchmark::AddCustomContext("ipcbench_load_placement/" + id + suffix,
                                  load_placement_text(threads));
      std::vector<std::uint64_t> rates = o.rates;
      double measured = 0;
      if (!filter_may_select(id, where.kind)) continue;  // never run: no calibration
      if (rates.empty()) {
        try {
          measured = saturation(id, where.cpus, o);
        } catch (const std::exception& e) {
          record_unsupported(
              "Load/" + id + "/bytes:" + std::to_string(kLoadBytes) + suffix,
              std::string("its calibration stream failed, so no sweep: ") + e.what());
          continue;
        }
        char text[96];
        std::snprintf(text, sizeof text, "%.0f messages/s", measured);
        benchmark::AddCustomContext("ipcbench_load_saturation/" + id + suffix, text);
        rates = sweep_rates(measured, o.quick);
      }
      for (std::uint64_t rate : rates) {
        register_load_case(o, id, rate, where.cpus, where.kind, measured);
      }
    }
  }
}

}  // namespace ipcbench
