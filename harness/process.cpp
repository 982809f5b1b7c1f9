#include "harness/process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

namespace ipcbench {

void install_signal_handling() {
  static const bool installed = [] {
    ::signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = [](int) {};  // only there to make blocking calls return EINTR
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    ::sigaction(SIGALRM, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

ChildProcess::ChildProcess(std::string label, const std::function<void()>& body, char* error,
                           std::size_t error_size)
    : label_(std::move(label)) {
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // no buffered output is written twice
  pid_ = ::fork();
  if (pid_ < 0) throw_sys_error(errno, "fork", label_);
  if (pid_ > 0) return;
  // The child: die with the parent, so a killed benchmark leaves no orphan behind.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(4);
  // Named after its role ("consumer", "bounce peer", ...: the label's first 15 bytes), so ps,
  // top and /proc/<pid>/comm tell the suite's processes apart.
  char comm[16] = {};
  std::memcpy(comm, label_.data(), std::min(label_.size(), sizeof comm - 1));
  (void)::prctl(PR_SET_NAME, comm, 0, 0, 0);
  int code = 0;
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s[%d]: %s\n", label_.c_str(), static_cast<int>(::getpid()), e.what());
    if (error != nullptr && error_size > 0) {
      std::snprintf(error, error_size, "%s", e.what());
    }
    code = 3;
  } catch (...) {
    std::fprintf(stderr, "%s[%d]: unknown exception\n", label_.c_str(), static_cast<int>(::getpid()));
    code = 3;
  }
  std::fflush(stderr);
  ::_exit(code);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    kill();
    bool ignored = false;
    (void)wait(&ignored);
  }
}

void ChildProcess::kill() noexcept {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

bool ChildProcess::try_wait(int* status) {
  if (pid_ <= 0) return false;
  const pid_t got = ::waitpid(pid_, status, WNOHANG);
  if (got == pid_ || (got < 0 && errno != EINTR)) {
    pid_ = -1;
    return true;
  }
  return false;
}

std::string ChildProcess::wait(bool* ok) {
  *ok = false;
  if (pid_ <= 0) return "already reaped";
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) {
      pid_ = -1;
      return std::string("waitpid failed: ") + std::strerror(errno);
    }
  }
  pid_ = -1;
  *ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return describe_wait_status(status);
}

PeerThread::PeerThread(std::string label, std::function<void()> body, char* error,
                       std::size_t error_size) {
  thread_ = std::thread([this, label = std::move(label), body = std::move(body), error,
                         error_size] {
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s[thread]: %s\n", label.c_str(), e.what());
      if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", e.what());
      failed_ = true;
    } catch (...) {
      std::fprintf(stderr, "%s[thread]: unknown exception\n", label.c_str());
      failed_ = true;
    }
    ended_.store(true);
  });
}

PeerThread::~PeerThread() {
  if (!thread_.joinable()) return;
  if (!ended_.load()) set_interrupted(true);
  thread_.join();
}

void PeerThread::join(bool* ok) {
  if (thread_.joinable()) thread_.join();
  *ok = !failed_;
}

Watchdog::Watchdog(std::vector<Watched> children, std::chrono::milliseconds stall,
                   const std::atomic<std::uint64_t>* progress)
    : children_(std::move(children)),
      stall_(stall),
      progress_(progress),
      parent_thread_(::pthread_self()) {
  install_signal_handling();
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) throw_sys_error(errno, "eventfd", "watchdog");
  // The thread blocks every signal, so a signal meant for the process (the signal transports')
  // is never taken by it.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  thread_ = std::thread([this] { run(); });
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

Watchdog::~Watchdog() {
  const std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(stop_fd_);
}

std::string Watchdog::reason() const { return fired_.load() ? reason_ : std::string(); }

std::vector<Casualty> Watchdog::casualties() const {
  const std::lock_guard lock(casualties_mutex_);
  return casualties_;
}

namespace {
std::atomic<void (*)()> g_watchdog_tick{nullptr};
}  // namespace

void set_watchdog_tick(void (*tick)()) noexcept { g_watchdog_tick.store(tick); }

