#include "transports/os/rt_queue.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

static_assert(sizeof(sigval) == kWordBytes, "the word travels in one sigval");

std::string sigpending_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_SIGPENDING, &lim) != 0) return "unreadable";
  if (lim.rlim_cur == RLIM_INFINITY) return "unlimited";
  return std::to_string(lim.rlim_cur);
}

void require_realtime_signals(int highest, const char* label) {
  if (highest > SIGRTMAX) {
    throw_sys_error(EINVAL, "sigqueue", std::string(label) + " is above SIGRTMAX on this system");
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_SIGPENDING, &lim) == 0 && lim.rlim_cur == 0) {
    throw_sys_error(EAGAIN, "sigqueue", "RLIMIT_SIGPENDING = 0: no realtime signal can be queued");
  }
}

void check_word_message(std::size_t bytes, const char* call, const std::string& object) {
  if (bytes != kWordBytes) {
    throw_sys_error(EMSGSIZE, call,
                    object + ": a realtime signal carries exactly " + std::to_string(kWordBytes) +
                        " bytes (one sigval), not " + std::to_string(bytes));
  }
}

void queue_word(pid_t peer, int sig, std::span<const std::byte> msg, const std::string& object) {
  sigval value{};
  std::memcpy(&value, msg.data(), sizeof value);
  int waits = 0;
  while (::sigqueue(peer, sig, value) != 0) {
    const int err = errno;
    if (err != EAGAIN) throw_sys_error(err, "sigqueue", object);
    // Full for 2 s (100'000 pauses of 20 us) means nobody drains it.
    throw_if_interrupted("sigqueue", object);
    if (++waits > 100'000) {
      throw_sys_error(EAGAIN, "sigqueue",
                      object + ": RLIMIT_SIGPENDING = " + sigpending_limit() +
                          " reached and not drained for 2 s");
    }
    const timespec pause{0, 20'000};
    ::nanosleep(&pause, nullptr);
  }
}

std::string queued_word_limit_source() {
  return "one sigval (8 bytes) per signal; queued signals are bounded by RLIMIT_SIGPENDING = " +
         sigpending_limit() +
         " (getrlimit), beyond which sigqueue() fails with EAGAIN and the sender waits";
}

}  // namespace ipcbench
