// ipcbench killed with SIGKILL at random points, one transport at a time, leaves nothing behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/leak_check.hpp"
#include "tests/test_util.hpp"
#include "transports/os/ledger.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

pid_t spawn_ipcbench(const std::filesystem::path& tmp, const std::string& transport) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  ::setenv("TMPDIR", tmp.c_str(), 1);
  const int null = ::open("/dev/null", O_WRONLY);
  ::dup2(null, 1);
  ::dup2(null, 2);
  const std::string transports = "--transports=" + transport;
  ::execl(IPCBENCH_BINARY, IPCBENCH_BINARY, transports.c_str(), "--sizes=64,64K",
          "--benchmark_min_time=0.2", static_cast<char*>(nullptr));
  ::_exit(127);
}

TEST(KilledSuite, SigkillMidRunLeavesNoObjectBehindForAnyTransport) {
  test::become_subreaper();
  test::ScratchDir tmp;
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> delay_ms(60, 400);
  int kills = 0, leaks = 0;
  for (const TransportInfo& info : all_transports()) {
    const std::string id(info.id);
    const test::IpcSnapshot before = test::snapshot_ipc(tmp.path());
    const pid_t pid = spawn_ipcbench(tmp.path(), id);
    const int delay = delay_ms(rng);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    ::kill(pid, SIGKILL);
    ++kills;
    EXPECT_TRUE(test::reap_all_descendants(10)) << id << ": a child or the janitor never ended";
    const auto left = test::new_objects(before, test::snapshot_ipc(tmp.path()));
    for (const std::string& o : left) {
      ADD_FAILURE() << id << " killed after " << delay << " ms left " << o;
      ++leaks;
    }
  }
  std::printf("kill suite: %d SIGKILLs of ipcbench, %d objects left behind%s\n", kills, leaks,
              test::snapshot_ipc(tmp.path()).mqueue_visible ? "" : " (POSIX queues not visible)");
}

}  // namespace
}  // namespace ipcbench

namespace ipcbench {
namespace {

// A process that creates a private directory (recorded in the ledger when a janitor runs) and
// dies by SIGKILL before removing it.
void run_and_die(const std::filesystem::path& root, bool with_janitor) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (with_janitor) start_janitor();
    PrivateDir dir(root);
    dir.release();  // forget it, as a killed owner would
    ::raise(SIGKILL);
  }
}

TEST(Janitor, RemovesWhatAKilledProcessLeft) {
  test::become_subreaper();
  test::ScratchDir tmp;
  run_and_die(tmp.path(), true);
  ASSERT_TRUE(test::reap_all_descendants(5));
  EXPECT_TRUE(tmp.leftovers().empty());
}

// The control: without a janitor the same death leaves the directory, so the check above can fail.
TEST(Janitor, WithoutItAKilledProcessLeavesItsObjects) {
  test::become_subreaper();
  test::ScratchDir tmp;
  run_and_die(tmp.path(), false);
  ASSERT_TRUE(test::reap_all_descendants(5));
  EXPECT_EQ(tmp.leftovers().size(), 1u);
}

bool mq_exists(const std::string& name) {
  const mqd_t mq = ::mq_open(name.c_str(), O_RDONLY);
  if (mq == static_cast<mqd_t>(-1)) return false;
  ::mq_close(mq);
  return true;
}

bool shm_exists(const std::string& name) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// A process killed between creating a POSIX queue or shared-memory name and unlinking it: the
// window every transport with a POSIX name has. The janitor removes what the NameRecords name.
void create_names_and_die(const std::string& mq, const std::string& shm, bool with_janitor) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (with_janitor) start_janitor();
    const NameRecord mq_record(ObjectKind::kPosixMq, mq);
    const NameRecord shm_record(ObjectKind::kPosixShm, shm);
    mq_attr attr{};
    attr.mq_maxmsg = 1;
    attr.mq_msgsize = 8;
    if (::mq_open(mq.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr) == static_cast<mqd_t>(-1)) {
      ::_exit(2);
    }
    if (::shm_open(shm.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600) < 0) ::_exit(3);
    ::raise(SIGKILL);
  }
}

