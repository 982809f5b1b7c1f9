#include "tests/test_util.hpp"

#include "harness/process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace ipcbench::test {

ScratchDir::ScratchDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "ipcbench-test-XXXXXX").string();
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

}  // namespace ipcbench::test
