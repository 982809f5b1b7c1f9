#include "harness/process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

Watchdog::Watchdog(const PeerThread& peer, std::string label, std::chrono::milliseconds stall,
                   const std::atomic<std::uint64_t>* progress,
                   const std::atomic<std::uint32_t>* done)
    : Watchdog(-1, &peer.ended(), std::move(label), stall, progress, done) {}

Watchdog::Watchdog(pid_t child, std::string label, std::chrono::milliseconds stall,
                   const std::atomic<std::uint64_t>* progress,
                   const std::atomic<std::uint32_t>* done)
    : Watchdog(child, nullptr, std::move(label), stall, progress, done) {}

Watchdog::Watchdog(pid_t child, const std::atomic<bool>* thread_ended, std::string label,
                   std::chrono::milliseconds stall, const std::atomic<std::uint64_t>* progress,
                   const std::atomic<std::uint32_t>* done)
    : child_(child),
      thread_ended_(thread_ended),
      label_(std::move(label)),
      stall_(stall),
      progress_(progress),
      done_(done),
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

void Watchdog::run() {
  const int pidfd = child_ > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, child_, 0)) : -1;
  const auto period = std::max(std::chrono::milliseconds(5), stall_ / 8);
  std::uint64_t last = progress_->load(std::memory_order_relaxed);
  auto last_change = std::chrono::steady_clock::now();
  const std::string who = label_ + "[" + (child_ > 0 ? std::to_string(child_) : "thread") + "]";
  while (!fired_.load()) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {pidfd, POLLIN, 0}};
    const int n = ::poll(fds, pidfd >= 0 ? 2 : 1, static_cast<int>(period.count()));
    if (n > 0 && (fds[0].revents & POLLIN)) break;  // stopped by the parent
    if (n > 0 && pidfd >= 0 && (fds[1].revents & POLLIN)) {
      if (done_->load() != 0) break;  // the child finished its part and left: not a fault
      siginfo_t info{};
      ::waitid(P_PID, static_cast<id_t>(child_), &info, WEXITED | WNOHANG | WNOWAIT);
      const std::string how = info.si_code == CLD_EXITED
                                  ? "exited with status " + std::to_string(info.si_status)
                                  : "killed by signal " + std::to_string(info.si_status) + " (" +
                                        ::strsignal(info.si_status) + ")";
      reason_ = who + " died: " + how;
      fired_.store(true);
      break;
    }
    if (thread_ended_ != nullptr && thread_ended_->load()) {
      if (done_->load() != 0) break;  // the thread finished its part: not a fault
      reason_ = who + " ended before finishing its part";
      fired_.store(true);
      break;
    }
    const std::uint64_t now_progress = progress_->load(std::memory_order_relaxed);
    const auto now = std::chrono::steady_clock::now();
    if (now_progress != last) {
      last = now_progress;
      last_change = now;
    } else if (now - last_change >= stall_) {
      reason_ = who + " made no progress for " + std::to_string(stall_.count()) +
                " ms (hung or stopped): " +
                (child_ > 0 ? "killed" : "interrupted") + " by the watchdog";
      fired_.store(true);
    }
  }
  if (pidfd >= 0) ::close(pidfd);
  if (!fired_.load()) return;
  set_interrupted(true);
  if (child_ > 0) ::kill(child_, SIGKILL);
  // Interrupt the parent until it stops us: a signal that lands just before a blocking call
  // begins would be missed, so it is repeated.
  while (true) {
    ::pthread_kill(parent_thread_, SIGALRM);
    pollfd stop{stop_fd_, POLLIN, 0};
    if (::poll(&stop, 1, 10) > 0) break;
  }
}

}  // namespace ipcbench