// Which of the two names survived their killed creator (both are removed afterwards).
struct NamesLeft {
  bool mq, shm;
};
NamesLeft names_left_by_killed_creator(const std::string& mq, const std::string& shm,
                                       bool with_janitor) {
  create_names_and_die(mq, shm, with_janitor);
  EXPECT_TRUE(test::reap_all_descendants(5));
  const NamesLeft left{mq_exists(mq), shm_exists(shm)};
  ::mq_unlink(mq.c_str());
  ::shm_unlink(shm.c_str());
  return left;
}

TEST(Janitor, RemovesPosixNamesAKilledCreatorHadNotUnlinkedYet) {
  test::become_subreaper();
  const NamesLeft left = names_left_by_killed_creator("/" + unique_name(), unique_name(), true);
  EXPECT_FALSE(left.mq);
  EXPECT_FALSE(left.shm);
}

// The control: without a janitor both names survive their creator, so the check above can fail.
TEST(Janitor, WithoutItAKilledCreatorLeavesItsPosixNames) {
  test::become_subreaper();
  const NamesLeft left = names_left_by_killed_creator("/" + unique_name(), unique_name(), false);
  EXPECT_TRUE(left.mq);
  EXPECT_TRUE(left.shm);
}

// The janitor removes only names this suite makes: a corrupt or foreign entry removes nothing.
TEST(Janitor, LeavesANameThatIsNotOursAlone) {
  test::become_subreaper();
  const std::string suffix = unique_name().substr(5);
  const NamesLeft left = names_left_by_killed_creator("/other-" + suffix, "other-" + suffix, true);
  EXPECT_TRUE(left.mq);
  EXPECT_TRUE(left.shm);
}

// An IPC_PRIVATE id exists only once its creating call returns: a creator killed during the call
// could never record it. sysv_create() makes the call in a helper that outlives the creator, so
// the janitor still gets the id. The helper here is slowed to 300 ms so the kill (at 50 ms)
// certainly lands during the call.
TEST(Janitor, RemovesASysvObjectWhoseCreatorWasKilledDuringTheCall) {
  test::become_subreaper();
  test::ScratchDir tmp;
  const test::IpcSnapshot before = test::snapshot_ipc(tmp.path());
  const pid_t pid = ::fork();
  if (pid == 0) {
    start_janitor();
    std::thread killer([] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::raise(SIGKILL);
    });
    (void)sysv_create(
        SysvKind::kMsgQueue,
        [](const void*) {
          ::usleep(300'000);
          return ::msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600);
        },
        nullptr);
    ::_exit(1);  // not reached: the killer ends this process during the call
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_TRUE(test::reap_all_descendants(5));
  EXPECT_EQ(test::new_objects(before, test::snapshot_ipc(tmp.path())), std::vector<std::string>{});
}

// A creator that builds a transport and dies at once, before any destructor can run.
template <typename Make>
void make_and_die(Make make) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    start_janitor();
    try {
      auto transport = make();
      ::raise(SIGKILL);
    } catch (...) {
      ::_exit(2);
    }
  }
}

// Every object a transport holds once any of its forms is built (the pair; a fan-in server with its
// clients' channels; a broadcast ring) is in the ledger: killed right then, its creator leaves
// nothing.
TEST(Janitor, RemovesEveryObjectOfATransportWhoseCreatorWasKilled) {
  test::become_subreaper();
  test::ScratchDir tmp;
  int checked = 0, forms = 0;
  const auto check = [&](const std::string& what, auto make) {
    const test::IpcSnapshot before = test::snapshot_ipc(tmp.path());
    make_and_die(make);
    EXPECT_TRUE(test::reap_all_descendants(5)) << what;
    for (const std::string& o : test::new_objects(before, test::snapshot_ipc(tmp.path()))) {
      ADD_FAILURE() << what << " left " << o;
    }
    ++checked;
  };
  TransportOptions options;
  options.message_bytes = 64;
  options.tmp_root = tmp.path();
  for (const TransportInfo& info : all_transports()) {
    check(std::string(info.id), [&] {
      options.name = unique_name();
      return info.make(options);
    });
    ++forms;
    if (info.fan_in != nullptr) {
      check("fan-in " + std::string(info.id), [&] {
        options.name = unique_name();
        return info.fan_in->make(options, 4);
      });
      ++forms;
    }
    if (info.broadcast != nullptr) {
      check("broadcast " + std::string(info.id), [&] {
        options.name = unique_name();
        return info.broadcast->make(options, 4);
      });
      ++forms;
    }
  }
  EXPECT_EQ(checked, forms);
}

