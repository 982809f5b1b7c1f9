// Helpers shared by the tests: counting open fds, a private scratch directory, timing a call.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ipcbench::test {

// A sanitizer build runs the same work several times slower: one 1 MiB dbus message took over
// 5 s to arrive under ASan on a 2-CPU AMD guest (sd-bus reading it into a growing buffer), and
// three dbus fan-in clients took over 3 s to attach, which the watchdog took for hangs. Tests
// multiply their watchdog (never a measured figure) by it; a real hang is still caught, later.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 4;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

// The number of open file descriptors of this process.
[[nodiscard]] inline std::size_t open_fd_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Fields of /proc/<pid>/stat, read after the last ')' (a name may hold spaces or parentheses:
// the harness names its children "bounce peer", "consumer 3"...). `pid` 0 reads nothing.
struct ProcStat {
  bool ok = false;              // the process existed and its line was read
  std::string comm;             // without the parentheses
  pid_t ppid = 0;
  unsigned long long start = 0;  // field 22: start time after boot, in clock ticks
};
[[nodiscard]] ProcStat proc_stat(pid_t pid);

// A scratch directory for one test (unique name), removed when the object goes.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  // Everything left inside, as paths relative to the directory.
  [[nodiscard]] std::vector<std::string> leftovers() const;

 private:
  std::filesystem::path path_;
};

// What a body run in private namespaces reported: skipped (namespaces not allowed here, with the
// reason) or its problems ("" when all is well).
struct NamespaceOutcome {
  bool skipped = false;
  std::string problems;
};

// Runs `body` in a forked child that first unshares `clone_flags` (CLONE_NEWIPC, CLONE_NEWNET,
// CLONE_NEWNS...; retried with CLONE_NEWUSER when not root), so it sees and changes only its own
// objects, network or mounts. The body returns what went wrong or ""; a throw, a crash or a hang
// (20 s) is reported too.
NamespaceOutcome in_private_namespaces(int clone_flags, const std::function<std::string()>& body);

// Runs `cmd` through /bin/sh, returns its exit status and sets `output` to stdout+stderr.
int run_command(const std::string& cmd, std::string& output);

// Runs `ipcbench --transports=<transports> --sizes=64 --patterns=off --quick --counters=all
// --benchmark_filter=RoundTrip` in a forked child that first installs a seccomp filter (with
// no_new_privs), as a container's or sandbox's policy might, and returns what it printed (stdout
// and stderr). The filter allows every call of another architecture than x86-64, loads the system
// call number and goes on with `rules`. Returns "" with `why` set when this machine does not let a
// test install a filter. A non-zero exit of ipcbench is a test failure (an unsupported case is
// reported and the run goes on).
std::string run_round_trips_under_seccomp(const std::vector<sock_filter>& rules,
                                          const std::string& transports, std::string& why);

}  // namespace ipcbench::test
