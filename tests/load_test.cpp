// The Load pattern (harness/load.hpp): every message checked and counted, losses counted, the
// budget honoured, what resolve_load() refuses, and the calibration that shows coordinated
// omission: one known stall must appear in the corrected latency and not in the uncorrected.
#include "harness/load.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "harness/clock.hpp"
#include "tests/calib_transport.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

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

LoadConfig config_for(const std::string& id, double rate, std::uint64_t messages) {
  LoadConfig c;
  c.transport_id = id;
  c.rate = rate;
  c.messages = messages;
  c.warmup = 10;
  c.cpus = default_cpu_pair();
  c.watchdog = std::chrono::milliseconds(5000) * test::kSanitizerSlowdown;
  return c;
}

// Restores the calibration transports' settings when a test ends, however it ends.
struct CalibReset {
  CalibReset() { test::register_calib_transports(); }
  ~CalibReset() { test::calib_config = {}; }
};

TEST(Load, EveryMessageIsSentRepliedAndChecked) {
  const std::size_t fds = test::open_fd_count();
  for (const char* id : {"pipe", "threads"}) {
    const LoadResult r = run_load(config_for(id, 5000, 300));
    EXPECT_EQ(r.sent, 300u) << id;
    EXPECT_EQ(r.received, 300u) << id;
    EXPECT_EQ(r.uncorrected.count(), 300u) << id;
    EXPECT_EQ(r.lost, 0u) << id;
    EXPECT_EQ(r.corrupt, 0u) << id;
    EXPECT_EQ(r.reordered, 0u) << id;
    EXPECT_EQ(r.offered_per_second, 5000) << id;
    EXPECT_GT(r.achieved_per_second, 0) << id;
    // A reply cannot come before its message was due, nor before it was sent.
    EXPECT_GE(r.corrected.min(), r.uncorrected.min()) << id;
    ASSERT_EQ(r.placement.size(), 3u) << id;
    EXPECT_EQ(r.placement[0], default_cpu_pair().producer) << id;
    EXPECT_EQ(r.placement[2], default_cpu_pair().consumer) << id;
  }
  EXPECT_EQ(test::open_fd_count(), fds);
}

// The known stall: the producer's send of timed message 500 sleeps 20 ms, at 2000 messages/s.
// The 40 messages due during it go late, back to back after it. Measured from when each was due
// (corrected), every one of them waited out the rest of the stall: message j of them at least
// 20 ms - j / rate. Measured from when each really went (uncorrected), only the stalled message
// itself shows it (its send began before the stall); the others look as fast as ever.
TEST(Load, ACalibratedStallShowsInTheCorrectedLatencyOnly) {
  CalibReset reset;
  constexpr double kRate = 2000;
  constexpr std::uint64_t kMessages = 1000, kWarmup = 10, kStalled = 500;
  constexpr std::uint64_t kStallNs = 20'000'000;
  test::calib_config.producer_stall_at_send = kWarmup + kStalled + 1;  // sends count from 1
  test::calib_config.producer_stall_ns = kStallNs;
  LoadConfig c = config_for("calib", kRate, kMessages);
  c.warmup = kWarmup;
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

TEST(Load, ALossyTransportCountsItsLossesAndEnds) {
  CalibReset reset;
  test::calib_config.keep_one_in = 3;  // each side drops two sends in three
  const LoadResult r = run_load(config_for("calib_lossy", 2000, 300));
  EXPECT_EQ(r.sent, 300u);
  EXPECT_GT(r.lost, 0u);
  EXPECT_EQ(r.received + r.lost, r.sent);
  EXPECT_EQ(r.corrupt, 0u);
}

TEST(Load, StopsAtItsDeadlineWithEveryReplyIn) {
  LoadConfig c = config_for("pipe", 1000, 100'000);  // 100 s if it ran to the end
  c.deadline_ns = now_ns() + 200'000'000;
  const LoadResult r = run_load(c);
  EXPECT_TRUE(r.cut);
  EXPECT_GT(r.sent, 0u);
  EXPECT_LT(r.sent, 100'000u);
  EXPECT_EQ(r.received, r.sent);
  EXPECT_EQ(r.lost, 0u);
}

// A consumer killed mid-run ends the run with an error, never a hang, also where the producer's
// receiver waits on something a dead peer never ends (a semaphore, a queue, a datagram socket):
// the watchdog interrupts the sender, and the sender interrupts the receiver.
TEST(Load, AKilledConsumerEndsTheRunWithAnError) {
  for (const char* id : {"pipe", "sysv_shm", "sysv_mq", "posix_mq", "unix_dgram"}) {
    test::ScratchDir dir;
    const std::size_t fds = test::open_fd_count();
    LoadConfig c = config_for(id, 2000, 100'000);
    c.tmp_root = dir.path();
    c.watchdog = std::chrono::milliseconds(1000);
    c.fault = {Fault::Kind::kKill, 50};
    EXPECT_THROW((void)run_load(c), std::runtime_error) << id;
    EXPECT_EQ(test::open_fd_count(), fds) << id;
    EXPECT_TRUE(dir.leftovers().empty()) << id;
  }
}

TEST(Load, RefusesATransportThatCannotCarryTheDueTime) {
  const std::vector<int> where = {0, 0, 0};
  const Resolved r = resolve_load("rt_signal", kWordBytes, where);
  EXPECT_FALSE(r.runs());
  EXPECT_NE(r.unsupported.find("intended send time"), std::string::npos) << r.unsupported;
  LoadConfig c = config_for("signal", 1000, 10);
  c.message_bytes = 0;
  EXPECT_THROW((void)run_load(c), Unsupported);
}

TEST(Load, RefusesASpinnerWhenTwoOfItsThreadsShareACpu) {
  const std::vector<int> shared = {0, 0, 1};
  const Resolved r = resolve_load("shm_spin", 64, shared);
  EXPECT_FALSE(r.runs());
  EXPECT_NE(r.unsupported.find("needs 3 CPUs"), std::string::npos) << r.unsupported;
  const std::vector<int> own = {0, 1, 2};
  EXPECT_TRUE(resolve_load("shm_spin", 64, own).runs());
  // A blocking transport may share, and says so through its sharing.
  const Resolved pipe = resolve_load("pipe", 64, shared);
  EXPECT_TRUE(pipe.runs());
  EXPECT_TRUE(pipe.sharing.shared());
}

TEST(Load, RefusesABadRateOrNoMessages) {
  EXPECT_THROW((void)run_load(config_for("pipe", 0, 10)), std::invalid_argument);
  EXPECT_THROW((void)run_load(config_for("pipe", 1000, 0)), std::invalid_argument);
}

TEST(LoadPlacement, TheReceiverGetsAThirdCpuOnlyWhenThereIsOne) {
  const CpuPair same{0, 0};
  const std::vector<int> one = load_placement(same);
  EXPECT_EQ(one, (std::vector<int>{0, 0, 0}));
  const std::vector<int> two = load_placement(default_cpu_pair());
  EXPECT_EQ(two[0], default_cpu_pair().producer);
  EXPECT_EQ(two[2], default_cpu_pair().consumer);
  if (allowed_cpus().size() >= 3) {
    EXPECT_NE(two[1], two[0]);
    EXPECT_NE(two[1], two[2]);
  } else {
    EXPECT_EQ(two[1], two[0]);
  }
  EXPECT_EQ(load_placement_text(one), "sender cpu0, receiver cpu0, consumer cpu0");
}

}  // namespace
}  // namespace ipcbench
