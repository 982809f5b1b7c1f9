// Limits and refusals: each ends in a clear error naming the limit, never a crash or a hang.
#include <gtest/gtest.h>

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <fstream>

#include "harness/pair.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

PairConfig small_run(const std::string& id, std::size_t bytes) {
  PairConfig c;
  c.transport_id = id;
  c.message_bytes = bytes;
  c.iterations = 20;
  c.warmup = 2;
  c.cpus = default_cpu_pair();
  c.watchdog = std::chrono::milliseconds(5000);
  return c;
}

// Runs `id` at `bytes`; returns "" if it failed with a message containing every one of `words`.
std::string expect_refusal(const std::string& id, std::size_t bytes,
                           const std::vector<std::string>& words) {
  try {
    (void)run_pair(small_run(id, bytes));
    return id + " ran despite the limit";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    for (const std::string& w : words) {
      if (what.find(w) == std::string::npos) return id + ": message lacks '" + w + "': " + what;
    }
    std::fprintf(stderr, "refused as expected: %s\n", what.c_str());
    return "";
  }
}

bool write_proc(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value << "\n";
  return static_cast<bool>(out.flush());
}

#define IPCBENCH_EXPECT_NAMESPACED(flags, ...)                                      \
  do {                                                                              \
    const test::NamespaceOutcome outcome = test::in_private_namespaces(flags, __VA_ARGS__); \
    if (outcome.skipped) GTEST_SKIP() << outcome.problems;                          \
    if (outcome.problems.rfind("SKIP: ", 0) == 0) GTEST_SKIP() << outcome.problems; \
    EXPECT_EQ(outcome.problems, "");                                                \
  } while (0)

TEST(Limits, ZeroSigpendingIsAnErrorNamingTheLimit) {
  IPCBENCH_EXPECT_NAMESPACED(0, [] {
    const rlimit zero{0, 0};
    if (::setrlimit(RLIMIT_SIGPENDING, &zero) != 0) return std::string("setrlimit failed");
    return expect_refusal("rt_signal", kWordBytes, {"rt_signal", "RLIMIT_SIGPENDING"});
  });
}

TEST(Limits, SysvSegmentAboveShmmaxIsRefusedNamingShmmax) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWIPC, [] {
    if (!write_proc("/proc/sys/kernel/shmmax", "65536")) return std::string("SKIP: cannot set shmmax in a private IPC namespace");
    return expect_refusal("sysv_shm", 1 << 20, {"sysv_shm", "shmmax"});
  });
}

TEST(Limits, PosixQueueMessageAboveMsgsizeMaxIsRefusedNamingIt) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWIPC, [] {
    if (!write_proc("/proc/sys/fs/mqueue/msgsize_max", "1024")) {
      return std::string("SKIP: cannot set msgsize_max in a private IPC namespace");
    }
    return expect_refusal("posix_mq", 4096, {"posix_mq", "msgsize_max"});
  });
}

TEST(Limits, SysvQueueMessageAboveMsgmaxIsRefusedNamingIt) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWIPC, [] {
    if (!write_proc("/proc/sys/kernel/msgmax", "1024")) {
      return std::string("SKIP: cannot set msgmax in a private IPC namespace");
    }
    return expect_refusal("sysv_mq", 4096, {"sysv_mq", "msgmax"});
  });
}

// A new network namespace has its loopback down: 127.0.0.1 cannot be bound.
TEST(Limits, AnUnbindablePortIsAnErrorNamingTheAddress) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWNET, [] {
    std::string problems;
    for (const char* id : {"tcp", "udp"}) problems += expect_refusal(id, 64, {id, "127.0.0.1"});
    return problems;
  });
}

// /dev/shm read-only (a private mount namespace mounts a read-only tmpfs over it): the shared-
// memory transports fail naming /dev/shm and their object, instead of crashing or hanging.
TEST(Limits, AnUnavailableDevShmIsAnErrorNamingIt) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWNS, [] {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("none", "/dev/shm", "tmpfs", MS_RDONLY, nullptr) != 0) {
      return std::string("SKIP: cannot mount a read-only /dev/shm here");
    }
    std::string problems;
    for (const char* id : {"shm_spin", "shm_futex", "shm_sem", "shm_condvar", "boost_mq"}) {
      problems += expect_refusal(id, 64, {id, "/dev/shm"});
    }
    return problems;
  });
}

}  // namespace
}  // namespace ipcbench
