// The fault campaign: for every transport, SIGKILL of the consumer and of the producer, and
// SIGSTOP of the consumer, at random points of a stream, plus SIGKILLs of the producer while it
// creates its objects. Each trial must end with an error naming
// the transport within the watchdog's time (or, for a killed producer, with its consumer gone),
// and leave no fd, path, SysV object, POSIX queue or shared-memory name behind.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "harness/frame.hpp"
#include "harness/pair.hpp"
#include "tests/leak_check.hpp"
#include "tests/test_util.hpp"
#include "transports/os/ledger.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kKillTrials = 20;
constexpr int kEarlyKillTrials = 10;
constexpr int kStopTrials = 5;
constexpr auto kWatchdog = std::chrono::milliseconds(400);

struct Counts {
  int trials = 0, errors_reported = 0, hangs = 0, leaks = 0;
};

PairConfig stream_config(const std::string& id, const std::filesystem::path& root) {
  const Capabilities caps = find_transport(id)->describe();
  PairConfig c;
  c.transport_id = id;
  c.pattern = Pattern::kStream;
  c.message_bytes = fixed_message_bytes(caps.payload).value_or(64);
  c.iterations = 1'000'000;  // never ends by itself
  c.batch = 64;
  c.warmup = 2;
  c.cpus = default_cpu_pair();
  c.tmp_root = root;
  c.watchdog = kWatchdog;
  return c;
}

// The consumer injects the fault into itself after a random number of messages.
void consumer_fault_trial(const std::string& id, Fault::Kind kind, std::uint64_t after,
                          Counts& counts) {
  test::ScratchDir dir;
  const test::IpcSnapshot before = test::snapshot_ipc(dir.path());
  const std::size_t fds = test::open_fd_count();
  PairConfig c = stream_config(id, dir.path());
  c.fault = {kind, after};
  ++counts.trials;
  const auto start = Clock::now();
  try {
    (void)run_pair(c);
    ADD_FAILURE() << id << ": a faulted consumer was not reported";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.rfind(id + ":", 0) == 0) {
      ++counts.errors_reported;
    } else {
      ADD_FAILURE() << id << ": error does not name the transport: " << what;
    }
  }
  // A kill is seen at once (pidfd); a stop after the watchdog's time without progress.
  if (Clock::now() - start > kWatchdog * 3 + std::chrono::milliseconds(500)) {
    ++counts.hangs;
    ADD_FAILURE() << id << ": fault took too long to report";
  }
  const auto left = test::new_objects(before, test::snapshot_ipc(dir.path()));
  if (!left.empty() || test::open_fd_count() != fds) {
    ++counts.leaks;
    ADD_FAILURE() << id << ": left " << left.size() << " objects, fds " << fds << " -> "
                  << test::open_fd_count();
  }
}

// A runner process (the producer, with its own janitor, as ipcbench has) is killed at a random
// time; its consumer must die with it and the janitor must remove what is left.
void producer_kill_trial(const std::string& id, int delay_us, Counts& counts) {
  test::ScratchDir dir;
  const test::IpcSnapshot before = test::snapshot_ipc(dir.path());
  ++counts.trials;
  const pid_t runner = ::fork();
  if (runner == 0) {
    start_janitor();
    try {
      (void)run_pair(stream_config(id, dir.path()));
    } catch (...) {
    }
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
  ::kill(runner, SIGKILL);
  if (!test::reap_all_descendants(5)) {
    ++counts.hangs;
    ADD_FAILURE() << id << ": the consumer or the janitor outlived the killed producer";
  } else {
    ++counts.errors_reported;  // the producer's death ended the consumer: nothing hung
  }
  const auto left = test::new_objects(before, test::snapshot_ipc(dir.path()));
  if (!left.empty()) {
    ++counts.leaks;
    for (const auto& o : left) ADD_FAILURE() << id << ": killed producer left " << o;
  }
}

TEST(FaultCampaign, EveryTransportSurvivesKilledAndStoppedPeers) {
  test::become_subreaper();
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<std::uint64_t> after(1, 300);
  // Producer kills land anywhere in the stream, and, beyond those, in the first 3 ms, while the
  // run creates its objects (the window between creating a name and unlinking it).
  std::uniform_int_distribution<int> stream_us(1'000, 60'000), early_us(0, 3'000);
  Counts total;
  for (const TransportInfo& info : all_transports()) {
    const std::string id(info.id);
    Counts c;
    // A consumer thread cannot be killed or stopped apart from its process: it ends early or
    // hangs instead.
    const bool thread = info.describe().in_process;
    const Fault::Kind kill = thread ? Fault::Kind::kExit : Fault::Kind::kKill;
    const Fault::Kind stop = thread ? Fault::Kind::kHang : Fault::Kind::kStop;
    for (int i = 0; i < kKillTrials; ++i) consumer_fault_trial(id, kill, after(rng), c);
    for (int i = 0; i < kKillTrials; ++i) producer_kill_trial(id, stream_us(rng), c);
    for (int i = 0; i < kEarlyKillTrials; ++i) producer_kill_trial(id, early_us(rng), c);
    for (int i = 0; i < kStopTrials; ++i) consumer_fault_trial(id, stop, after(rng), c);
    std::printf("fault campaign %-12s trials %3d, errors reported %3d, hangs %d, leaks %d%s\n",
                id.c_str(), c.trials, c.errors_reported, c.hangs, c.leaks,
                thread ? " (consumer is a thread: early exit and hang instead of kill and stop)"
                       : "");
    total.trials += c.trials;
    total.errors_reported += c.errors_reported;
    total.hangs += c.hangs;
    total.leaks += c.leaks;
  }
  std::printf("fault campaign total: trials %d, errors reported %d, hangs %d, leaks %d\n",
              total.trials, total.errors_reported, total.hangs, total.leaks);
  EXPECT_EQ(total.errors_reported, total.trials);
  EXPECT_EQ(total.hangs, 0);
  EXPECT_EQ(total.leaks, 0);
}

}  // namespace
}  // namespace ipcbench
