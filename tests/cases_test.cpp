// How a case publishes: a rate over no measured time is an error naming the case, a short set of
// iteration times is said (never silently padded), and the budget covers Google Benchmark's calls.
#include "bench/cases.hpp"

#include <benchmark/benchmark.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/clock.hpp"
#include "harness/launch.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;

// Collects the runs Google Benchmark reports.
class Collect : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>& reported) override {
    for (const Run& r : reported) runs.push_back(r);
  }
  std::vector<Run> runs;
};

// Runs the cases whose names match `spec` (registered by this test) and returns their runs.
std::vector<benchmark::BenchmarkReporter::Run> run_cases(const std::string& spec) {
  Collect collect;
  benchmark::RunSpecifiedBenchmarks(&collect, spec);
  return collect.runs;
}

// Item 11 of issue 12: a zero elapsed time used to be clamped to 1e-12 s (absurd rates); now the
// row errors, and its message says why (the row is the case).
TEST(Cases, ARateOverNoMeasuredTimeErrorsTheRow) {
  register_case(
      "CasesTest/zero_time",
      [](Publisher& p) {
        p.iteration_times({1e-6});
        p.rates(10, 640, 0.0);
      },
      benchmark::kMicrosecond, 1);
  const auto runs = run_cases("^CasesTest/zero_time");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].error_occurred);
  EXPECT_NE(runs[0].error_message.find("no measured time"), std::string::npos)
      << runs[0].error_message;
  EXPECT_EQ(runs[0].counters.count("items_per_second"), 0u);
}

// Fewer measured times than iterations: the row's time is the mean of the measured ones, and the
// row says how many were measured and whether the budget cut it.
TEST(Cases, AShortRowSaysHowManyIterationsWereMeasured) {
  register_case(
      "CasesTest/short",
      [](Publisher& p) {
        p.iteration_times({2e-6, 4e-6}, /*cut=*/true);
        p.label("checks=x");
      },
      benchmark::kMicrosecond, 10);
  const auto runs = run_cases("^CasesTest/short");
  ASSERT_EQ(runs.size(), 1u);
  const auto& r = runs[0];
  ASSERT_FALSE(r.error_occurred) << r.error_message;
  EXPECT_EQ(r.iterations, 10);
  EXPECT_NEAR(r.GetAdjustedRealTime(), 3.0, 1e-9);  // us: the mean of 2 and 4
  EXPECT_EQ(r.counters.at("measured_iterations").value, 2);
  EXPECT_EQ(r.counters.at("budget_cut").value, 1);
  EXPECT_NE(r.report_label.find("checks=x"), std::string::npos);
  EXPECT_NE(r.report_label.find("measured 2 of 10"), std::string::npos) << r.report_label;
  EXPECT_NE(r.report_label.find("budget"), std::string::npos) << r.report_label;
}

TEST(Cases, NoMeasuredIterationIsAnError) {
  register_case(
      "CasesTest/none", [](Publisher& p) { p.iteration_times({}); }, benchmark::kMicrosecond, 3);
  const auto runs = run_cases("^CasesTest/none");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_TRUE(runs[0].error_occurred);
}

// Issue 18: the budget covers every call Google Benchmark makes while it searches for an iteration
// count: each call gets the same deadline, from the repetition's first call. A body that spends
// 60 ms of wall time per call while measuring almost nothing would make Google Benchmark call it
// with ever more iterations; the deadline lets the harness stop, and the calls after it see it
// passed.
TEST(Cases, TheBudgetCoversEveryCallOfARepetition) {
  const auto saved = case_budget();
  set_case_budget(200ms);
  std::vector<std::uint64_t> deadlines;
  std::vector<std::uint64_t> starts;
  register_case(
      "CasesTest/budget",
      [&](Publisher& p) {
        starts.push_back(now_ns());
        deadlines.push_back(p.deadline_ns());
        const bool spent = now_ns() >= p.deadline_ns();
        if (!spent) std::this_thread::sleep_for(60ms);  // wall time the measurement cannot see
        p.iteration_times({1e-5}, spent);  // 10 us measured per iteration
      },
      benchmark::kMicrosecond, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto runs = run_cases("^CasesTest/budget");
  const auto wall = std::chrono::steady_clock::now() - t0;
  set_case_budget(saved);
  ASSERT_EQ(runs.size(), 1u);
  ASSERT_GE(deadlines.size(), 2u);
  for (std::uint64_t d : deadlines) EXPECT_EQ(d, deadlines.front());
  // From the first call's start (taken just before the body ran).
  EXPECT_LE(deadlines.front(), starts.front() + 200'000'000u);
  EXPECT_GT(deadlines.front() + 1'000'000u, starts.front() + 200'000'000u);
  EXPECT_EQ(runs[0].counters.at("budget_cut").value, 1);
  // The budget and one call's 60 ms past it; without the budget each of GB's ~7 calls took 60 ms.
  EXPECT_LT(wall, 1s);
  EXPECT_LT(starts.size(), 10u);
}

// The "still running" lines come from the harness's watchdog thread, which runs while children
// are timed: the heartbeat adds no thread, so every fork() still happens in a single-threaded
// process (a thread of its own made every fork multi-threaded: under the thread sanitizer the
// forked Pairs runners could not start their own watchdogs, and it took the rt_signal
// transport's real-time signal, which ended the run). Only this process speaks.
std::vector<std::string>* g_lines = nullptr;
void collect(const char* line) { g_lines->push_back(line); }

int thread_count() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

TEST(Cases, TheHeartbeatSpeaksFromTheWatchdogWithoutAThreadOfItsOwn) {
  std::vector<std::string> lines;
  g_lines = &lines;
  const int before = thread_count();
  start_heartbeat(50ms, &collect);
  EXPECT_EQ(thread_count(), before);
  register_case(
      "CasesTest/heartbeat",
      [](Publisher& p) {
        Launch launch("test", 400ms);  // its watchdog looks every 50 ms
        launch.start("sleeper", -1, [](Peer& peer) {
          std::this_thread::sleep_for(300ms);
          peer.finish();
        });
        EXPECT_EQ(launch.wait_all(), "");
        p.iteration_times({1e-6});
      },
      benchmark::kMicrosecond, 1);
  (void)run_cases("^CasesTest/heartbeat");
  stop_heartbeat();
  g_lines = nullptr;
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.front().find("still running CasesTest/heartbeat"), std::string::npos)
      << lines.front();
}

}  // namespace
}  // namespace ipcbench
