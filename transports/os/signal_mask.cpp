#include "transports/os/signal_mask.hpp"

#include <pthread.h>

#include <cerrno>
#include <ctime>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

BlockedSignals::BlockedSignals(std::initializer_list<int> signals, std::string_view object) {
  sigemptyset(&set_);
  for (int sig : signals) sigaddset(&set_, sig);
  const int err = ::pthread_sigmask(SIG_BLOCK, &set_, &old_);
  if (err != 0) throw_sys_error(err, "pthread_sigmask", object);
}

BlockedSignals::~BlockedSignals() {
  const timespec zero{};
  siginfo_t info;
  while (::sigtimedwait(&set_, &info, &zero) > 0 || errno == EINTR) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

int wait_signal_from(const sigset_t& wanted, pid_t peer, siginfo_t& info, std::string_view object) {
  while (true) {
    const int sig = ::sigwaitinfo(&wanted, &info);
    if (sig > 0) {
      if (info.si_pid == peer) return sig;
      continue;  // not from our peer: taken and ignored
    }
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "sigwaitinfo", object);
    throw_if_interrupted("sigwaitinfo", object);
  }
}

}  // namespace ipcbench
