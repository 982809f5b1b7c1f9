#include "transports/os/eventfd_wait.hpp"

#include <unistd.h>

#include <cerrno>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

void EventfdWait::take(RingEvent event, const std::string& object) {
  std::uint64_t value = 0;
  while (true) {
    const ssize_t n = ::read(fd(event), &value, sizeof value);
    if (n == static_cast<ssize_t>(sizeof value)) break;
    const int err = n < 0 ? errno : EIO;  // an eventfd read is all 8 bytes or an error
    if (err != EINTR) throw_sys_error(err, "read", object);
    throw_if_interrupted("read", object);
  }
  if (stats_ != nullptr) {
    EventfdCounts& c = event == RingEvent::kData ? stats_->data : stats_->space;
    ++c.reads;
    c.notifications += value;
  }
}

void EventfdWait::post(RingEvent event, const std::string& object) {
  const std::uint64_t one = 1;
  while (true) {
    // Blocks only if the counter would pass 2^64 - 2, which 2^64 notifications would take.
    const ssize_t n = ::write(fd(event), &one, sizeof one);
    if (n == static_cast<ssize_t>(sizeof one)) return;
    const int err = n < 0 ? errno : EIO;
    if (err != EINTR) throw_sys_error(err, "write", object);
    throw_if_interrupted("write", object);
  }
}

}  // namespace ipcbench
