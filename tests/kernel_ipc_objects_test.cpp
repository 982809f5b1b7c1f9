// posix_mq, sysv_mq, sysv_shm, sysv_sem beyond the conformance suite: what their kernel objects
// look like (0600, IPC_PRIVATE, unlinked), that none is left after a run or after the creator is
// SIGKILLed, that limits come from /proc, and that a message of another size is an error.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/ledger.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;

const std::vector<std::string> kSysvIds = {"sysv_mq", "sysv_shm", "sysv_sem"};

// One row of /proc/sysvipc/{msg,sem,shm}.
struct IpcRow {
  long key = 0;
  int id = 0;
  unsigned perms =
      0;  // octal in the file; SHM_DEST (01000) marks a removed, still attached segment
};

std::vector<IpcRow> ipc_rows(const std::string& kind) {
  std::ifstream in("/proc/sysvipc/" + kind);
  std::string line;
  std::getline(in, line);  // the header
  std::vector<IpcRow> rows;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    IpcRow row;
    std::string perms;
    if (fields >> row.key >> row.id >> perms) {
      row.perms = static_cast<unsigned>(std::stoul(perms, nullptr, 8));
      rows.push_back(row);
    }
  }
  return rows;
}

std::string describe_rows(const std::string& kind) {
  std::string out;
  for (const IpcRow& r : ipc_rows(kind)) {
    char perms[16];
    std::snprintf(perms, sizeof perms, "%o", r.perms);
    out += kind + " id " + std::to_string(r.id) + " key " + std::to_string(r.key) + " perms " +
           perms + "; ";
  }
  return out;
}

std::size_t ipc_object_count() {
  return ipc_rows("msg").size() + ipc_rows("sem").size() + ipc_rows("shm").size();
}

TransportOptions options_for(std::size_t bytes) {
  TransportOptions o;
  o.name = unique_name();
  o.message_bytes = bytes;
  o.tmp_root = default_tmp_root();
  return o;
}

// /proc/sysvipc then lists exactly the objects the body made, whatever else runs meanwhile.
test::NamespaceOutcome in_private_ipc_namespace(const std::function<std::string()>& body) {
  return test::in_private_namespaces(CLONE_NEWIPC, body);
}

// A macro because GTEST_SKIP() must return from the test body itself.
#define IPCBENCH_EXPECT_CLEAN_NAMESPACE_RUN(...)                            \
  do {                                                                      \
    const test::NamespaceOutcome outcome = in_private_ipc_namespace(__VA_ARGS__); \
    if (outcome.skipped) GTEST_SKIP() << outcome.problems;                  \
    EXPECT_EQ(outcome.problems, "");                                        \
  } while (0)

TEST(SysvObjects, AreIpcPrivate0600AndGoneWithTheTransport) {
  IPCBENCH_EXPECT_CLEAN_NAMESPACE_RUN([]() -> std::string {
    std::string problems;
    for (const std::string& id : kSysvIds) {
      if (ipc_object_count() != 0) return problems + "objects before " + id;
      TransportPtr t = find_transport(id)->make(options_for(64));
      // What each transport must hold while it lives: {msg queues, semaphore sets, segments}.
      const std::size_t want_msg = id == "sysv_mq", want_sem = id != "sysv_mq",
                        want_shm = id == "sysv_shm";
      if (ipc_rows("msg").size() != want_msg || ipc_rows("sem").size() != want_sem ||
          ipc_rows("shm").size() != want_shm) {
        problems += id + " holds " + describe_rows("msg") + describe_rows("sem") +
                    describe_rows("shm") + "\n";
      }
      for (const std::string kind : {"msg", "sem", "shm"}) {
        for (const IpcRow& r : ipc_rows(kind)) {
          if (r.key != 0) problems += id + ": " + kind + " key is not IPC_PRIVATE\n";
          if ((r.perms & 0777) != 0600) problems += id + ": " + kind + " mode is not 0600\n";
          // The segment is IPC_RMID'd as soon as it is attached; only the attachment keeps it.
          if (kind == "shm" && (r.perms & 01000) == 0) problems += id + ": shm not removed yet\n";
        }
      }
      t.reset();
      if (ipc_object_count() != 0) {
        problems += id + " left " + describe_rows("msg") + describe_rows("sem") +
                    describe_rows("shm") + "\n";
      }
    }
    return problems;
  });
}

