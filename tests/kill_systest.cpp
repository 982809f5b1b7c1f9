// ipcbench killed with SIGKILL at random points, one transport at a time, leaves nothing behind.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "tests/leak_check.hpp"
#include "tests/test_util.hpp"
#include "transports/ledger.hpp"
#include "transports/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

pid_t spawn_ipcbench(const std::filesystem::path& tmp, const std::string& transport) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setenv("TMPDIR", tmp.c_str(), 1);
  const int null = ::open("/dev/null", O_WRONLY);
  ::dup2(null, 1);
  ::dup2(null, 2);
  const std::string transports = "--transports=" + transport;
  ::execl(IPCBENCH_BINARY, IPCBENCH_BINARY, transports.c_str(), "--sizes=64,64K",
          "--benchmark_min_time=0.2", static_cast<char*>(nullptr));
  ::_exit(127);
}

TEST(KilledSuite, SigkillMidRunLeavesNoObjectBehindForAnyTransport) {
  test::become_subreaper();
  test::ScratchDir tmp;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(60, 400);
  int kills = 0, leaks = 0;
  for (const TransportInfo& info : all_transports()) {
    const std::string id(info.id);
    const test::IpcSnapshot before = test::snapshot_ipc(tmp.path());
    const pid_t pid = spawn_ipcbench(tmp.path(), id);
    const int delay = delay_ms(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ::kill(pid, SIGKILL);
    ++kills;
    EXPECT_TRUE(test::reap_all_descendants(10)) << id << ": a child or the janitor never ended";
    const auto left = test::new_objects(before, test::snapshot_ipc(tmp.path()));
    for (const std::string& o : left) {
      ADD_FAILURE() << id << " killed after " << delay << " ms left " << o;
      ++leaks;
    }
  }
  std::printf("kill suite: %d SIGKILLs of ipcbench, %d objects left behind%s\n", kills, leaks,
              test::snapshot_ipc(tmp.path()).mqueue_visible ? "" : " (POSIX queues not visible)");
}

}  // namespace
}  // namespace ipcbench

namespace ipcbench {
namespace {

// A process that creates a private directory (recorded in the ledger when a janitor runs) and
// dies by SIGKILL before removing it.
void run_and_die(const std::filesystem::path& root, bool with_janitor) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (with_janitor) start_janitor();
    PrivateDir dir(root);
    dir.release();  // forget it, as a killed owner would
    ::raise(SIGKILL);
  }
}

TEST(Janitor, RemovesWhatAKilledProcessLeft) {
  test::become_subreaper();
  test::ScratchDir tmp;
  run_and_die(tmp.path(), true);
  ASSERT_TRUE(test::reap_all_descendants(5));
  EXPECT_TRUE(tmp.leftovers().empty());
}

// The control: without a janitor the same death leaves the directory, so the check above can fail.
TEST(Janitor, WithoutItAKilledProcessLeavesItsObjects) {
  test::become_subreaper();
  test::ScratchDir tmp;
  run_and_die(tmp.path(), false);
  ASSERT_TRUE(test::reap_all_descendants(5));
  EXPECT_EQ(tmp.leftovers().size(), 1u);
}

}  // namespace
}  // namespace ipcbench
