// What the results' context records about the machine, and warnings about unstable numbers.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness/cpus.hpp"

namespace ipcbench {

using ContextEntries = std::vector<std::pair<std::string, std::string>>;

// Machine facts: kernel, CPU model, clock source, governor, SMT, virtualisation, the clock's own
// cost, and the mechanism limits read from /proc now (pipe size, queue limits, socket buffers).
[[nodiscard]] ContextEntries system_context();
// Reasons the numbers of this machine may be unstable (governor, SMT, clock source, hypervisor).
[[nodiscard]] std::vector<std::string> stability_warnings();
// The median cost of one now_ns() call, measured now.
[[nodiscard]] double clock_overhead_ns();

}  // namespace ipcbench