TEST(SysvObjects, NoneLeftAfterRunsThatEndWellOrWithADeadConsumer) {
  IPCBENCH_EXPECT_CLEAN_NAMESPACE_RUN([]() -> std::string {
    std::string problems;
    for (const std::string& id : {"posix_mq", "sysv_mq", "sysv_shm", "sysv_sem"}) {
      const std::size_t bytes = id == "sysv_sem" ? 0 : 64;
      for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
        for (bool kill_consumer : {false, true}) {
          PairConfig c;
          c.transport_id = id;
          c.pattern = pattern;
          c.message_bytes = bytes;
          c.iterations = kill_consumer ? 100'000 : 20;
          c.warmup = 3;
          c.batch = 10;
          c.cpus = default_cpu_pair();
          c.watchdog = 2000ms;
          if (kill_consumer) c.fault = {Fault::Kind::kKill, 15};
          try {
            (void)run_pair(c);
            if (kill_consumer) problems += id + ": a killed consumer was not reported\n";
          } catch (const std::exception& e) {
            if (!kill_consumer) problems += id + ": " + e.what() + "\n";
          }
          if (ipc_object_count() != 0) {
            problems += id + " " + std::string(pattern_name(pattern)) +
                        (kill_consumer ? " (consumer killed)" : "") + " left " +
                        describe_rows("msg") + describe_rows("sem") + describe_rows("shm") + "\n";
          }
        }
      }
    }
    return problems;
  });
}

// The creator (the producer, which made the objects before fork()) is SIGKILLed in the middle of
// a run: no destructor runs, so only the janitor (started by the creator, as ipcbench does) can
// remove the semaphore sets and queues.
TEST(SysvObjects, NoneLeftWhenTheCreatorIsKilledMidRun) {
  for (const std::string& id : kSysvIds) {
    SCOPED_TRACE(id);
    IPCBENCH_EXPECT_CLEAN_NAMESPACE_RUN([&id]() -> std::string {
      // Orphans (the janitor, the consumer) come back to us, so we can wait for them all.
      ::prctl(PR_SET_CHILD_SUBREAPER, 1);
      const pid_t creator = ::fork();
      if (creator == 0) {
        start_janitor();
        PairConfig c;
        c.transport_id = id;
        c.message_bytes = id == "sysv_sem" ? 0 : 64;
        c.iterations = 100'000'000;  // never finishes: it is killed
        c.cpus = default_cpu_pair();
        try {
          (void)run_pair(c);
        } catch (...) {
        }
        ::_exit(9);
      }
      const auto deadline = std::chrono::steady_clock::now() + 5s;
      while (ipc_object_count() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
      }
      std::string problems;
      if (ipc_object_count() == 0) problems += "the run never created its objects\n";
      std::this_thread::sleep_for(50ms);  // well into the round trips
      ::kill(creator, SIGKILL);
      int status = 0;
      while (::waitpid(-1, &status, 0) > 0 || errno == EINTR) {
      }
      if (ipc_object_count() != 0) {
        problems += "left " + describe_rows("msg") + describe_rows("sem") + describe_rows("shm");
      }
      return problems;
    });
  }
}

// In a namespace of its own, so that even a transport that failed to unlink leaks nothing here.
TEST(PosixMq, QueuesAre0600AndTheirNamesGoneWhileTheTransportLives) {
  IPCBENCH_EXPECT_CLEAN_NAMESPACE_RUN([]() -> std::string {
    std::string problems;
    const TransportOptions o = options_for(64);
    const std::size_t fds_before = test::open_fd_count();
    TransportPtr t = find_transport("posix_mq")->make(o);
    for (const char* suffix : {".down", ".up"}) {
      const std::string name = "/" + o.name + suffix;
      const mqd_t mq = ::mq_open(name.c_str(), O_RDONLY);
      if (mq != static_cast<mqd_t>(-1)) {
        problems += name + " can still be opened by name\n";
        ::mq_close(mq);
        ::mq_unlink(name.c_str());
      } else if (errno != ENOENT) {
        problems += name + ": " + std::strerror(errno) + "\n";
      }
    }
    // The queues themselves, through the descriptors the transport holds.
    int queues = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
      if (ec || target.find(o.name) == std::string::npos) continue;
      ++queues;
      struct stat st {};
      if (::stat(e.path().c_str(), &st) != 0) {
        problems += target + ": stat failed\n";
      } else if ((st.st_mode & 07777) != 0600) {
        problems += target + ": mode " + std::to_string(st.st_mode & 07777) + " is not 0600\n";
      }
      if (target.find("(deleted)") == std::string::npos) problems += target + " is not unlinked\n";
    }
    if (queues != 2) problems += std::to_string(queues) + " queue descriptors, expected 2\n";
    t.reset();
    if (test::open_fd_count() != fds_before) problems += "descriptors left after the transport\n";
    return problems;
  });
}

// Runs `body` in a forked child and returns its exit status in words.
std::string in_child(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return describe_wait_status(status);
}

