#include "bench/patterns.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "bench/cases.hpp"
#include "harness/fan_in.hpp"
#include "harness/fan_out.hpp"
#include "harness/pairs.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kPatternBytes = 64;  // small messages: the pattern, not copying, dominates

// Registers `name` when resolve() runs it; records why not otherwise (the form once, as
// "<Pattern>/<id>", or this size). True when registered.
bool resolvable(const std::string& pattern, const std::string& name, const Resolved& r,
                bool& form_recorded) {
  if (r.runs()) return true;
  if (!form_support(*r.info, r.form).supported) {
    if (!form_recorded) record_unsupported(pattern + "/" + r.id(), r.unsupported);
    form_recorded = true;
    return false;
  }
  record_unsupported(name, r.unsupported);
  return false;
}

// The cpu_shared counter (1 when two of the case's processes are pinned to one CPU: a blocking
// transport may run so, but its figures then include the scheduler's sharing, and the report
// draws no scaling line across a change of it) and the label's words for it ("" when none).
std::string publish_sharing(Publisher& p, const CpuSharing& sharing) {
  p.counter("cpu_shared", sharing.shared() ? 1.0 : 0.0);
  return sharing.shared() ? "; " + sharing.text() : "";
}

// ---- FanIn ----

// Timed round trips per client: about 20000 in all (so the merged p99.9 rests on enough samples),
// at least 1000 per client for its own p99. --quick: fixed and small.
std::uint64_t fan_in_iterations(bool quick, std::size_t clients) {
  if (quick) return 300;
  return std::max<std::uint64_t>(20000 / clients, 1000);
}

void register_fan_in(const BenchOptions& o, const std::string& name, const std::string& id,
                     std::size_t clients, std::size_t bytes) {
  // The server on the first pattern CPU, the clients round-robin over them (see pattern_cpus).
  const std::vector<int> cpus = pattern_cpus(o);
  benchmark::AddCustomContext("ipcbench_placement/" + name, fan_in_placement(cpus, clients));
  const std::uint64_t iterations = fan_in_iterations(o.quick, clients);
  // Fixed iterations: each call forks N + 1 processes, so Google Benchmark's search is not wanted.
  register_case(
      name,
      [=](Publisher& p) {
        FanInConfig config;
        config.transport_id = id;
        config.message_bytes = bytes;
        config.clients = clients;
        config.iterations = iterations;
        config.cpus = cpus;
        config.watchdog = o.watchdog;
        const FanInResult r = run_fan_in(config);
        // The others finished, but a row with a failed client is not a measurement.
        if (!r.failed_clients.empty()) throw std::runtime_error("failed " + r.failures);
        p.spread(r.wall_seconds);  // every iteration its share: wall time / round trips per client
        const double done = static_cast<double>(r.round_trips);  // all clients together
        p.rates(done, 2.0 * done * static_cast<double>(bytes), r.wall_seconds);
        p.latency(r.rtt, "", "fan_in_rtt", "round trip");
        p.counter("samples", static_cast<double>(r.rtt.count()));
        p.counter("worst_client_p99_ns", static_cast<double>(r.worst_client_p99_ns));
        p.checks(r.lost, r.corrupt, r.reordered);
        p.counter("failed_clients", static_cast<double>(r.failed_clients.size()));
        p.counter("clients", static_cast<double>(clients));
        p.cpu_cost(r.cpu_seconds, r.context_switches, 2.0 * done);  // a request and its reply
        std::string label = "checks=seq+payload";
        if (r.lost > 0) label += " lost=" + std::to_string(r.lost);
        if (r.corrupt > 0) label += " CORRUPT=" + std::to_string(r.corrupt);
        p.label(label + publish_sharing(p, r.sharing));
      },
      benchmark::kMicrosecond, iterations);
}

// ---- Pairs ----

void register_pairs(const BenchOptions& o, const std::string& name, const std::string& id,
                    std::size_t bytes, std::size_t n) {
  register_case(
      name,
      [=](Publisher& p) {
        PairsConfig c;
        c.transport_id = id;
        c.message_bytes = bytes;
        c.pairs = n;
        c.iterations = static_cast<std::uint64_t>(p.state().max_iterations);
        const std::vector<int> where = pattern_placement(Form::kPairs, n, pattern_cpus(o));
        for (std::size_t i = 0; i < n; ++i) c.cpus.push_back({where[2 * i], where[2 * i + 1]});
        c.watchdog = o.watchdog;
        c.deadline_ns = p.deadline_ns();
        const PairsResult r = run_pairs(c);
        if (r.failed > 0) {
          throw std::runtime_error(std::to_string(r.failed) + " of " + std::to_string(n) +
                                   " pairs failed (the others finished): " + r.failures);
        }
        // Each iteration its share of the wall time: round trips per pair over the wall time.
        p.spread(r.wall_seconds, r.round_trips / n, r.cut);
        p.latency(r.rtt, "", "pairs_rtt", "round trip");
        p.counter("samples", static_cast<double>(r.rtt.count()));
        p.counter("worst_pair_p99_ns", static_cast<double>(r.worst_p99_ns));
        const double done = static_cast<double>(r.round_trips);
        p.rates(done, 2.0 * done * static_cast<double>(bytes), r.wall_seconds);
        p.counter("pairs", static_cast<double>(n));
        p.checks(r.lost, r.corrupt, r.reordered);
        p.cpu_cost(r.cpu_seconds, r.context_switches, 2.0 * done);  // a round trip moves two
        std::string label;
        for (const std::string& s : r.placement) label += (label.empty() ? "" : ", ") + s;
        p.label(label + publish_sharing(p, r.sharing));
      },
      benchmark::kMicrosecond, o.quick ? 500 : 0);
}

