#include "harness/system_info.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>

#include "harness/clock.hpp"
#include "transports/os/proc.hpp"

namespace ipcbench {
namespace {

std::string cpuinfo_field(const std::string& field) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(std::min(colon + 2, line.size()));
    }
  }
  return "unknown";
}

std::string proc_or(const std::string& path, const std::string& fallback = "unavailable") {
  return read_proc_line(path).value_or(fallback);
}

bool is_virtual_machine() {
  return (" " + cpuinfo_field("flags") + " ").find(" hypervisor ") != std::string::npos;
}

std::string default_pipe_size() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "unavailable";
  const int size = ::fcntl(fds[0], F_GETPIPE_SZ);
  ::close(fds[0]);
  ::close(fds[1]);
  return size > 0 ? std::to_string(size) : "unavailable";
}

std::string rlimit_text(int resource) {
  rlimit rl{};
  if (::getrlimit(resource, &rl) != 0) return "unavailable";
  return rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur);
}

}  // namespace

double clock_overhead_ns() {
  constexpr int kCalls = 1000;
  std::array<double, 21> runs{};
  for (double& run : runs) {
    const std::uint64_t t0 = now_ns();
    std::uint64_t sink = 0;
    for (int i = 0; i < kCalls; ++i) sink += now_ns();
    const std::uint64_t t1 = now_ns();
    run = static_cast<double>(t1 - t0) / kCalls;
    asm volatile("" : : "r"(sink));
  }
  std::nth_element(runs.begin(), runs.begin() + runs.size() / 2, runs.end());
  return runs[runs.size() / 2];
}

ContextEntries system_context() {
  utsname u{};
  ::uname(&u);
  const std::string cpu = "/sys/devices/system/cpu/";
  ContextEntries c = {
      {"kernel", std::string(u.sysname) + " " + u.release + " " + u.version},
      {"cpu_model", cpuinfo_field("model name")},
      {"cpus_online", proc_or(cpu + "online")},
      {"virtual_machine", is_virtual_machine() ? "yes (hypervisor flag set)" : "no"},
      {"clock_source", proc_or(cpu.substr(0, cpu.size() - 4) + "clocksource/clocksource0/current_clocksource")},
      {"clock_overhead_ns", std::to_string(clock_overhead_ns())},
      {"cpu_governor", proc_or(cpu + "cpu0/cpufreq/scaling_governor", "unavailable (no cpufreq)")},
      {"cpu_boost", proc_or(cpu + "cpufreq/boost", "unavailable")},
      {"smt_active", proc_or(cpu + "smt/active", "unavailable")},
      {"limit_pipe_default_bytes", default_pipe_size()},
      {"limit_pipe_max_size", proc_or("/proc/sys/fs/pipe-max-size")},
      {"limit_posix_mq_msg_max", proc_or("/proc/sys/fs/mqueue/msg_max")},
      {"limit_posix_mq_msgsize_max", proc_or("/proc/sys/fs/mqueue/msgsize_max")},
      {"limit_posix_mq_queues_max", proc_or("/proc/sys/fs/mqueue/queues_max")},
      {"limit_sysv_msgmax", proc_or("/proc/sys/kernel/msgmax")},
      {"limit_sysv_msgmnb", proc_or("/proc/sys/kernel/msgmnb")},
      {"limit_sysv_shmmax", proc_or("/proc/sys/kernel/shmmax")},
      {"limit_sysv_sem", proc_or("/proc/sys/kernel/sem")},
      {"limit_net_rmem_default", proc_or("/proc/sys/net/core/rmem_default")},
      {"limit_net_wmem_default", proc_or("/proc/sys/net/core/wmem_default")},
      {"limit_unix_max_dgram_qlen", proc_or("/proc/sys/net/unix/max_dgram_qlen")},
      {"limit_rlimit_sigpending", rlimit_text(RLIMIT_SIGPENDING)},
      {"limit_rlimit_msgqueue", rlimit_text(RLIMIT_MSGQUEUE)},
  };
  return c;
}

std::vector<std::string> stability_warnings() {
  std::vector<std::string> w;
  const std::string cpu = "/sys/devices/system/cpu/";
  if (auto gov = read_proc_line(cpu + "cpu0/cpufreq/scaling_governor"); gov && *gov != "performance") {
    w.push_back("CPU frequency governor is '" + *gov + "', not 'performance': clock speed varies");
  }
  if (auto smt = read_proc_line(cpu + "smt/active"); smt && *smt == "1") {
    w.push_back("SMT is on: a sibling thread shares the core with a pinned process");
  }
  if (auto cs = read_proc_line("/sys/devices/system/clocksource/clocksource0/current_clocksource");
      cs && *cs != "tsc") {
    w.push_back("clock source is '" + *cs + "', not 'tsc': reading the clock is slow");
  }
  if (is_virtual_machine()) {
    w.push_back("running under a hypervisor: cross-CPU wake-ups go through it and vary");
  }
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    w.push_back("only one CPU online: both ends share it");
  }
  return w;
}

}  // namespace ipcbench
