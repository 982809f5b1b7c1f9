#include "harness/pairs.hpp"

#include <algorithm>
#include <memory>

#include "harness/launch.hpp"
#include "harness/loops.hpp"
#include "harness/pair.hpp"

namespace ipcbench {
namespace {

// What one pair's runner reports when it finishes.
struct PairReport {
  Histogram rtt;
  std::uint64_t round_trips = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t start_ns = 0, end_ns = 0;
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
  bool cut = false;
};

struct PairsShared {
  PairReport pairs[kMaxPeers];
};

}  // namespace

PairsResult run_pairs(const PairsConfig& config) {
  const std::size_t n = config.pairs;
  // Process 2i is pair i's producer, 2i + 1 its consumer.
  std::vector<int> placement;
  if (config.cpus.empty()) {
    placement = pattern_placement(Form::kPairs, n);
  } else if (n >= 1 && n <= kMaxPeers) {
    for (std::size_t i = 0; i < n; ++i) {
      const CpuPair where = config.cpus[i % config.cpus.size()];
      placement.push_back(where.producer);
      placement.push_back(where.consumer);
    }
  }
  const Resolved resolved =
      resolve(config.transport_id, Form::kPairs, config.message_bytes, n, placement);
  resolved.require();
  const std::string id = resolved.id();
  std::vector<CpuPair> cpus;
  for (std::size_t i = 0; i < n; ++i) {
    cpus.push_back({resolved.placement[2 * i], resolved.placement[2 * i + 1]});
  }
  PairsResult result;
  result.sharing = resolved.sharing;
  auto shared = std::make_unique<SharedRegion<PairsShared>>();
  PairsShared& sh = **shared;
  Launch launch(id, config.watchdog);
  for (std::size_t i = 0; i < n; ++i) {
    const CpuPair where = cpus[i];
    result.placement.push_back("pair " + std::to_string(i) + ": cpu" +
                               std::to_string(where.producer) + "->cpu" +
                               std::to_string(where.consumer));
    // The runner is the pair's producer: run_pair pins it and watches its consumer itself.
    launch.start(
        "pair " + std::to_string(i), -1,
        [&, i, where](Peer& peer) {
          PairConfig pc;
          pc.transport_id = id;
          pc.pattern = Pattern::kRoundTrip;
          pc.message_bytes = config.message_bytes;
          pc.iterations = config.iterations;
          pc.cpus = where;
          pc.watchdog = config.watchdog;
          pc.tmp_root = config.tmp_root;
          pc.before_timing = [&peer] { peer.arrive_and_wait(); };
          pc.deadline_ns = config.deadline_ns;
          const PairResult r = run_pair(pc);
          PairReport& out = sh.pairs[i];
          out.rtt = r.rtt;
          out.round_trips = r.rtt.count();
          out.lost = r.lost;
          out.corrupt = r.corrupt;
          out.reordered = r.reordered;
          out.start_ns = r.timed_start_ns;
          out.end_ns = r.timed_end_ns;
          out.cpu_seconds = r.cpu_seconds;
          out.context_switches = r.context_switches;
          out.cut = r.cut;
          peer.finish();
        },
        Launch::Kind::kProcess, Launch::OnFailure::kAloneUnwatched);
  }
  (void)launch.release(n);
  if (const std::string failure = launch.wait_all(); !failure.empty()) launch.fail(failure);
  std::uint64_t start = UINT64_MAX, end = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!launch.failure(i).empty()) {
      ++result.failed;
      const char* error = launch.slot(i).error;
      const std::string why = error[0] ? std::string(error) : launch.failure(i);
      result.failures +=
          (result.failures.empty() ? "" : "; ") + ("pair " + std::to_string(i) + ": " + why);
      continue;
    }
    const PairReport& s = sh.pairs[i];
    result.rtt.merge(s.rtt);
    result.round_trips += s.round_trips;
    result.lost += s.lost;
    result.corrupt += s.corrupt;
    result.reordered += s.reordered;
    result.cpu_seconds += s.cpu_seconds;
    result.context_switches += s.context_switches;
    result.cut = result.cut || s.cut;
    start = std::min(start, s.start_ns);
    end = std::max(end, s.end_ns);
  }
  const WorstP99 worst = worst_p99(
      n, [&](std::size_t i) { return launch.failure(i).empty() ? &sh.pairs[i].rtt : nullptr; });
  result.worst_p99_ns = worst.p99_ns;
  result.worst_pair = worst.index;
  if (end > start) result.wall_seconds = static_cast<double>(end - start) * 1e-9;
  return result;
}

}  // namespace ipcbench
