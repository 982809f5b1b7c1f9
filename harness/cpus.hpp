// CPU selection and pinning: which CPUs this process may use, parsing --cpus, pinning a process.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ipcbench {

// Where the two ends of a pair run.
struct CpuPair {
  int producer = 0;
  int consumer = 1;
  [[nodiscard]] bool same() const noexcept { return producer == consumer; }
};

// The CPUs this process may run on (sched_getaffinity), ascending.
[[nodiscard]] std::vector<int> allowed_cpus();
// Two different allowed CPUs (the first two), or the only one twice on a one-CPU machine.
[[nodiscard]] CpuPair default_cpu_pair();
// Parses "A,B" (two allowed CPU numbers, possibly equal). Throws std::invalid_argument naming the
// bad value and the allowed CPUs.
[[nodiscard]] CpuPair parse_cpu_pair(std::string_view text);
// Pins the calling thread to one CPU and restores its previous affinity when destroyed.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu);
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  ~ScopedPin();

 private:
  std::vector<int> saved_;
};

// Pins the calling thread (and so a process that has one thread) to `cpu`. Throws system_error.
void pin_to_cpu(int cpu);

}  // namespace ipcbench
