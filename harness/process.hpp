// Child processes and the memory they report through: SharedRegion<T>, ChildProcess, Watchdog.
#pragma once

#include <sys/mman.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

// One T in an anonymous MAP_SHARED mapping made before fork(), so parent and children see the
// same object. Carries the harness's own reports (counts, histograms, errors), never message data.
template <typename T>
class SharedRegion {
  static_assert(std::is_trivially_destructible_v<T>);

 public:
  SharedRegion() {
    void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_sys_error(errno, "mmap", "shared report region");
    ptr_ = new (p) T{};
  }
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion() { ::munmap(ptr_, sizeof(T)); }
  T* operator->() const noexcept { return ptr_; }
  T& operator*() const noexcept { return *ptr_; }

 private:
  T* ptr_ = nullptr;
};

// A forked child running `body`. The child dies with its parent (PR_SET_PDEATHSIG), never returns
// into the caller's code (it _exit()s: 0 when body returns, 3 when it throws, after printing
// "<label>[<pid>]: <what>" to stderr and copying it to `error` if given). The destructor kills
// (SIGKILL) and reaps a child still running.
class ChildProcess {
 public:
  ChildProcess(std::string label, const std::function<void()>& body, char* error = nullptr,
               std::size_t error_size = 0);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // Waits for the child to exit and returns its status in words ("exited with status 0",
  // "killed by signal 9"); ok is set when it exited with status 0.
  std::string wait(bool* ok);
  // Reaps the child if it has exited (no blocking): true and its waitpid status if so.
  bool try_wait(int* status);
  void kill() noexcept;

 private:
  std::string label_;
  pid_t pid_ = -1;
};

// A std::thread running `body`, for a peer that is a thread of this process (an in_process
// transport). Like ChildProcess, an exception thrown by `body` is caught and its what() printed as
// "<label>[thread]: <what>" and copied to `error` if given. ended() is set when `body` returns or
// throws. The destructor sets interrupted() if the thread is still running (its timed waits then
// throw) and joins it.
class PeerThread {
 public:
  PeerThread(std::string label, std::function<void()> body, char* error = nullptr,
             std::size_t error_size = 0);
  PeerThread(const PeerThread&) = delete;
  PeerThread& operator=(const PeerThread&) = delete;
  ~PeerThread();

  [[nodiscard]] const std::atomic<bool>& ended() const noexcept { return ended_; }
  // Joins the thread; ok is set when `body` returned without throwing.
  void join(bool* ok);

 private:
  std::atomic<bool> ended_{false};
  bool failed_ = false;  // written by the thread before ended_, read after join()
  std::thread thread_;
};

// Describes a waitpid() status: "exited with status 3", "killed by signal 9 (Killed)".
[[nodiscard]] std::string describe_wait_status(int status);

// One process (or, with pid -1, one peer thread) a Watchdog watches: it may exit once `done` is
// set (nullptr: never expected to).
struct Watched {
  pid_t pid;
  std::string label;  // "consumer", "consumer 3"
  const std::atomic<std::uint32_t>* done = nullptr;
  const std::atomic<bool>* thread_ended = nullptr;  // a peer thread (pid -1): its ended() flag
  // Its own progress: no change for `stall` (before `done`) is a stall of this one alone.
  const std::atomic<std::uint64_t>* progress = nullptr;
  // A failure of this one is its own: the watchdog kills it (a stall; a death is left to whoever
  // reaps it) and records it in casualties(), and the others go on.
  bool alone = false;
};

// A peer the watchdog ended alone: its index in the Watched list, and why.
struct Casualty {
  std::size_t index;
  std::string reason;
};

// The harness's one watchdog, for processes and threads alike. Watches peers while the parent
// works (or waits): if one exits before its `done` is set, or `progress` (nullptr: none) does not
// change for `stall`, it kills every watched child (SIGKILL), sets interrupted(), and interrupts
// the parent's blocking calls with SIGALRM (whose handler does nothing and does not restart system
// calls) until stopped. A peer marked `alone` fails alone instead (see Watched). Built after
// fork(), joined before the next one.
// Called by every watchdog thread at least once per period while it watches (nullptr: nothing):
// a hook for work that must run while children are timed without a thread of its own, such as
// the run's "still running" lines (bench/cases.cpp). Every fork() happens while no watchdog runs,
// so a process is single-threaded when it forks. The hook must be quick and must not block.
void set_watchdog_tick(void (*tick)()) noexcept;

class Watchdog {
 public:
  Watchdog(std::vector<Watched> children, std::chrono::milliseconds stall,
           const std::atomic<std::uint64_t>* progress);
  Watchdog(pid_t child, std::string label, std::chrono::milliseconds stall,
           const std::atomic<std::uint64_t>* progress, const std::atomic<std::uint32_t>* done)
      : Watchdog({{child, std::move(label), done}}, stall, progress) {}
  // The same for a peer thread: it fires when the thread ends before `done` is set or stalls, and
  // then only sets interrupted() and interrupts the parent (a thread cannot be killed).
  Watchdog(const PeerThread& peer, std::string label, std::chrono::milliseconds stall,
           const std::atomic<std::uint64_t>* progress, const std::atomic<std::uint32_t>* done)
      : Watchdog({{-1, std::move(label), done, &peer.ended()}}, stall, progress) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog();

  [[nodiscard]] bool fired() const noexcept { return fired_.load(); }
  // Why it fired ("consumer[123] died: killed by signal 9"); empty if it did not.
  [[nodiscard]] std::string reason() const;
  // The `alone` peers it ended, in the order it ended them.
  [[nodiscard]] std::vector<Casualty> casualties() const;

 private:
  Watchdog(pid_t child, const std::atomic<bool>* thread_ended, std::string label,
           std::chrono::milliseconds stall, const std::atomic<std::uint64_t>* progress,
           const std::atomic<std::uint32_t>* done);
  void run();

  std::vector<Watched> children_;
  std::chrono::milliseconds stall_;
  const std::atomic<std::uint64_t>* progress_;
  pthread_t parent_thread_;
  int stop_fd_ = -1;
  std::atomic<bool> fired_{false};
  std::string reason_;
  mutable std::mutex casualties_mutex_;
  std::vector<Casualty> casualties_;
  std::thread thread_;
};

// Ignores SIGPIPE (a write to a dead peer becomes EPIPE, an error naming the object) and installs
// the watchdog's SIGALRM handler. Idempotent; the harness calls it before every run.
void install_signal_handling();

}  // namespace ipcbench
