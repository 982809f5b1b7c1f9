// Many-process patterns (Pairs, FanOut) and CPU placement discovery.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>

#include "harness/fan_out.hpp"
#include "harness/frame.hpp"
#include "harness/pair.hpp"
#include "harness/pairs.hpp"
#include "harness/topology.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text << "\n";
}

// A fake sysfs CPU tree: cpu -> (package, core, siblings, llc list).
void fake_cpu(const std::filesystem::path& root, int cpu, int package, int core,
              const std::string& siblings, const std::string& llc) {
  const auto dir = root / ("cpu" + std::to_string(cpu));
  write_file(dir / "topology/physical_package_id", std::to_string(package));
  write_file(dir / "topology/core_id", std::to_string(core));
  write_file(dir / "topology/thread_siblings_list", siblings);
  write_file(dir / "cache/index0/level", "1");
  write_file(dir / "cache/index0/shared_cpu_list", siblings);
  write_file(dir / "cache/index3/level", "3");
  write_file(dir / "cache/index3/shared_cpu_list", llc);
}

TEST(Topology, FindsEveryKindOnATwoSocketSmtMachine) {
  test::ScratchDir dir;
  // Socket 0: cores 0,1 share LLC A; core 2 has LLC B. Each core has two threads. Socket 1: cpu 6.
  fake_cpu(dir.path(), 0, 0, 0, "0,3", "0-1,3-4");
  fake_cpu(dir.path(), 1, 0, 1, "1,4", "0-1,3-4");
  fake_cpu(dir.path(), 2, 0, 2, "2,5", "2,5");
  fake_cpu(dir.path(), 3, 0, 0, "0,3", "0-1,3-4");
  fake_cpu(dir.path(), 6, 1, 0, "6", "6");
  const auto found = discover_placements({0, 1, 2, 3, 6}, dir.path().string());
  ASSERT_EQ(found.size(), 5u);
  EXPECT_EQ(found[0].kind, "same_cpu");
  EXPECT_EQ(found[1].kind, "smt_sibling");
  EXPECT_EQ(found[1].cpus.producer, 0);
  EXPECT_EQ(found[1].cpus.consumer, 3);
  EXPECT_EQ(found[2].kind, "same_llc");
  EXPECT_EQ(found[2].cpus.consumer, 1);
  EXPECT_EQ(found[3].kind, "different_llc");
  EXPECT_EQ(found[3].cpus.consumer, 2);
  EXPECT_EQ(found[4].kind, "different_socket");
  EXPECT_EQ(found[4].cpus.consumer, 6);
}

TEST(Topology, ThisMachineHasSameCpuAndADifferentCpuKindWhenItHasTwoCpus) {
  const auto cpus = allowed_cpus();
  const auto found = discover_placements(cpus);
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found[0].kind, "same_cpu");
  if (cpus.size() >= 2) {
    EXPECT_GE(found.size(), 2u);
    EXPECT_NE(found[1].cpus.producer, found[1].cpus.consumer);
  }
}

TEST(Topology, SelectRejectsUnknownAndAbsentKindsByName) {
  const std::vector<Placement> have = {{"same_cpu", {0, 0}, ""}, {"same_llc", {0, 1}, ""}};
  EXPECT_EQ(select_placements("all", have).size(), 2u);
  EXPECT_EQ(select_placements("same_llc", have).at(0).kind, "same_llc");
  for (const char* bad : {"nearby", "different_socket", "same_cpu,same_cpu", ""}) {
    try {
      (void)select_placements(bad, have);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("--placement="), std::string::npos) << e.what();
    }
  }
}

TEST(Pairs, EveryPairCompletesEveryRoundTripIntact) {
  test::ScratchDir dir;
  PairsConfig c;
  c.transport_id = "pipe";
  c.pairs = 3;
  c.iterations = 200;
  c.tmp_root = dir.path();
  const PairsResult r = run_pairs(c);
  EXPECT_EQ(r.failed, 0u) << r.failures;
  EXPECT_EQ(r.round_trips, 600u);
  EXPECT_EQ(r.rtt.count(), 600u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_GT(r.wall_seconds, 0.0);
  EXPECT_EQ(r.placement.size(), 3u);
  EXPECT_TRUE(dir.leftovers().empty());
}

TEST(Pairs, UnsupportedSizeIsRefused) {
  PairsConfig c;
  c.transport_id = "pipe";
  c.message_bytes = 4;
  EXPECT_THROW((void)run_pairs(c), Unsupported);
}

TEST(FanOut, AnInProcessTransportIsUnsupportedNotHung) {
  FanOutConfig c;
  c.transport_id = "threads";
  c.consumers = 2;
  c.iterations = 10;
  EXPECT_THROW((void)run_fan_out(c), Unsupported);
}

TEST(FanOut, EveryConsumerGetsEveryMessageIntact) {
  // The shm ring transports run one broadcast ring; the kernel ones one channel per consumer.
  for (const char* id :
       {"pipe", "fifo", "unix_stream", "shm_spin", "shm_futex", "shm_sem", "shm_condvar"}) {
    SCOPED_TRACE(id);
    // A spinner with more processes than CPUs is not run (it would be oversubscribed).
    if (!resolve(id, Form::kFanOut, 64, 3).runs()) {
      FanOutConfig c;
      c.transport_id = id;
      c.consumers = 3;
      EXPECT_THROW((void)run_fan_out(c), Unsupported);
      continue;
    }
    test::ScratchDir dir;
    const std::size_t fds = test::open_fd_count();
    FanOutConfig c;
    c.transport_id = id;
    c.consumers = 3;
    c.iterations = 150;
    c.tmp_root = dir.path();
    // The test's own clock (CLOCK_MONOTONIC, the clock of the stamps) around the whole call.
    const auto called = std::chrono::steady_clock::now();
    const FanOutResult r = run_fan_out(c);
    const auto call_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - called)
                                       .count());
    EXPECT_EQ(r.delivered, 450u);
    EXPECT_EQ(r.corrupt, 0u);
    EXPECT_EQ(r.reordered, 0u);
    EXPECT_EQ(r.delivery.count(), 150u);
    EXPECT_EQ(r.round.count(), 150u);
    EXPECT_EQ(r.iteration_seconds.size(), 150u);
    // Every delivery is positive (a receipt after its stamp) and, like every round, lies inside
    // the call as the test timed it: a receipt read before the consumer wrote it (stale, from an
    // earlier message) wraps around to ~1.8e19 ns; rounds in the wrong unit or from another clock
    // do not fit in the call either.
    EXPECT_GT(r.delivery.min(), 0u);
    EXPECT_LT(r.delivery.max(), call_ns);
    EXPECT_GT(r.round.min(), 0u);
    EXPECT_LT(r.round.sum(), call_ns);
    EXPECT_NEAR(r.timed_seconds * 1e9, static_cast<double>(r.round.sum()),
                1e-6 * static_cast<double>(r.round.sum()) + 150.0);
    EXPECT_EQ(test::open_fd_count(), fds);
    EXPECT_TRUE(dir.leftovers().empty());
    const bool shm = std::string(id).starts_with("shm_");
    EXPECT_EQ(r.design, shm ? "one broadcast ring, written once" : "one channel per consumer");
  }
}

}  // namespace
}  // namespace ipcbench
