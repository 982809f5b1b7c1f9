#include "harness/cpus.hpp"

#include <sched.h>

#include <cerrno>
#include <charconv>
#include <stdexcept>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) throw_sys_error(errno, "sched_getaffinity", "self");
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

CpuPair default_cpu_pair() {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) return {cpus.at(0), cpus.at(0)};
  return {cpus[0], cpus[1]};
}

namespace {
std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (int cpu : cpus) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  return out;
}

int parse_cpu(std::string_view item, std::string_view whole, const std::vector<int>& allowed) {
  int cpu = -1;
  const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), cpu);
  if (item.empty() || ec != std::errc{} || end != item.data() + item.size() || cpu < 0) {
    throw std::invalid_argument("--cpus=" + std::string(whole) + ": '" + std::string(item) +
                                "' is not a CPU number (expected two of " + cpu_list(allowed) + ")");
  }
  for (int a : allowed) {
    if (a == cpu) return cpu;
  }
  throw std::invalid_argument("--cpus=" + std::string(whole) + ": CPU " + std::to_string(cpu) +
                              " does not exist or is not allowed (allowed: " + cpu_list(allowed) + ")");
}
}  // namespace

CpuPair parse_cpu_pair(std::string_view text) {
  const std::vector<int> allowed = allowed_cpus();
  const auto comma = text.find(',');
  if (comma == std::string_view::npos || text.find(',', comma + 1) != std::string_view::npos) {
    throw std::invalid_argument("--cpus=" + std::string(text) +
                                ": expected two CPU numbers A,B (allowed: " + cpu_list(allowed) + ")");
  }
  return {parse_cpu(text.substr(0, comma), text, allowed),
          parse_cpu(text.substr(comma + 1), text, allowed)};
}

ScopedPin::ScopedPin(int cpu) : saved_(allowed_cpus()) { pin_to_cpu(cpu); }

ScopedPin::~ScopedPin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : saved_) CPU_SET(cpu, &set);
  ::sched_setaffinity(0, sizeof set, &set);
}

void pin_to_cpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    throw_sys_error(errno, "sched_setaffinity", "cpu " + std::to_string(cpu));
  }
}

}  // namespace ipcbench
