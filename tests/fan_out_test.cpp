// run_fan_out's consumer checks (lost and reordered counted apart, as Stream counts them), its
// placement and CPU sharing.
#include "harness/fan_out.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tests/test_util.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kBytes = 64;

// What a consumer reports after receiving messages with these sequence numbers, of `sent`.
FanOutCounts feed(std::initializer_list<std::uint64_t> seqs, std::uint64_t sent) {
  Framer sender(Payload::kBytes, kBytes);
  const Framer receiver(Payload::kBytes, kBytes);
  FanOutChecks checks;
  for (std::uint64_t seq : seqs) {
    const auto msg = sender.data(seq, 0);
    checks.see(receiver, std::vector<std::byte>(msg.begin(), msg.end()), true);
  }
  return checks.counts(sent);
}

TEST(FanOutChecks, InOrderIsNeitherLostNorReordered) {
  const FanOutCounts c = feed({0, 1, 2, 3, 4}, 5);
  EXPECT_EQ(c.delivered, 5u);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_EQ(c.reordered, 0u);
  EXPECT_EQ(c.corrupt, 0u);
}

// A gap is a loss, not a reordering.
TEST(FanOutChecks, AGapIsCountedLost) {
  const FanOutCounts c = feed({0, 1, 3, 4}, 5);
  EXPECT_EQ(c.lost, 1u);
  EXPECT_EQ(c.reordered, 0u);
}

// The missing message arrives late: reordered, and no longer lost.
TEST(FanOutChecks, ALateMessageIsReorderedNotLost) {
  const FanOutCounts c = feed({0, 1, 3, 4, 2}, 5);
  EXPECT_EQ(c.lost, 0u);
  EXPECT_EQ(c.reordered, 1u);
  EXPECT_EQ(c.delivered, 5u);
}

TEST(FanOutChecks, MessagesNeverReceivedAtTheEndAreLost) {
  const FanOutCounts c = feed({0, 1, 2}, 5);
  EXPECT_EQ(c.lost, 2u);
  EXPECT_EQ(c.reordered, 0u);
}

TEST(FanOutChecks, ADamagedPayloadIsCorrupt) {
  Framer sender(Payload::kBytes, kBytes);
  const Framer receiver(Payload::kBytes, kBytes);
  FanOutChecks checks;
  const auto msg = sender.data(0, 0);
  std::vector<std::byte> bad(msg.begin(), msg.end());
  bad[kBytes - 1] ^= std::byte{1};
  checks.see(receiver, bad, false);
  const FanOutCounts c = checks.counts(1);
  EXPECT_EQ(c.corrupt, 1u);
  EXPECT_EQ(c.delivered, 0u);  // not timed
  EXPECT_EQ(c.lost, 0u);
}

// Consumers start on the CPU after the producer's: with more processes than CPUs one shares the
// producer's, and the result says so.
TEST(FanOut, ReportsItsPlacementAndWhetherItSharesCpus) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs, has " << cpus.size();
  for (std::size_t consumers : {1u, 2u}) {
    SCOPED_TRACE("consumers=" + std::to_string(consumers));
    test::ScratchDir dir;
    FanOutConfig c;
    c.transport_id = "pipe";
    c.consumers = consumers;
    c.iterations = 50;
    c.cpus = {cpus[0], cpus[1]};
    c.tmp_root = dir.path();
    const FanOutResult r = run_fan_out(c);
    EXPECT_EQ(r.placement, pattern_placement(Form::kFanOut, consumers, c.cpus));
    EXPECT_EQ(r.sharing.shared(), consumers == 2);
    EXPECT_EQ(r.delivered, 50u * consumers);
    EXPECT_EQ(r.lost, 0u);
    EXPECT_EQ(r.reordered, 0u);
  }
}

}  // namespace
}  // namespace ipcbench
