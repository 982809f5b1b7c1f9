// now_ns(): CLOCK_MONOTONIC in nanoseconds, one clock for every process on the host.
#pragma once

#include <time.h>

#include <cstdint>

namespace ipcbench {

[[nodiscard]] inline std::uint64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace ipcbench