// The call's own failure still reaches the caller, with its errno, through the helper.
TEST(SysvCreate, ReportsTheFailedCallsErrno) {
  test::become_subreaper();
  const pid_t pid = ::fork();
  if (pid == 0) {
    start_janitor();
    const SysvCreated created = sysv_create(
        SysvKind::kSemSet,
        [](const void*) {
          errno = 0;
          return ::semget(IPC_PRIVATE, 1 << 30, IPC_CREAT | IPC_EXCL | 0600);  // above SEMMSL
        },
        nullptr);
    ::_exit(created.id == -1 && created.ledger == -1 && errno == EINVAL && ledger_entries().empty()
                ? 0
                : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(test::reap_all_descendants(5));
}

}  // namespace
}  // namespace ipcbench

namespace ipcbench {
namespace {

std::vector<pid_t> children_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t child = 0;
  while (in >> child) out.push_back(child);
  return out;
}

// The user's view: a consumer killed from outside mid-run is reported as that case's error, and
// the next benchmark still runs.
TEST(KilledConsumer, IsReportedAndTheNextBenchmarkStillRuns) {
  test::become_subreaper();
  test::ScratchDir tmp;
  const std::string json = (tmp.path() / "out.json").string();
  const pid_t bench = ::fork();
  if (bench == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    const std::string out = "--benchmark_out=" + json;
    ::execl(IPCBENCH_BINARY, IPCBENCH_BINARY, "--transports=pipe", "--sizes=64,1K",
            "--patterns=off", "--benchmark_filter=RoundTrip", "--benchmark_min_time=1.5",
            out.c_str(), "--benchmark_out_format=json", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Children of ipcbench: the janitor, the running case's consumer, and after each round trip
  // case the cache-line bounce peer (which, on a loaded machine, lives for seconds; killing it
  // was once taken for the consumer). Google Benchmark calls a case a few times with growing
  // iteration counts, each with a new consumer: the one to kill is a consumer (by its name) that
  // has lived 300 ms, the long last call's.
  pid_t consumer = -1, newest = -1;
  auto seen = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000 && consumer < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto kids = children_of(bench);
    std::erase_if(kids, [](pid_t k) {
      const test::ProcStat st = test::proc_stat(k);
      return !st.ok || st.comm != "consumer";
    });
    if (kids.empty()) continue;
    std::sort(kids.begin(), kids.end(),
              [](pid_t a, pid_t b) { return test::proc_stat(a).start < test::proc_stat(b).start; });
    if (kids.back() != newest) {
      newest = kids.back();
      seen = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - seen > std::chrono::milliseconds(300)) {
      consumer = newest;
    }
  }
  ASSERT_GT(consumer, 0) << "no long-lived consumer appeared";
  ::kill(consumer, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(bench, &status, 0), bench);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  (void)test::reap_all_descendants(5);
  std::ifstream in(json);
  const std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(out.find("\"error_occurred\": true"), std::string::npos) << out;
  EXPECT_NE(out.find("\"error_message\": \"pipe: "), std::string::npos) << out;
  EXPECT_NE(out.find("consumer["), std::string::npos) << out;
  EXPECT_NE(out.find("killed by signal 9"), std::string::npos) << out;
  // The second case ran and has its counters.
  EXPECT_NE(out.find("\"name\": \"RoundTrip/pipe/bytes:1024/manual_time\""), std::string::npos);
  EXPECT_NE(out.find("\"p50_ns\""), std::string::npos) << out;
}

}  // namespace
}  // namespace ipcbench
