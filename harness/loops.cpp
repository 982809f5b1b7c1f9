#include "harness/loops.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

// Thrown by a peer thread to end early (Fault::Kind::kExit).
struct PeerExit : std::runtime_error {
  PeerExit() : std::runtime_error("consumer thread ended early (injected fault)") {}
};

}  // namespace

void inject_fault(const Fault& fault, std::uint64_t count, bool thread) {
  if (fault.kind == Fault::Kind::kNone || count != fault.after_messages) return;
  switch (fault.kind) {
    case Fault::Kind::kKill:
      ::raise(SIGKILL);
      break;
    case Fault::Kind::kStop:
      ::raise(SIGSTOP);
      break;
    case Fault::Kind::kExit:
      if (thread) throw PeerExit();
      ::_exit(7);
    case Fault::Kind::kHang:
      while (!interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      throw_if_interrupted("consumer", "injected hang");
      break;
    case Fault::Kind::kNone:
    case Fault::Kind::kDropReply:  // the caller's: it does not send the reply
      break;
  }
}

Usage usage_now(bool thread) {
  rusage ru{};
  ::getrusage(thread ? RUSAGE_THREAD : RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(tv.tv_usec) * 1000u;
  };
  return {ns(ru.ru_utime) + ns(ru.ru_stime),
          static_cast<std::uint64_t>(ru.ru_nvcsw) + static_cast<std::uint64_t>(ru.ru_nivcsw)};
}

}  // namespace ipcbench