// ---- FanOut ----

void register_fan_out(const BenchOptions& o, const std::string& name, const std::string& id,
                      std::size_t bytes, std::size_t n) {
  register_case(
      name,
      [=](Publisher& p) {
        FanOutConfig c;
        c.transport_id = id;
        c.message_bytes = bytes;
        c.consumers = n;
        c.iterations = static_cast<std::uint64_t>(p.state().max_iterations);
        c.cpus = pattern_cpus(o);  // the producer on the first, consumers round-robin after it
        c.watchdog = o.watchdog;
        const FanOutResult r = run_fan_out(c);
        p.iteration_times(r.iteration_seconds);
        p.latency(r.round, "", "fan_out_round", "round trip");
        p.latency(r.delivery, "delivery_", "fan_out_delivery", "one-way producer->last consumer");
        p.counter("samples", static_cast<double>(r.round.count()));
        const double delivered = static_cast<double>(r.delivered);
        p.rates(delivered, delivered * static_cast<double>(bytes), r.timed_seconds);
        p.counter("consumers", static_cast<double>(n));
        p.checks(r.lost, r.corrupt, r.reordered);
        // Each consumer's copy and its ack (on the ring, its tail release) are two messages.
        p.cpu_cost(r.cpu_seconds, r.context_switches, 2.0 * delivered);
        std::string where = "producer cpu" + std::to_string(r.placement[0]) + ", consumers";
        for (std::size_t k = 0; k < n; ++k) where += " cpu" + std::to_string(r.placement[k + 1]);
        p.label(where + "; " + r.design + "; delivery_* = one-way to the last consumer" +
                publish_sharing(p, r.sharing));
      },
      benchmark::kMicrosecond, o.quick ? 500 : 0);
}

}  // namespace

void register_pattern_benchmarks(const BenchOptions& o) {
  benchmark::AddCustomContext(
      "ipcbench_fan_in_units",
      "FanIn: time = wall time from the barrier's release to the last client's end, divided by "
      "the round trips per client; items_per_second = round trips/s of all clients together; "
      "*_ns = one client's round trip (RTT), merged over clients; bytes_per_second counts both "
      "ways");
  const std::size_t cpus = allowed_cpus().size();
  std::vector<std::size_t> clients_counts, pair_counts, consumer_counts;
  if (o.quick) {  // N = 1 too: the form against its own pair (pattern_consistency_systest)
    clients_counts = {1, 2, 4};
    pair_counts = {1, 2, 2 * cpus};
    consumer_counts = {1, 2, 4};
  } else {
    clients_counts = {1, 2, 4, 8, 16};
    for (std::size_t n = 1; n <= 2 * cpus; n *= 2) pair_counts.push_back(n);
    if (pair_counts.back() != 2 * cpus) pair_counts.push_back(2 * cpus);
    consumer_counts = {1, 2, 4, 8};
  }
  pair_counts.erase(std::unique(pair_counts.begin(), pair_counts.end()), pair_counts.end());
  // Resolved where the case will run: a spinner with fewer CPUs than processes is unsupported.
  const std::vector<int> where = pattern_cpus(o);
  auto resolve_on = [&](const std::string& id, Form form, std::size_t bytes, std::size_t n) {
    return resolve(id, form, bytes, n, pattern_placement(form, n, where));
  };
  for (const std::string& id : o.transports) {
    bool recorded = false;
    for (std::size_t n : clients_counts) {
      const std::string name = fan_in_case_name(id, n, kPatternBytes);
      if (resolvable("FanIn", name, resolve_on(id, Form::kFanIn, kPatternBytes, n), recorded)) {
        register_fan_in(o, name, id, n, kPatternBytes);
      }
    }
  }
  for (const std::string& id : o.transports) {
    bool recorded = false;
    const std::size_t bytes = pattern_bytes(*find_transport(id), kPatternBytes);
    for (std::size_t n : pair_counts) {
      const std::string name = pairs_case_name(id, n, bytes);
      if (resolvable("Pairs", name, resolve_on(id, Form::kPairs, bytes, n), recorded)) {
        register_pairs(o, name, id, bytes, n);
      }
    }
  }
  for (const std::string& id : o.transports) {
    bool recorded = false;
    for (std::size_t n : consumer_counts) {
      const std::string name = fan_out_case_name(id, n, kPatternBytes);
      if (resolvable("FanOut", name, resolve_on(id, Form::kFanOut, kPatternBytes, n), recorded)) {
        register_fan_out(o, name, id, kPatternBytes, n);
      }
    }
  }
}

}  // namespace ipcbench
