// The Load pattern (harness/load.hpp): every message checked and counted, losses counted, the
// budget honoured, and what resolve_load() refuses. The calibration that shows coordinated
// omission (one known stall) is a system test: tests/load_stall_systest.cpp.
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

using test::CalibReset;

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
