// CPU placements: which kinds of CPU pair this machine has, read from its sysfs topology.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "harness/cpus.hpp"

namespace ipcbench {

// One kind of CPU pair and the first pair of that kind among the allowed CPUs.
struct Placement {
  std::string kind;  // same_cpu, smt_sibling, same_llc, different_llc, different_socket
  CpuPair cpus;
  std::string description;
};

// Every placement kind, in order from closest to farthest.
[[nodiscard]] const std::vector<std::string>& placement_kinds();

// The kinds of pair `cpus` offers, read from `<sysfs>/cpuN/topology` and `cpuN/cache/index*`
// (the last-level cache is the highest index level). same_cpu is always there.
[[nodiscard]] std::vector<Placement> discover_placements(
    const std::vector<int>& cpus, const std::string& sysfs = "/sys/devices/system/cpu");

// Parses --placement=all or a comma list of kinds against what `available` offers. Throws
// std::invalid_argument naming an unknown kind, or a kind this machine does not have.
[[nodiscard]] std::vector<Placement> select_placements(std::string_view text,
                                                       const std::vector<Placement>& available);

}  // namespace ipcbench
