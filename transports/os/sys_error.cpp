#include "transports/os/sys_error.hpp"

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>

namespace ipcbench {
namespace {
std::atomic<bool> g_interrupted{false};
}  // namespace

void throw_sys_error(int err, std::string_view call, std::string_view object) {
  std::string what;
  what.reserve(call.size() + object.size() + 3);
  what.append(call).append("(").append(object).append(")");
  throw std::system_error(err, std::generic_category(), what);
}

bool interrupted() noexcept { return g_interrupted.load(std::memory_order_relaxed); }
void set_interrupted(bool value) noexcept { g_interrupted.store(value, std::memory_order_relaxed); }

void throw_if_interrupted(std::string_view call, std::string_view object) {
  if (interrupted()) throw_sys_error(ECANCELED, call, std::string(object) + ", interrupted by the watchdog");
}

}  // namespace ipcbench
