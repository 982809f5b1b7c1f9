// Cases: the one way ipcbench names a case, registers it, publishes its counters and histograms,
// and records a case that is unsupported (not run) or errored, on the console and in the JSON.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/histogram.hpp"
#include "harness/resolve.hpp"

namespace ipcbench {

// Case names, as the plot scripts parse them (Google Benchmark appends /iterations:N and
// /manual_time or /real_time).
[[nodiscard]] std::string pair_case_name(std::string_view pattern, std::string_view id,
                                         std::size_t bytes, const std::string& placement);
[[nodiscard]] std::string fan_in_case_name(std::string_view id, std::size_t clients,
                                           std::size_t bytes);
[[nodiscard]] std::string fan_out_case_name(std::string_view id, std::size_t consumers,
                                            std::size_t bytes);
[[nodiscard]] std::string pairs_case_name(std::string_view id, std::size_t pairs,
                                          std::size_t bytes);

// Records a case that is not run: the console lists it after the table (stderr when the console
// is not the format) and the JSON context carries "unsupported/<name>": <why>.
void record_unsupported(const std::string& name, const std::string& why);
// Records `resolved`'s case as unsupported when it does not run; true when it runs.
[[nodiscard]] bool runs_or_record(const std::string& name, const Resolved& resolved);
// The console reporter (bench/console.hpp): one row per case, or with `all_counters` Google
// Benchmark's table; then the unsupported cases.
[[nodiscard]] benchmark::BenchmarkReporter* console_reporter(bool all_counters);
// Prints the unsupported cases to stderr (when the console is not the format).
// The cases not run, grouped: one line per transport and reason, naming its cases with the sizes
// each was refused at ("sysv_mq: RoundTrip/bytes:16384,65536, Stream/bytes:16384,65536:
// <reason>"), in the order they came.
std::vector<std::string> unsupported_lines();
void print_unsupported_to_stderr();

// The lossless histogram side file, FILE.hist.jsonl next to --benchmark_out=FILE. Opened by
// main() before any case runs (its basename goes into the context as ipcbench_histograms); each
// histogram line is written and flushed as its case publishes, so a crash keeps what ran. Throws
// std::system_error when the file cannot be created.
void open_histogram_file(const std::string& benchmark_out);

// How many cases register_case() registered so far.
[[nodiscard]] std::size_t registered_cases() noexcept;

// The wall-time budget of every case (0: none), for each repetition of the case, Google
// Benchmark's calls that search for an iteration count included. Set once by main().
void set_case_budget(std::chrono::milliseconds budget) noexcept;
[[nodiscard]] std::chrono::milliseconds case_budget() noexcept;

// Prints "ipcbench: still running <case> (N s so far)" lines to stderr while a case runs long
// (every `every`), so a long case shows it is alive. No thread of its own: the harness's watchdog
// thread, which runs whenever children are timed, calls it (set_watchdog_tick), so every fork()
// still happens in a single-threaded process. Only this process prints (never a forked child).
// `sink` (tests) receives the lines instead of stderr. Started by main().
inline constexpr std::chrono::seconds kHeartbeat{10};
void start_heartbeat(std::chrono::milliseconds every = kHeartbeat,
                     void (*sink)(const char* line) = nullptr);
void stop_heartbeat();

// What a case body publishes through: iteration times, counters, latency histograms, the label.
// One per benchmark-function call; its histograms share one hist_id (also a counter of the row).
class Publisher {
 public:
  Publisher(benchmark::State& state, std::string case_name, std::uint64_t deadline_ns) noexcept
      : state_(state), case_(std::move(case_name)), deadline_ns_(deadline_ns) {}
  // CLOCK_MONOTONIC when this call's budget runs out (0: no budget): the body hands it to the
  // harness, which stops at its next round trip or batch after it.
  [[nodiscard]] std::uint64_t deadline_ns() const noexcept { return deadline_ns_; }
  // One measured time per iteration (manual time). Fewer times than Google Benchmark's iterations
  // (a case cut by its budget, or lost round trips that ran out of tries): the rest are given the
  // mean of the measured ones, so the row's time is the mean of what was measured, and the row
  // says so (counters measured_iterations and budget_cut, and its label). Throws when none was
  // measured. `cut`: the harness stopped at the deadline.
  void iteration_times(const std::vector<double>& seconds, bool cut = false);
  // Each iteration the same share of `seconds`: divided by `measured` iterations (0: all of Google
  // Benchmark's); a row with fewer says so, as iteration_times() does.
  void spread(double seconds, std::uint64_t measured = 0, bool cut = false);
  void counter(const std::string& name, double value) { state_.counters[name] = value; }
  [[nodiscard]] double counter(const std::string& name) { return state_.counters[name]; }
  // p50/p90/p99/p999/max counters under `prefix` (and mean_ns/samples when `with_mean`), and the
  // histogram in the side file as `metric` ("rtt", "oneway_fwd", ...), `latency` in words.
  void latency(const Histogram& h, const std::string& prefix, const std::string& metric,
               const std::string& latency, bool with_mean = false);
  // items_per_second (`items`: messages or round trips) and bytes_per_second over `seconds` of
  // measured time. Throws std::runtime_error (the row errors, naming the case) when `seconds` is
  // not positive: a rate over no time is no measurement.
  void rates(double items, double bytes, double seconds);
  // cpu_ns_per_msg and ctx_switches_per_msg: both counts over the `messages` moved in the timed
  // part (at least 1).
  void cpu_cost(double cpu_seconds, std::uint64_t context_switches, double messages);
  // lost, corrupt and reordered: what the checks of every message found.
  void checks(std::uint64_t lost, std::uint64_t corrupt, std::uint64_t reordered);
  // The histogram in the side file only (its counters are the caller's).
  void histogram(const Histogram& h, const std::string& metric, const std::string& latency);
  // The row's label; a row whose iterations were not all measured says so after `text`.
  void label(const std::string& text);
  [[nodiscard]] benchmark::State& state() noexcept { return state_; }

 private:
  benchmark::State& state_;
  std::string case_;
  std::uint64_t deadline_ns_ = 0;
  std::string short_note_;  // "cut by the 10 s budget: measured 12 of 40 iterations"
  std::optional<std::uint64_t> hist_id_;
};

// Registers one case. `body` measures and publishes; any exception it throws errors the row
// (SkipWithError with its what(), recorded in the JSON; the other cases still run).
// `iterations` 0: Google Benchmark chooses. Returns the benchmark for more settings.
benchmark::internal::Benchmark* register_case(const std::string& name,
                                              std::function<void(Publisher&)> body,
                                              benchmark::TimeUnit unit, std::uint64_t iterations,
                                              bool manual_time = true);

// A string as a JSON string literal, quotes included.
[[nodiscard]] std::string json_string(std::string_view text);
// The ipcbench_transports context value: a JSON array, one object per registered transport.
[[nodiscard]] std::string transports_json();

}  // namespace ipcbench
