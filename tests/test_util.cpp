#include "tests/test_util.hpp"

#include "harness/process.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace ipcbench::test {

ProcStat proc_stat(pid_t pid) {
  ProcStat out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return out;
  out.comm = text.substr(open + 1, close - open - 1);
  std::istringstream rest(text.substr(close + 1));
  std::string state;
  rest >> state >> out.ppid;  // fields 3 and 4
  std::string field;
  for (int i = 5; i < 22 && rest >> field; ++i) {
  }
  rest >> out.start;
  out.ok = !rest.fail();
  return out;
}

namespace {

// Removes the scratch directories of test processes that have gone without removing their own:
// ctest kills a test that runs past its time limit (SIGKILL: no destructor runs), and its
// directory, named after its pid, would stay. A directory whose process still lives, or whose
// pid another process has taken since, is left alone.
void remove_dead_tests_scratch_dirs(const std::filesystem::path& root) {
  constexpr std::string_view kPrefix = "ipcbench-test-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::size_t dash = name.find('-', kPrefix.size());
    if (dash == std::string::npos || dash == kPrefix.size()) continue;
    const std::string pid_text = name.substr(kPrefix.size(), dash - kPrefix.size());
    if (pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9) {
      continue;
    }
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code ignored;
    std::filesystem::remove_all(e.path(), ignored);
  }
}

}  // namespace

ScratchDir::ScratchDir() {
  const std::filesystem::path root = std::filesystem::temp_directory_path();
  remove_dead_tests_scratch_dirs(root);
  std::string templ =
      (root / ("ipcbench-test-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::vector<std::string> ScratchDir::leftovers() const {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(path_)) {
    out.push_back(std::filesystem::relative(e.path(), path_).string());
  }
  return out;
}

NamespaceOutcome in_private_namespaces(int clone_flags,
                                       const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {false, "pipe2 failed"};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    int code = 0;
    if (::unshare(clone_flags) != 0 && ::unshare(CLONE_NEWUSER | clone_flags) != 0) {
      out = std::string("unshare: ") + std::strerror(errno);
      code = 2;
    } else {
      try {
        out = body();
      } catch (const std::exception& e) {
        out = std::string("threw: ") + e.what();
      }
      code = out.empty() ? 0 : 1;
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(code);
  }
  ::close(fds[1]);
  // The body gets 20 s; the guard is here, not an alarm in the child, whose SIGALRM belongs to the
  // harness's watchdog.
  std::string text;
  char buf[512];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool hung = false;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
    if (ready == 0) {
      hung = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (hung) return {false, "hung for 20 s: killed. " + text};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) return {true, text};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {false, ""};
  return {false, text.empty() ? describe_wait_status(status) : text};
}

int run_command(const std::string& cmd, std::string& output) {
  output.clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
  const int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string run_round_trips_under_seccomp(const std::vector<sock_filter>& rules,
                                          const std::string& transports, std::string& why) {
  std::string binary = IPCBENCH_BINARY;
  std::vector<std::string> args = {"--transports=" + transports, "--sizes=64", "--patterns=off",
                                   "--quick", "--counters=all", "--benchmark_filter=RoundTrip"};
  std::vector<char*> argv{binary.data()};
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<sock_filter> code = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  code.insert(code.end(), rules.begin(), rules.end());
  const sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    why = std::strerror(errno);
    return {};
  }
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      std::printf("NO SECCOMP: %s\n", std::strerror(errno));
      std::fflush(stdout);
      ::_exit(2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
    why = text;
    return {};
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << text;
  return text;
}

}  // namespace ipcbench::test