void Watchdog::run() {
  const std::size_t n = children_.size();
  std::vector<pollfd> fds(1 + n);
  fds[0] = {stop_fd_, POLLIN, 0};
  for (std::size_t i = 0; i < n; ++i) {
    const pid_t pid = children_[i].pid;
    fds[1 + i] = {pid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1, POLLIN, 0};
  }
  const auto period = std::max(std::chrono::milliseconds(5), stall_ / 8);
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t last = progress_ != nullptr ? progress_->load(std::memory_order_relaxed) : 0;
  auto last_change = start;
  std::vector<std::uint64_t> own_last(n, 0);
  std::vector<std::chrono::steady_clock::time_point> own_change(n, start);
  std::vector<bool> ended_alone(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (children_[i].progress != nullptr) own_last[i] = children_[i].progress->load();
  }
  auto who = [&](std::size_t i) {
    const pid_t pid = children_[i].pid;
    return children_[i].label + "[" + (pid > 0 ? std::to_string(pid) : "thread") + "]";
  };
  auto finished = [&](std::size_t i) {
    return children_[i].done != nullptr && children_[i].done->load() != 0;
  };
  while (!fired_.load()) {
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(period.count()));
    if (void (*tick)() = g_watchdog_tick.load()) tick();
    if (ready > 0 && (fds[0].revents & POLLIN)) break;  // stopped by the parent
    for (std::size_t i = 0; ready > 0 && i < n; ++i) {
      if (fds[1 + i].fd < 0 || !(fds[1 + i].revents & POLLIN)) continue;
      ::close(fds[1 + i].fd);
      fds[1 + i].fd = -1;  // poll ignores negative fds
      if (finished(i) || children_[i].alone) continue;  // left after its part, or its own failure
      siginfo_t info{};
      ::waitid(P_PID, static_cast<id_t>(children_[i].pid), &info, WEXITED | WNOHANG | WNOWAIT);
      const std::string how = info.si_code == CLD_EXITED
                                  ? "exited with status " + std::to_string(info.si_status)
                                  : "killed by signal " + std::to_string(info.si_status) + " (" +
                                        ::strsignal(info.si_status) + ")";
      reason_ = who(i) + " died: " + how;
      fired_.store(true);
      break;
    }
    for (std::size_t i = 0; !fired_.load() && i < n; ++i) {
      const Watched& w = children_[i];
      if (w.alone || w.thread_ended == nullptr || !w.thread_ended->load() || finished(i)) continue;
      reason_ = who(i) + " ended before finishing its part";
      fired_.store(true);
    }
    if (fired_.load()) break;
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {  // peers with a progress of their own
      const Watched& w = children_[i];
      if (w.progress == nullptr || ended_alone[i] || fds[1 + i].fd < 0 || finished(i)) continue;
      const std::uint64_t p = w.progress->load(std::memory_order_relaxed);
      if (p != own_last[i]) {
        own_last[i] = p;
        own_change[i] = now;
        continue;
      }
      if (now - own_change[i] < stall_) continue;
      const std::string why = who(i) + " made no progress for " + std::to_string(stall_.count()) +
                              " ms after " + std::to_string(p) +
                              " round trips (hung or stopped): killed by the watchdog";
      if (!w.alone) {
        reason_ = why;
        fired_.store(true);
        break;
      }
      // Recorded before the kill: the parent, woken by the death on the child's pidfd, reads the
      // casualties right away and must find the stall there, not only a SIGKILL.
      {
        const std::lock_guard lock(casualties_mutex_);
        casualties_.push_back({i, why});
      }
      ended_alone[i] = true;
      if (w.pid > 0) ::kill(w.pid, SIGKILL);
    }
    if (fired_.load() || progress_ == nullptr) continue;
    const std::uint64_t now_progress = progress_->load(std::memory_order_relaxed);
    if (now_progress != last) {
      last = now_progress;
      last_change = now;
    } else if (now - last_change >= stall_) {
      const bool threads_only = std::all_of(children_.begin(), children_.end(),
                                            [](const Watched& w) { return w.pid <= 0; });
      reason_ = (n == 1 ? who(0) : std::to_string(n) + " children") + " made no progress for " +
                std::to_string(stall_.count()) + " ms (hung or stopped): " +
                (threads_only ? "interrupted" : "killed") + " by the watchdog";
      fired_.store(true);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (fds[1 + i].fd >= 0) ::close(fds[1 + i].fd);
  }
  if (!fired_.load()) return;
  set_interrupted(true);
  for (const Watched& child : children_) {
    if (child.pid > 0) ::kill(child.pid, SIGKILL);
  }
  // Interrupt the parent until it stops us: a signal that lands just before a blocking call
  // begins would be missed, so it is repeated.
  while (true) {
    ::pthread_kill(parent_thread_, SIGALRM);
    pollfd stop{stop_fd_, POLLIN, 0};
    if (::poll(&stop, 1, 10) > 0) break;
  }
}

}  // namespace ipcbench
