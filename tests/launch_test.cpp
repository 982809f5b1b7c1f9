// The launcher: peers as processes and threads, the start barrier, the one watchdog, reaping and
// the failure text.
#include "harness/launch.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/test_util.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(Launch, PeersPassTheBarrierTogetherAndEndWell) {
  Launch launch("test", 3000ms);
  for (int i = 0; i < 3; ++i) {
    launch.start("peer " + std::to_string(i), -1, [](Peer& peer) {
      peer.attached();
      peer.arrive_and_wait();
      peer.progress(1);
      peer.finish();
    });
  }
  bool called = false;
  const std::uint64_t released = launch.release(3, 3, [&] { called = true; });
  EXPECT_TRUE(called);
  EXPECT_GT(released, 0u);
  EXPECT_EQ(launch.wait_all(), "");
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(launch.failure(i), "");
}

// A process peer is named after its role (the label's first 15 bytes, what Linux keeps), so ps,
// top and the tests that look for the consumer tell the suite's processes apart.
TEST(Launch, AProcessPeerIsNamedAfterItsLabel) {
  Launch launch("test", 3000ms);
  const std::size_t a = launch.start("consumer 3", -1, [](Peer& peer) {
    std::this_thread::sleep_for(300ms);
    peer.finish();
  });
  const std::size_t b = launch.start("a label longer than fifteen", -1, [](Peer& peer) {
    std::this_thread::sleep_for(300ms);
    peer.finish();
  });
  // A child names itself right after fork(): look until it has (or 250 ms have passed).
  const auto name_of = [&](std::size_t i) {
    const std::string ours = test::proc_stat(::getpid()).comm;
    std::string name;
    for (int k = 0; k < 50 && (name.empty() || name == ours); ++k) {
      name = test::proc_stat(launch.pid(i)).comm;
      std::this_thread::sleep_for(5ms);
    }
    return name;
  };
  EXPECT_EQ(name_of(a), "consumer 3");
  EXPECT_EQ(name_of(b), "a label longer ");
  EXPECT_EQ(launch.wait_all(), "");
}

TEST(Launch, AProcessThatThrowsIsReportedWithItsPidAndWhat) {
  Launch launch("test", 3000ms);
  const std::size_t i =
      launch.start("consumer", -1, [](Peer&) { throw std::runtime_error("no such queue"); });
  const pid_t pid = launch.pid(i);
  const std::string why = launch.end(i, false);
  EXPECT_EQ(why, "consumer[" + std::to_string(pid) + "] exited with status 3: no such queue");
}

TEST(Launch, AThreadPeerFailsWithTheSameWords) {
  Launch launch("test", 3000ms);
  const std::size_t i = launch.start(
      "consumer", -1, [](Peer&) { throw std::runtime_error("broken"); }, Launch::Kind::kThread);
  EXPECT_EQ(launch.pid(i), -1);
  EXPECT_EQ(launch.end(i, false), "consumer thread failed: broken");
}

TEST(Launch, ADeathBeforeTheBarrierFailsTheRunNamingThePeer) {
  Launch launch("pipe", 3000ms);
  launch.start("client", -1, [](Peer&) { ::raise(SIGKILL); });
  launch.start("client", -1, [](Peer& peer) { peer.arrive_and_wait(); });
  try {
    (void)launch.release(2);
    FAIL();
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("pipe: ", 0), 0u) << what;
    EXPECT_NE(what.find("killed by signal 9"), std::string::npos) << what;
    EXPECT_NE(what.find("before the start barrier"), std::string::npos) << what;
  }
}

TEST(Launch, AStalledAlonePeerIsKilledInTimeAndTheOthersFinish) {
  Launch launch("test", 500ms);
  launch.start(
      "worker 0", -1,
      [](Peer& peer) {
        peer.arrive_and_wait();
        for (std::uint64_t k = 1; k <= 20; ++k) {
          peer.progress(k);
          std::this_thread::sleep_for(10ms);
        }
        peer.finish();
      },
      Launch::Kind::kProcess, Launch::OnFailure::kAlone);
  launch.start(
      "worker 1", -1,
      [](Peer& peer) {
        peer.arrive_and_wait();
        peer.progress(1);
        ::raise(SIGSTOP);
      },
      Launch::Kind::kProcess, Launch::OnFailure::kAlone);
  (void)launch.release(2);
  const auto t0 = Clock::now();
  EXPECT_EQ(launch.wait_all(), "");
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_EQ(launch.failure(0), "");
  EXPECT_NE(launch.failure(1).find("killed by the watchdog"), std::string::npos)
      << launch.failure(1);
}

TEST(Launch, WatchReportsAHungPeerAndInterruptsTheWork) {
  Launch launch("test", 300ms);
  launch.start("consumer", -1, [](Peer&) { ::pause(); });
  std::atomic<std::uint64_t> progress{0};
  const std::string failure = launch.watch(&progress, [] {
    while (!interrupted()) std::this_thread::sleep_for(5ms);
    throw_if_interrupted("recv", "test");
  });
  EXPECT_NE(failure.find("no progress"), std::string::npos) << failure;
  EXPECT_NE(launch.end(0, true), "");
}

}  // namespace
}  // namespace ipcbench
