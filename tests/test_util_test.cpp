// The tests' own helpers: what they leave behind and what they read from /proc.
#include "tests/test_util.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace ipcbench {
namespace {

// A test that ctest killed (past its time limit) leaves its scratch directory: the next
// ScratchDir removes it once its process is gone, and leaves a living process's alone.
TEST(ScratchDir, RemovesTheDirectoryOfATestProcessThatHasGone) {
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ASSERT_GT(gone, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(gone, &status, 0), gone);
  const std::filesystem::path root = std::filesystem::temp_directory_path();
  const std::filesystem::path dead = root / ("ipcbench-test-" + std::to_string(gone) + "-left");
  const std::filesystem::path alive =
      root / ("ipcbench-test-" + std::to_string(::getpid()) + "-still-used");
  std::filesystem::create_directories(dead / "private");
  std::filesystem::create_directories(alive);
  {
    test::ScratchDir next;
    EXPECT_FALSE(std::filesystem::exists(dead));
    EXPECT_TRUE(std::filesystem::exists(alive));
    EXPECT_TRUE(std::filesystem::exists(next.path()));
  }
  std::filesystem::remove_all(alive);
  std::filesystem::remove_all(dead);
}

// /proc/<pid>/stat read after the last ')': a name with a space and a parenthesis still gives
// the right parent.
TEST(ProcStat, ReadsANameWithSpacesAndParentheses) {
  const pid_t child = ::fork();
  if (child == 0) {
    (void)::prctl(PR_SET_NAME, "a (b) c", 0, 0, 0);
    ::sleep(5);
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  test::ProcStat st;
  for (int i = 0; i < 100 && st.comm != "a (b) c"; ++i) {
    st = test::proc_stat(child);
    ::usleep(5000);
  }
  EXPECT_TRUE(st.ok);
  EXPECT_EQ(st.comm, "a (b) c");
  EXPECT_EQ(st.ppid, ::getpid());
  EXPECT_GT(st.start, 0u);
  ::kill(child, SIGKILL);
  int status = 0;
  (void)::waitpid(child, &status, 0);
}

}  // namespace
}  // namespace ipcbench
