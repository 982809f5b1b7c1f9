#include "bench/cases.hpp"

#include "bench/console.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>

#include "harness/clock.hpp"
#include "harness/process.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// Cases not run, in the order they would have run: name -> reason.
std::vector<std::pair<std::string, std::string>>& unsupported_cases() {
  static std::vector<std::pair<std::string, std::string>> cases;
  return cases;
}

struct HistogramFile {
  std::FILE* file = nullptr;
  std::uint64_t next_id = 0;
};
HistogramFile& histogram_file() {
  static HistogramFile f;
  return f;
}

std::string size_part(std::size_t bytes) { return "/bytes:" + std::to_string(bytes); }

}  // namespace

std::string pair_case_name(std::string_view pattern, std::string_view id, std::size_t bytes,
                           const std::string& placement) {
  return std::string(pattern) + "/" + std::string(id) + size_part(bytes) +
         (placement.empty() ? "" : "/placement:" + placement);
}
std::string fan_in_case_name(std::string_view id, std::size_t clients, std::size_t bytes) {
  return "FanIn/" + std::string(id) + "/clients:" + std::to_string(clients) + size_part(bytes);
}
std::string fan_out_case_name(std::string_view id, std::size_t consumers, std::size_t bytes) {
  return "FanOut/" + std::string(id) + "/consumers:" + std::to_string(consumers) + size_part(bytes);
}
std::string pairs_case_name(std::string_view id, std::size_t pairs, std::size_t bytes) {
  return "Pairs/" + std::string(id) + "/pairs:" + std::to_string(pairs) + size_part(bytes);
}

void record_unsupported(const std::string& name, const std::string& why) {
  unsupported_cases().emplace_back(name, why);
  benchmark::AddCustomContext("unsupported/" + name, why);
}

bool runs_or_record(const std::string& name, const Resolved& resolved) {
  if (resolved.runs()) return true;
  record_unsupported(name, resolved.unsupported);
  return false;
}

benchmark::BenchmarkReporter* console_reporter(bool all_counters) {
  // Google Benchmark 1.7 has no SkipWithMessage: a case that is not run would not show at all.
  static BriefConsole console(all_counters, [] {
    if (unsupported_cases().empty()) return;
    std::cout << "\nUnsupported (not run; also in the JSON context as \"unsupported/<name>\"):\n";
    for (const std::string& line : unsupported_lines()) std::cout << wrapped(line, 158, 2, 6);
  });
  return &console;
}

std::vector<std::string> unsupported_lines() {
  // One group per case name without its size and reason, in the order the cases came.
  struct Group {
    std::string before, after, why;  // the name around "/bytes:<n>", and the reason
    std::vector<std::string> sizes;
  };
  std::vector<Group> groups;
  for (const auto& [name, why] : unsupported_cases()) {
    std::string before = name, after, size;
    if (const std::size_t at = name.find("/bytes:"); at != std::string::npos) {
      const std::size_t digits = at + 7;
      const std::size_t end = name.find_first_not_of("0123456789", digits);
      before = name.substr(0, at);
      size = name.substr(digits, end == std::string::npos ? std::string::npos : end - digits);
      after = end == std::string::npos ? "" : name.substr(end);
    }
    auto same = [&](const Group& g) {
      return g.before == before && g.after == after && g.why == why;
    };
    auto it = std::find_if(groups.begin(), groups.end(), same);
    if (it == groups.end() || size.empty()) {
      groups.push_back({before, after, why, {}});
      it = std::prev(groups.end());
    }
    if (!size.empty()) it->sizes.push_back(size);
  }
  // Then one line per transport and reason, naming each case without the transport:
  // "sysv_mq: RoundTrip/bytes:16384,65536, Stream/bytes:16384,65536: <reason>".
  struct Line {
    std::string transport, why, cases;
  };
  std::vector<Line> lines;
  for (const Group& g : groups) {
    std::string name = g.before;
    if (!g.sizes.empty()) {
      name += "/bytes:";
      for (std::size_t i = 0; i < g.sizes.size(); ++i) name += (i ? "," : "") + g.sizes[i];
    }
    name += g.after;
    // "<Pattern>/<transport>/<rest>": the transport is the second part.
    std::string transport;
    if (const std::size_t a = name.find('/'); a != std::string::npos) {
      const std::size_t b = name.find('/', a + 1);
      transport = name.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
      name = name.substr(0, a) + (b == std::string::npos ? "" : name.substr(b));
    }
    auto it = std::find_if(lines.begin(), lines.end(), [&](const Line& l) {
      return l.transport == transport && l.why == g.why;
    });
    if (it == lines.end()) {
      lines.push_back({transport, g.why, name});
    } else {
      it->cases += ", " + name;
    }
  }
  std::vector<std::string> out;
  for (const Line& l : lines) {
    out.push_back((l.transport.empty() ? "" : l.transport + ": ") + l.cases + ": " + l.why);
  }
  return out;
}