TEST(PosixMq, RefusalForMemoryNamesRlimitMsgqueue) {
  const std::string status = in_child([] {
    const rlimit tiny{4096, 4096};  // less than one 8 KiB message
    if (::setrlimit(RLIMIT_MSGQUEUE, &tiny) != 0) return 4;
    try {
      (void)find_transport("posix_mq")->make(options_for(8192));
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      const bool named = what.find("RLIMIT_MSGQUEUE is 4096 bytes") != std::string::npos &&
                         what.find("mq_open(/ipcb-") != std::string::npos;
      return named ? 0 : 5;
    }
    return 6;  // created despite the limit
  });
  EXPECT_EQ(status, "exited with status 0");  // 5: the message lacks the limit, 6: not refused
}

TEST(KernelIpcLimits, AreReadFromProcAtRunTime) {
  const auto msgsize_max = read_proc_int("/proc/sys/fs/mqueue/msgsize_max");
  const auto msg_max = read_proc_int("/proc/sys/fs/mqueue/msg_max");
  ASSERT_TRUE(msgsize_max && msg_max);
  const Capabilities mq = find_transport("posix_mq")->describe();
  EXPECT_EQ(mq.max_message_bytes, static_cast<std::size_t>(*msgsize_max));
  EXPECT_NE(
      mq.limit_source.find("/proc/sys/fs/mqueue/msgsize_max = " + std::to_string(*msgsize_max)),
      std::string::npos)
      << mq.limit_source;
  EXPECT_NE(mq.limit_source.find("msg_max = " + std::to_string(*msg_max)), std::string::npos)
      << mq.limit_source;

  const auto msgmax = read_proc_int("/proc/sys/kernel/msgmax");
  const auto msgmnb = read_proc_int("/proc/sys/kernel/msgmnb");
  ASSERT_TRUE(msgmax && msgmnb);
  const Capabilities smq = find_transport("sysv_mq")->describe();
  EXPECT_EQ(smq.max_message_bytes, static_cast<std::size_t>(std::min(*msgmax, *msgmnb)));
  EXPECT_NE(smq.limit_source.find("/proc/sys/kernel/msgmax = " + std::to_string(*msgmax)),
            std::string::npos)
      << smq.limit_source;
  EXPECT_NE(smq.limit_source.find("msgmnb = " + std::to_string(*msgmnb)), std::string::npos)
      << smq.limit_source;

  const auto shmmax = read_proc_line("/proc/sys/kernel/shmmax");
  ASSERT_TRUE(shmmax);
  const Capabilities shm = find_transport("sysv_shm")->describe();
  EXPECT_NE(shm.limit_source.find("/proc/sys/kernel/shmmax = " + *shmmax), std::string::npos)
      << shm.limit_source;
  EXPECT_NE(shm.limit_source.find("not chunked"), std::string::npos) << shm.limit_source;
  EXPECT_LE(shm.max_message_bytes, std::stoull(*shmmax) / 2);
  EXPECT_GE(shm.max_message_bytes, std::size_t{1} << 20);  // the suite's sizes up to 1 MiB fit

  const Capabilities sem = find_transport("sysv_sem")->describe();
  EXPECT_EQ(sem.payload, Payload::kNothing);
  EXPECT_EQ(sem.max_message_bytes, 0u);
  EXPECT_FALSE(sem.may_coalesce);
  EXPECT_NE(sem.limit_source.find("no data"), std::string::npos) << sem.limit_source;
}

// The harness frames every message at an exact size; a transport must refuse, never truncate or
// pad, a message of another size.
class KernelQueueSizes : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelQueueSizes, AMessageOfAnotherSizeIsAnErrorNamingTheObject) {
  const std::string id = GetParam();
  IPCBENCH_EXPECT_CLEAN_NAMESPACE_RUN([&id]() -> std::string {
    install_signal_handling();
    std::string problems;
    for (std::size_t sent : {std::size_t{100}, std::size_t{32}}) {
      TransportPtr t = find_transport(id)->make(options_for(128));
      const pid_t parent = ::getpid();
      ChildProcess child("receiver", [&] {
        t->attach(Role::kConsumer, parent);
        std::vector<std::byte> buf(64);
        try {
          (void)t->recv(buf);
        } catch (const std::system_error& e) {
          const std::string what = e.what();
          const bool named = what.find("expected") != std::string::npos &&
                             what.find(id == "posix_mq" ? "/ipcb-" : "SysV") != std::string::npos;
          ::_exit(named ? 0 : 5);
        }
        ::_exit(6);
      });
      t->attach(Role::kProducer, child.pid());
      const std::vector<std::byte> msg(sent, std::byte{0x5a});
      t->send(msg);
      bool ok = false;
      const std::string status = child.wait(&ok);
      if (!ok) {
        problems += "sent " + std::to_string(sent) + " bytes, received into 64: receiver " +
                    status + " (5: error does not name the object, 6: accepted)\n";
      }
    }
    return problems;
  });
}

INSTANTIATE_TEST_SUITE_P(Bytes, KernelQueueSizes,
                         ::testing::Values("posix_mq", "sysv_mq", "sysv_shm"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

}  // namespace
}  // namespace ipcbench
