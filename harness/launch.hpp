// Launch: the one way the harness runs peers. It owns the shared region the peers report through,
// the peers themselves (forked processes, or threads for an in_process transport), the start
// barrier, the watchdog (one implementation for processes and threads), reaping, and the text
// that says what failed.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/process.hpp"
#include "harness/resolve.hpp"

namespace ipcbench {

// One peer's words in the shared region (counts and flags, never message data).
struct PeerSlot {
  std::atomic<std::uint64_t> progress{0};  // round trips or messages done; the watchdog reads it
  std::atomic<std::uint32_t> done{0};      // set when the peer finished its part
  char error[512] = {};                    // what() of the exception that ended it
};

// The launcher's shared region: the barrier's words and one slot per peer.
struct LaunchShared {
  std::atomic<std::uint64_t> steps{0};  // attaches + arrivals: how far the barrier has come
  std::atomic<std::uint32_t> attached{0};
  std::atomic<std::uint32_t> arrived{0};
  std::atomic<std::uint32_t> go{0};
  std::uint64_t release_ns = 0;  // CLOCK_MONOTONIC when the barrier released
  PeerSlot peers[kMaxPeers + 1];
};

// What a peer's body gets: its index, its slot, and the barrier.
class Peer {
 public:
  Peer(LaunchShared& shared, std::size_t index, std::chrono::milliseconds timeout) noexcept
      : shared_(shared), index_(index), timeout_(timeout) {}
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  [[nodiscard]] PeerSlot& slot() const noexcept { return shared_.peers[index_]; }
  // Counts this peer as attached (the parent may then drop its own ends).
  void attached() noexcept;
  // The start barrier: counts this peer as arrived and blocks until the parent releases it.
  // Bounded: throws std::runtime_error after `timeout` (the watchdog's) without a release.
  void arrive_and_wait();
  void progress(std::uint64_t done) noexcept {
    slot().progress.store(done, std::memory_order_relaxed);
  }
  void finish() noexcept { slot().done.store(1); }

 private:
  LaunchShared& shared_;
  std::size_t index_;
  std::chrono::milliseconds timeout_;
};

class Launch {
 public:
  // `what` prefixes every failure text (the transport id). `watchdog`: how long a peer may make no
  // progress. Installs the signal handling and clears interrupted().
  Launch(std::string what, std::chrono::milliseconds watchdog);
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;
  // Kills (SIGKILL) and reaps every process still running, interrupts and joins every thread,
  // and clears interrupted().
  ~Launch();

  enum class Kind { kProcess, kThread };  // kThread: an in_process transport's peer
  // What a peer's failure does.
  enum class OnFailure {
    kEndAll,          // its failure ends the run
    kAlone,           // after the barrier its failure is its own (the others go on), and so is a
                      // stall of its slot's progress; see wait_all()
    kAloneUnwatched,  // kAlone, but it watches itself (no stall check: a Pairs runner)
  };
  // Starts peer `label` (index = the number started before). Its body runs pinned to `cpu`
  // (-1: unpinned); an exception is caught, printed "<label>[<pid>]: <what>" (a thread:
  // "<label>[thread]: <what>"), copied to its slot and, for a process, ends it with _exit(3).
  // Throws std::system_error if fork fails.
  std::size_t start(std::string label, int cpu, std::function<void(Peer&)> body,
                    Kind kind = Kind::kProcess, OnFailure on_failure = OnFailure::kEndAll);

  [[nodiscard]] std::size_t size() const noexcept { return peers_.size(); }
  // Peer i's process id (also once reaped); -1 for a thread.
  [[nodiscard]] pid_t pid(std::size_t i) const noexcept;
  [[nodiscard]] LaunchShared& shared() const noexcept { return **shared_; }
  [[nodiscard]] PeerSlot& slot(std::size_t i) const noexcept { return (**shared_).peers[i]; }
  [[nodiscard]] std::string who(std::size_t i) const;  // "consumer[123]", "consumer thread"

  // The start barrier: waits until `count` peers have arrived, calling `on_attached` once when
  // `attached` peers have attached (0: never), then releases them and returns the release time.
  // Any peer's death, or no step forward for the watchdog's time, throws std::runtime_error
  // "<what>: <failure>" after killing every peer.
  std::uint64_t release(std::size_t count, std::size_t attached = 0,
                        const std::function<void()>& on_attached = {});

  // Runs `work` in this thread while the watchdog watches every peer (`progress`: the parent's
  // own, nullptr for none). Returns "" or why it failed: the watchdog's reason and what `work`
  // threw. Never throws what `work` throws.
  [[nodiscard]] std::string watch(const std::atomic<std::uint64_t>* progress,
                                  const std::function<void()>& work);

  // Waits until every peer but `except` has ended, the watchdog watching all: an `alone` peer
  // that dies or stalls (its slot's progress unchanged for the watchdog's time) is killed, reaped
  // and its failure recorded (failure(i)); any other failure, `except`'s death included, is
  // returned ("" when none) and the caller fails.
  [[nodiscard]] std::string wait_all(std::size_t except = SIZE_MAX);

  // Ends peer i: `kill` kills a process (or interrupts a thread); then reaps it. Returns "" when it
  // ended well after finishing its part, else "<who> <status>[: <error>]". Idempotent.
  std::string end(std::size_t i, bool kill);
  // Ends every peer (killing them when `kill`) and joins what failed, "; "-separated.
  std::string end_all(bool kill);
  // After watch() returned `failure` for the parent's side of a two-sided case: ends peer i, killed
  // when `failure` says the parent failed, and throws (fail) the parent's failure with the peer's
  // own error (or its status), or the peer's failure alone when only the peer failed; returns when
  // both sides ended well.
  void end_after_watch(std::size_t i, const std::string& failure);
  // Sends `sig` to peer i's process (not to a thread); false if it has exited.
  bool signal(std::size_t i, int sig) const noexcept;
  [[nodiscard]] bool exited(std::size_t i) const noexcept;

  // Why peer i failed (an `alone` peer after wait_all, or after end()); "" when it did not.
  [[nodiscard]] const std::string& failure(std::size_t i) const { return peers_[i].failure; }
  // "<what>: <text>" as the exception every driver throws.
  [[noreturn]] void fail(const std::string& text);

 private:
  struct PeerRecord {
    std::string label;
    bool alone = false;
    bool stall_watched = false;
    bool ended = false;
    pid_t pid = -1;
    std::string failure;
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<PeerThread> thread;
  };
  [[nodiscard]] std::vector<Watched> watched(bool for_wait) const;

  std::string what_;
  std::chrono::milliseconds watchdog_;
  std::unique_ptr<SharedRegion<LaunchShared>> shared_;
  std::vector<PeerRecord> peers_;
};

}  // namespace ipcbench