void print_unsupported_to_stderr() {
  for (const std::string& line : unsupported_lines()) {
    std::fprintf(stderr, "ipcbench: unsupported (not run): %s\n", line.c_str());
  }
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

void open_histogram_file(const std::string& benchmark_out) {
  const std::string path = benchmark_out + ".hist.jsonl";
  HistogramFile& f = histogram_file();
  f.file = std::fopen(path.c_str(), "we");
  if (f.file == nullptr) throw_sys_error(errno, "fopen", path);
  std::fputs(
      "{\"format\": \"ipcbench-histograms\", \"version\": 1, \"scheme\": {\"kind\": "
      "\"log-linear\", \"exact_below\": 256, \"sub_buckets\": 128}}\n",
      f.file);
  std::fflush(f.file);
  const std::size_t slash = path.rfind('/');
  benchmark::AddCustomContext("ipcbench_histograms",
                              slash == std::string::npos ? path : path.substr(slash + 1));
}

void Publisher::iteration_times(const std::vector<double>& seconds, bool cut) {
  if (seconds.empty()) throw std::runtime_error("no iteration was measured");
  const auto planned =
      static_cast<std::size_t>(std::max<benchmark::IterationCount>(state_.max_iterations, 1));
  double mean = 0;
  for (double s : seconds) mean += s;
  mean /= static_cast<double>(seconds.size());
  std::size_t i = 0;
  for (auto _ : state_) state_.SetIterationTime(i < seconds.size() ? seconds[i++] : mean);
  const std::size_t measured = std::min(seconds.size(), planned);
  state_.counters["budget_cut"] = cut ? 1 : 0;
  if (measured < planned || cut) {
    state_.counters["measured_iterations"] = static_cast<double>(measured);
    char budget[32];
    std::snprintf(budget, sizeof budget, "%g", static_cast<double>(case_budget().count()) / 1000.0);
    short_note_ = (cut ? "cut by the " + std::string(budget) + " s budget: " : std::string()) +
                  "measured " + std::to_string(measured) + " of " + std::to_string(planned) +
                  " iterations (time = their mean)";
  }
}

void Publisher::label(const std::string& text) {
  if (short_note_.empty()) {
    state_.SetLabel(text);
  } else {
    state_.SetLabel(text + (text.empty() ? "" : " ") + short_note_);
  }
}

void Publisher::spread(double seconds, std::uint64_t measured, bool cut) {
  const auto planned =
      static_cast<std::uint64_t>(std::max<benchmark::IterationCount>(state_.max_iterations, 1));
  if (measured == 0 && cut) throw std::runtime_error("no iteration was measured");
  const std::uint64_t n = measured == 0 ? planned : std::min(measured, planned);
  iteration_times(std::vector<double>(n, seconds / static_cast<double>(n)), cut);
}

void Publisher::rates(double items, double bytes, double seconds) {
  if (!(seconds > 0)) {
    throw std::runtime_error("no measured time (" + std::to_string(seconds) +
                             " s): no rate can be given");
  }
  counter("items_per_second", items / seconds);
  counter("bytes_per_second", bytes / seconds);
}

void Publisher::cpu_cost(double cpu_seconds, std::uint64_t context_switches, double messages) {
  const double moved = std::max(messages, 1.0);
  counter("cpu_ns_per_msg", cpu_seconds * 1e9 / moved);
  counter("ctx_switches_per_msg", static_cast<double>(context_switches) / moved);
}

void Publisher::checks(std::uint64_t lost, std::uint64_t corrupt, std::uint64_t reordered) {
  counter("lost", static_cast<double>(lost));
  counter("corrupt", static_cast<double>(corrupt));
  counter("reordered", static_cast<double>(reordered));
}

void Publisher::latency(const Histogram& h, const std::string& prefix, const std::string& metric,
                        const std::string& latency, bool with_mean) {
  auto& c = state_.counters;
  c[prefix + "p50_ns"] = static_cast<double>(h.percentile(50));
  c[prefix + "p90_ns"] = static_cast<double>(h.percentile(90));
  c[prefix + "p99_ns"] = static_cast<double>(h.percentile(99));
  c[prefix + "p999_ns"] = static_cast<double>(h.percentile(99.9));
  c[prefix + "max_ns"] = static_cast<double>(h.max());
  if (with_mean) {
    c[prefix + "mean_ns"] = h.mean();
    c[prefix + "samples"] = static_cast<double>(h.count());
  }
  histogram(h, metric, latency);
}

void Publisher::histogram(const Histogram& h, const std::string& metric,
                          const std::string& latency) {
  HistogramFile& f = histogram_file();
  if (f.file == nullptr) return;
  if (!hist_id_) {
    hist_id_ = f.next_id++;
    state_.counters["hist_id"] = static_cast<double>(*hist_id_);
  }
  std::string line =
      "{\"hist_id\": " + std::to_string(*hist_id_) + ", \"case\": " + json_string(case_) +
      ", \"metric\": " + json_string(metric) + ", \"latency\": " + json_string(latency) +
      ", \"unit\": \"ns\", \"count\": " + std::to_string(h.count()) +
      ", \"min\": " + std::to_string(h.min()) + ", \"max\": " + std::to_string(h.max()) +
      ", \"sum\": " + std::to_string(h.sum()) + ", \"buckets\": [";
  bool first = true;
  for (std::size_t b = 0; b < Histogram::kBuckets; ++b) {
    const std::uint64_t n = h.bucket_count(b);
    if (n == 0) continue;
    line += (first ? "[" : ", [") + std::to_string(Histogram::bucket_low(b)) + ", " +
            std::to_string(Histogram::bucket_high(b)) + ", " + std::to_string(n) + "]";
    first = false;
  }
  line += "]}\n";
  std::fputs(line.c_str(), f.file);
  std::fflush(f.file);
}

namespace {

std::atomic<std::int64_t> g_budget_ms{0};

// The case running now, for the heartbeat (written by the main thread between cases, read by
// the watchdog threads' tick).
struct Running {
  std::atomic<const std::string*> name{nullptr};
  std::atomic<std::int64_t> since_ns{0};
  std::atomic<std::int64_t> last_print_ns{0};
  std::atomic<std::int64_t> every_ns{0};
  std::atomic<pid_t> pid{0};
  std::atomic<void (*)(const char*)> sink{nullptr};
};
Running& running() {
  static Running r;
  return r;
}

void heartbeat_tick() {
  Running& r = running();
  if (::getpid() != r.pid.load()) return;  // a forked child's watchdog: not ours to speak
  const std::string* name = r.name.load();
  if (name == nullptr) return;
  const auto now = static_cast<std::int64_t>(now_ns());
  const std::int64_t every = r.every_ns.load();
  const std::int64_t since = r.since_ns.load();
  if (now - since < every || now - r.last_print_ns.load() < every) return;
  r.last_print_ns.store(now);
  progress_clear();
  char line[512];
  std::snprintf(line, sizeof line, "ipcbench: still running %s (%lld s so far)\n", name->c_str(),
                static_cast<long long>((now - since) / 1'000'000'000));
  if (auto sink = r.sink.load()) {
    sink(line);
  } else {
    std::fputs(line, stderr);
  }
}

// When a case's budget started: a repetition's first call. Google Benchmark's first repetition
// calls the body with a growing iteration count until the measured time is long enough; later
// repetitions call it once each with the count it found. So a call with more iterations than the
// case's previous call continues that repetition, and any other call starts a new one.
std::size_t& registered_count() {
  static std::size_t n = 0;
  return n;
}

struct BudgetClock {
  std::uint64_t started_ns = 0;
  benchmark::IterationCount last_iterations = 0;
};

}  // namespace

std::size_t registered_cases() noexcept { return registered_count(); }

void set_case_budget(std::chrono::milliseconds budget) noexcept { g_budget_ms = budget.count(); }
std::chrono::milliseconds case_budget() noexcept {
  return std::chrono::milliseconds(g_budget_ms.load());
}

void start_heartbeat(std::chrono::milliseconds every, void (*sink)(const char* line)) {
  Running& r = running();
  r.every_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(every).count());
  r.sink.store(sink);
  r.pid.store(::getpid());
  set_watchdog_tick(&heartbeat_tick);
}

void stop_heartbeat() {
  set_watchdog_tick(nullptr);
  running().name.store(nullptr);
}

benchmark::internal::Benchmark* register_case(const std::string& name,
                                              std::function<void(Publisher&)> body,
                                              benchmark::TimeUnit unit, std::uint64_t iterations,
                                              bool manual_time) {
  auto clock = std::make_shared<BudgetClock>();
  auto name_ptr = std::make_shared<const std::string>(name);
  ++registered_count();
  auto* b = benchmark::RegisterBenchmark(
      name.c_str(), [name, name_ptr, clock, body = std::move(body)](benchmark::State& state) {
        const std::uint64_t now = now_ns();
        if (state.max_iterations <= clock->last_iterations || clock->started_ns == 0) {
          clock->started_ns = now;  // a new repetition (see BudgetClock)
          progress_repetition_started(name);
        }
        clock->last_iterations = state.max_iterations;
        const auto budget = static_cast<std::uint64_t>(case_budget().count()) * 1'000'000u;
        Publisher publisher(state, name, budget == 0 ? 0 : clock->started_ns + budget);
        {
          Running& r = running();
          if (r.name.load() != name_ptr.get()) {  // a new case: its own clock
            r.since_ns.store(static_cast<std::int64_t>(now));
            r.last_print_ns.store(0);
          }
          r.name.store(name_ptr.get());
        }
        try {
          body(publisher);
        } catch (const std::exception& e) {
          state.SkipWithError(e.what());
          // Google Benchmark wants its loop run once per call; a body that threw after its loop
          // (a rate over no time, say) has run it already, and a second start would abort.
          if (state.iterations() == 0) {
            for (auto _ : state) {
            }
          }
        }
      });
  if (manual_time) {
    b->UseManualTime();
  } else {
    b->UseRealTime();
  }
  b->Unit(unit);
  if (iterations > 0) b->Iterations(static_cast<benchmark::IterationCount>(iterations));
  return b;
}

std::string transports_json() {
  auto flag = [](bool v) { return v ? "true" : "false"; };
  std::string out = "[";
  bool first = true;
  for (const TransportInfo& info : all_transports()) {
    const Capabilities caps = info.describe();
    const char* payload = caps.payload == Payload::kBytes  ? "bytes"
                          : caps.payload == Payload::kWord ? "word"
                                                           : "nothing";
    out += first ? "" : ", ";
    first = false;
    out += "{\"id\": " + json_string(info.id) + ", \"family\": " + json_string(info.family) +
           ", \"lecture_row\": " + json_string(info.lecture_row) +
           ", \"lecture_means\": " + flag(info.lecture_means) +
           ", \"description\": " + json_string(info.description) + ", \"payload\": \"" + payload +
           "\", \"max_message_bytes\": " +
           (caps.max_message_bytes == SIZE_MAX ? std::string("null")
                                               : std::to_string(caps.max_message_bytes)) +
           ", \"in_process\": " + flag(caps.in_process) + ", \"may_lose\": " + flag(caps.may_lose) +
           ", \"may_coalesce\": " + flag(caps.may_coalesce) +
           ", \"busy_polls\": " + flag(caps.busy_polls) +
           ", \"waits_by\": " + json_string(caps.waits_by) +
           ", \"unavailable\": " + json_string(caps.unavailable) +
           ", \"relay\": " + json_string(caps.relay) + ", \"forms\": {";
    bool first_form = true;
    for (Form form : kAllForms) {
      const FormSupport s = form_support(info, form);
      out += (first_form ? "\"" : ", \"") + std::string(form_name(form)) +
             "\": {\"supported\": " + flag(s.supported) +
             (s.supported ? ", \"design\": " : ", \"reason\": ") + json_string(s.text) + "}";
      first_form = false;
    }
    out += "}}";
  }
  return out + "]";
}

}  // namespace ipcbench
