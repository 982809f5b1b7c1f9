#include "harness/topology.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>

namespace ipcbench {
namespace {

std::optional<std::string> read_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  return line;
}

struct CpuTopology {
  std::string package, core, siblings, llc;
};

CpuTopology read_topology(const std::string& sysfs, int cpu) {
  const std::filesystem::path dir = std::filesystem::path(sysfs) / ("cpu" + std::to_string(cpu));
  CpuTopology t;
  t.package = read_line(dir / "topology/physical_package_id").value_or("?");
  t.core = read_line(dir / "topology/core_id").value_or(std::to_string(cpu));
  t.siblings = read_line(dir / "topology/thread_siblings_list").value_or(std::to_string(cpu));
  int best_level = -1;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "cache", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("index", 0) != 0) continue;
    const auto level = read_line(entry.path() / "level");
    const auto shared = read_line(entry.path() / "shared_cpu_list");
    if (!level || !shared) continue;
    const int lvl = std::stoi(*level);
    if (lvl > best_level) {
      best_level = lvl;
      t.llc = *shared;
    }
  }
  if (t.llc.empty()) t.llc = "cpu" + std::to_string(cpu);  // unknown: assume private
  return t;
}

}  // namespace

const std::vector<std::string>& placement_kinds() {
  static const std::vector<std::string> kinds = {"same_cpu", "smt_sibling", "same_llc",
                                                 "different_llc", "different_socket"};
  return kinds;
}

std::vector<Placement> discover_placements(const std::vector<int>& cpus, const std::string& sysfs) {
  std::map<std::string, Placement> found;
  if (!cpus.empty()) {
    found["same_cpu"] = {"same_cpu", {cpus[0], cpus[0]}, "both ends on one CPU"};
  }
  std::vector<CpuTopology> topo;
  for (int cpu : cpus) topo.push_back(read_topology(sysfs, cpu));
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    for (std::size_t j = i + 1; j < cpus.size(); ++j) {
      const CpuTopology& a = topo[i];
      const CpuTopology& b = topo[j];
      std::string kind, what;
      if (a.package != b.package) {
        kind = "different_socket";
        what = "different sockets";
      } else if (a.core == b.core && a.siblings == b.siblings) {
        kind = "smt_sibling";
        what = "two hardware threads of one core";
      } else if (a.llc == b.llc) {
        kind = "same_llc";
        what = "different cores sharing the last-level cache";
      } else {
        kind = "different_llc";
        what = "different cores and last-level caches, one socket";
      }
      found.try_emplace(kind, Placement{kind, {cpus[i], cpus[j]}, what});
    }
  }
  std::vector<Placement> out;
  for (const std::string& kind : placement_kinds()) {
    if (auto it = found.find(kind); it != found.end()) out.push_back(it->second);
  }
  return out;
}

std::vector<Placement> select_placements(std::string_view text,
                                         const std::vector<Placement>& available) {
  std::string have;
  for (const Placement& p : available) have += (have.empty() ? "" : ", ") + p.kind;
  if (text == "all") return available;
  std::vector<Placement> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    const std::string kind(text.substr(start, comma - start));
    const auto& kinds = placement_kinds();
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      throw std::invalid_argument("--placement=" + std::string(text) + ": unknown placement '" +
                                  kind + "' (known: all, same_cpu, smt_sibling, same_llc, "
                                  "different_llc, different_socket)");
    }
    auto it = std::find_if(available.begin(), available.end(),
                           [&](const Placement& p) { return p.kind == kind; });
    if (it == available.end()) {
      throw std::invalid_argument("--placement=" + std::string(text) + ": this machine has no '" +
                                  kind + "' CPU pair (it has: " + have + ")");
    }
    if (std::any_of(out.begin(), out.end(), [&](const Placement& p) { return p.kind == kind; })) {
      throw std::invalid_argument("--placement=" + std::string(text) + ": '" + kind +
                                  "' is given twice");
    }
    out.push_back(*it);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace ipcbench
