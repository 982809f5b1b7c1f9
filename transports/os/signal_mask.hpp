// Signals received synchronously with sigwaitinfo(): the mask that keeps them pending, and the
// wait.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <initializer_list>
#include <string_view>

namespace ipcbench {

// Blocks `signals` in the calling thread while it lives, so they stay pending until taken with
// sigwaitinfo() instead of running their default action (which kills the process). Build it
// before fork(): the child inherits the mask, so a signal that arrives before it attaches waits.
// The destructor first takes every one still pending (sigtimedwait with a zero timeout), then
// restores the previous mask: unblocking a pending SIGUSR1 would kill the process.
// Not copyable or movable: the mask belongs to the thread that built it.
class BlockedSignals {
 public:
  BlockedSignals(std::initializer_list<int> signals, std::string_view object);
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
  ~BlockedSignals();

 private:
  sigset_t set_;
  sigset_t old_;
};

// Waits for one of `wanted` (blocked) sent by process `peer`, fills `info` and returns its number.
// Signals from any other process are taken and ignored. EINTR (the watchdog's SIGALRM) throws
// once interrupted() is set, else waits again. Blocks; throws naming `object`.
int wait_signal_from(const sigset_t& wanted, pid_t peer, siginfo_t& info, std::string_view object);

}  // namespace ipcbench
