// The calibration that shows coordinated omission in the Load pattern (harness/load.hpp): one known
// stall of the sender must appear in the corrected latency and not in the uncorrected. A system
// test, so CTest runs it alone: its uncorrected figures time every message of a 0.5 s run, and a
// unit test running beside it on the two CPUs delayed its receiver by over 10 ms (one CI run: 8
// uncorrected samples over 10 ms where 2 are allowed).
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "harness/cpus.hpp"
#include "harness/histogram.hpp"
#include "harness/load.hpp"
#include "tests/calib_transport.hpp"

namespace ipcbench {
namespace {

// Samples of `h` at or above `value` ns, counted by whole buckets: a bucket counts when its lowest
// value is at least `value` (so this never counts a sample below it).
std::uint64_t samples_at_least(const Histogram& h, std::uint64_t value) {
  std::uint64_t n = 0;
  for (std::size_t b = 0; b < Histogram::kBuckets; ++b) {
    if (Histogram::bucket_low(b) >= value) n += h.bucket_count(b);
  }
  return n;
}

// The known stall: the producer's send of timed message 500 sleeps 20 ms, at 2000 messages/s.
// The 40 messages due during it go late, back to back after it. Measured from when each was due
// (corrected), every one of them waited out the rest of the stall: message j of them at least
// 20 ms - j / rate. Measured from when each really went (uncorrected), only the stalled message
// itself shows it (its send began before the stall); the others look as fast as ever.
TEST(LoadStall, ShowsInTheCorrectedLatencyOnly) {
  test::CalibReset reset;
  constexpr double kRate = 2000;
  constexpr std::uint64_t kMessages = 1000, kWarmup = 10, kStalled = 500;
  constexpr std::uint64_t kStallNs = 20'000'000;
  test::calib_config.producer_stall_at_send = kWarmup + kStalled + 1;  // sends count from 1
  test::calib_config.producer_stall_ns = kStallNs;
  LoadConfig c;
  c.transport_id = "calib";
  c.rate = kRate;
  c.messages = kMessages;
  c.warmup = kWarmup;
  c.cpus = default_cpu_pair();
  c.watchdog = std::chrono::milliseconds(5000);
  const LoadResult r = run_load(c);
  ASSERT_EQ(r.received, kMessages);
  ASSERT_EQ(r.corrupt, 0u);
  // The figures, for the test's XML output (--gtest_output=xml): what the assertions judged.
  RecordProperty("corrected_p99_ns", std::to_string(r.corrected.percentile(99)));
  RecordProperty("corrected_max_ns", std::to_string(r.corrected.max()));
  RecordProperty("uncorrected_p99_ns", std::to_string(r.uncorrected.percentile(99)));
  RecordProperty("uncorrected_max_ns", std::to_string(r.uncorrected.max()));
  RecordProperty("late_sends", std::to_string(r.late_sends));
  const auto due_in_stall = static_cast<std::uint64_t>(kRate * 1e-9 * kStallNs);  // 40

  // Corrected: every message due in the first half of the stall waited at least half of it, and
  // every one due in the stall's first 19 ms waited at least 1 ms.
  EXPECT_GE(r.corrected.max(), kStallNs);
  EXPECT_GE(samples_at_least(r.corrected, kStallNs / 2), due_in_stall / 2);
  EXPECT_GE(samples_at_least(r.corrected, 1'000'000), due_in_stall - 2);
  // p99 is the 11th largest of 1000: inside the stall's messages (about 15 ms).
  EXPECT_GE(r.corrected.percentile(99), kStallNs / 2);
  EXPECT_GE(r.late_sends, due_in_stall - 2);

  // Uncorrected: the stalled message alone (one more allowed for a busy machine's own hiccup).
  EXPECT_GE(r.uncorrected.max(), kStallNs);
  EXPECT_LE(samples_at_least(r.uncorrected, kStallNs / 2), 2u);
  EXPECT_LT(r.uncorrected.percentile(99), kStallNs / 2);
  EXPECT_GT(r.corrected.percentile(99), 2 * r.uncorrected.percentile(99));
}

}  // namespace
}  // namespace ipcbench
