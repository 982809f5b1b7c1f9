// The fan-in conformance suite: every transport whose registry entry has a fan-in form (no list of
// ids), with one and four clients: bytes intact and in order for every client, unsupported sizes
// refused, a dead client reported, no fd, path or named object left behind.
#include "harness/fan_in.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/frame.hpp"
#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/ledger.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> fan_in_ids() {
  std::vector<std::string> ids;
  for (const TransportInfo& info : all_transports()) {
    if (info.fan_in != nullptr) ids.emplace_back(info.id);
  }
  return ids;
}

// Named objects (POSIX names, SysV ids, private directories) still recorded in the ledger: every
// one is entered before it is created and dropped once its owner removed it.
std::vector<std::string> named_objects_left() {
  std::vector<std::string> out;
  for (const LedgerEntry& e : ledger_entries()) {
    out.push_back(e.name.empty() ? "SysV id " + std::to_string(e.id) : e.name);
  }
  return out;
}

FanInConfig config_for(const std::string& id, std::size_t clients, std::size_t bytes,
                       const std::filesystem::path& root) {
  FanInConfig c;
  c.transport_id = id;
  c.clients = clients;
  c.message_bytes = bytes;
  c.iterations = 200;
  c.warmup = 5;
  c.tmp_root = root;
  c.watchdog = std::chrono::milliseconds(3000) * test::kSanitizerSlowdown;
  return c;
}

class FanIn : public ::testing::TestWithParam<std::string> {
 protected:
  // The janitor makes the ledger record every named object, so the tests can see them go.
  void SetUp() override { start_janitor(); }
  const FanInForm& form() const { return *find_transport(GetParam())->fan_in; }
  Capabilities caps(std::size_t clients) const { return form().describe(clients); }
};

TEST_P(FanIn, EveryReplyIntactAndCountsAddUp) {
  for (std::size_t clients : {1u, 4u}) {
    for (std::size_t bytes : {16ul, 64ul, 4096ul, 8000ul}) {
      if (bytes > caps(clients).max_message_bytes) continue;
      SCOPED_TRACE("clients=" + std::to_string(clients) + " bytes=" + std::to_string(bytes));
      test::ScratchDir dir;
      const std::size_t fds_before = test::open_fd_count();
      const FanInResult r = run_fan_in(config_for(GetParam(), clients, bytes, dir.path()));
      EXPECT_EQ(test::open_fd_count(), fds_before);
      EXPECT_TRUE(dir.leftovers().empty());
      EXPECT_EQ(named_objects_left(), std::vector<std::string>{});
      EXPECT_TRUE(r.failed_clients.empty()) << r.failures;
      EXPECT_EQ(r.corrupt, 0u);
      EXPECT_EQ(r.reordered, 0u);
      EXPECT_EQ(r.disconnects, 0u);
      ASSERT_EQ(r.per_client.size(), clients);
      if (!caps(clients).may_lose) {
        EXPECT_EQ(r.lost, 0u);
        EXPECT_EQ(r.round_trips, clients * 200u);
        EXPECT_EQ(r.rtt.count(), clients * 200u);
        for (const FanInClientResult& c : r.per_client) EXPECT_EQ(c.round_trips, 200u);
      } else {
        EXPECT_EQ(r.round_trips + r.lost, clients * 200u);
      }
      EXPECT_GT(r.wall_seconds, 0.0);
      EXPECT_GT(r.round_trips_per_second, 0.0);
      EXPECT_GE(r.worst_client_p99_ns, r.rtt.percentile(50));
    }
  }
}

TEST_P(FanIn, KilledClientIsReportedAndOthersFinish) {
  test::ScratchDir dir;
  const std::size_t fds_before = test::open_fd_count();
  FanInConfig c = config_for(GetParam(), 4, 64, dir.path());
  c.fault = {2, {Fault::Kind::kKill, 50}};
  const FanInResult r = run_fan_in(c);
  EXPECT_EQ(r.failed_clients, std::vector<std::size_t>{2});
  EXPECT_NE(r.failures.find("client 2"), std::string::npos) << r.failures;
  EXPECT_NE(r.failures.find("signal 9"), std::string::npos) << r.failures;
  EXPECT_TRUE(r.per_client[2].failed);
  for (std::size_t i : {0u, 1u, 3u}) {
    EXPECT_FALSE(r.per_client[i].failed);
    if (!caps(4).may_lose) {
      EXPECT_EQ(r.per_client[i].round_trips, 200u);
    }
    EXPECT_EQ(r.per_client[i].corrupt, 0u);
  }
  if (!caps(4).may_lose) {
    EXPECT_EQ(r.round_trips, 600u);
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  EXPECT_TRUE(dir.leftovers().empty());
  EXPECT_EQ(named_objects_left(), std::vector<std::string>{});
}

TEST_P(FanIn, HungClientIsKilledByTheWatchdogInTime) {
  test::ScratchDir dir;
  FanInConfig c = config_for(GetParam(), 2, 64, dir.path());
  c.watchdog = std::chrono::milliseconds(1000);
  c.fault = {1, {Fault::Kind::kStop, 20}};
  const auto t0 = Clock::now();
  const FanInResult r = run_fan_in(c);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(r.failed_clients, std::vector<std::size_t>{1});
  EXPECT_NE(r.failures.find("killed by the watchdog"), std::string::npos) << r.failures;
  EXPECT_FALSE(r.per_client[0].failed);
  if (!caps(2).may_lose) {
    EXPECT_EQ(r.per_client[0].round_trips, 200u);
  }
  EXPECT_TRUE(dir.leftovers().empty());
  EXPECT_EQ(named_objects_left(), std::vector<std::string>{});
}

// Each process counts its own working thread over its own timed part only: a long warm-up (25
// times the timed round trips) counted by any process would break the bound, which is every
// process busy through the whole timed wall time, plus 4 ms per process: a thread's getrusage()
// can lag by up to a scheduler tick (4 ms at HZ=250).
TEST_P(FanIn, CpuTimeIsCountedOverTheTimedPartOnly) {
  test::ScratchDir dir;
  FanInConfig c = config_for(GetParam(), 2, 64, dir.path());
  c.iterations = 200;
  c.warmup = 5000;
  const FanInResult r = run_fan_in(c);
  ASSERT_TRUE(r.failed_clients.empty()) << r.failures;
  EXPECT_GT(r.cpu_seconds, 0.0);
  EXPECT_GT(r.context_switches, 0u);
  EXPECT_LE(r.cpu_seconds, 3 * (r.wall_seconds + 0.004))
      << "cpu " << r.cpu_seconds << " s over " << r.wall_seconds << " s of wall time";
}

// The placement is said: one client on two CPUs shares none, two clients share the server's.
TEST_P(FanIn, SaysWhenItsProcessesShareACpu) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs, has " << cpus.size();
  for (std::size_t clients : {1u, 2u}) {
    test::ScratchDir dir;
    FanInConfig c = config_for(GetParam(), clients, 64, dir.path());
    c.iterations = 20;
    c.cpus = {cpus[0], cpus[1]};
    const FanInResult r = run_fan_in(c);
    EXPECT_EQ(r.sharing.shared(), clients == 2) << r.placement;
    EXPECT_EQ(r.per_client.back().cpu, clients == 2 ? cpus[0] : cpus[1]);
  }
}

// A size the form cannot carry is refused before anything is made, with the reason.
TEST_P(FanIn, RefusesAnUnsupportedSizeWithTheReason) {
  const Capabilities c = caps(2);
  const bool bounded = c.max_message_bytes != SIZE_MAX;
  test::ScratchDir dir;
  const std::size_t fds_before = test::open_fd_count();
  FanInConfig config =
      config_for(GetParam(), 2, bounded ? c.max_message_bytes + 1 : kHeaderBytes - 1, dir.path());
  try {
    (void)run_fan_in(config);
    FAIL() << "size " << config.message_bytes << " was not refused";
  } catch (const Unsupported& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(GetParam()), std::string::npos) << what;
    EXPECT_NE(what.find(bounded ? "largest message" : "smaller"), std::string::npos) << what;
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  EXPECT_TRUE(dir.leftovers().empty());
}

// Independent of the harness's framing: each client sends its own random bytes, and gets exactly
// them back, in order, from a server that echoes whatever comes.
TEST_P(FanIn, EchoesRandomBytesToEveryClientInOrder) {
  constexpr std::size_t kClients = 3;
  constexpr int kMessages = 50;
  const Capabilities c = caps(kClients);
  const std::size_t bytes = std::min<std::size_t>(c.max_message_bytes, 3000);
  test::ScratchDir dir;
  const std::size_t fds_before = test::open_fd_count();
  {
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = bytes;
    options.tmp_root = dir.path();
    FanInPtr t = form().make(options, kClients);
    install_signal_handling();
    struct Shared {
      std::atomic<std::uint32_t> attached, done;
    };
    SharedRegion<Shared> shared;
    auto message = [bytes](std::size_t client, int i) {
      std::mt19937 rng(static_cast<unsigned>(client * 1000 + static_cast<std::size_t>(i)));
      std::vector<std::byte> m(bytes);
      for (auto& b : m) b = static_cast<std::byte>(rng());
      return m;
    };
    ChildProcess server("server", [&] {
      t->attach_server();
      shared->attached.fetch_add(1);
      std::vector<std::byte> buf(bytes);
      while (shared->done.load() == 0) {
        const FanInEvent e = t->server_recv(buf);
        if (e.kind == FanInEvent::Kind::kRequest) (void)t->server_send(e.client, buf);
      }
    });
    std::vector<std::unique_ptr<ChildProcess>> clients;
    for (std::size_t i = 0; i < kClients; ++i) {
      clients.push_back(std::make_unique<ChildProcess>("client " + std::to_string(i), [&, i] {
        t->attach_client(i);
        shared->attached.fetch_add(1);
        std::vector<std::byte> back(bytes);
        for (int m = 0; m < kMessages; ++m) {
          const std::vector<std::byte> sent = message(i, m);
          t->client_send(sent);
          Received got = t->client_recv(back);
          for (int tries = 0; got == Received::kTimeout && c.may_lose && tries < 10; ++tries) {
            got = t->client_recv(back);
          }
          if (got != Received::kMessage) throw std::runtime_error("no reply");
          if (back != sent) throw std::runtime_error("reply " + std::to_string(m) + " differs");
        }
      }));
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (shared->attached.load() < kClients + 1 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(shared->attached.load(), kClients + 1);
    t->after_attach();
    for (std::size_t i = 0; i < kClients; ++i) {
      bool ok = false;
      EXPECT_EQ(clients[i]->wait(&ok), "exited with status 0") << "client " << i;
    }
    // Stop the server as the harness does: the flag, then SIGALRM to wake a wait with no timeout
    // (msgrcv), repeated because one landing just before the blocking call is missed.
    shared->done.store(1);
    int status = -1;
    for (int i = 0; i < 2500 && !server.try_wait(&status); ++i) {
      ::kill(server.pid(), SIGALRM);
      ::usleep(2000);
    }
    EXPECT_EQ(describe_wait_status(status), "exited with status 0");
  }
  EXPECT_EQ(test::open_fd_count(), fds_before);
  EXPECT_TRUE(dir.leftovers().empty());
  EXPECT_EQ(named_objects_left(), std::vector<std::string>{});
}

INSTANTIATE_TEST_SUITE_P(All, FanIn, ::testing::ValuesIn(fan_in_ids()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

// The lecture's stream server: a client that closes its data socket is dropped from the epoll
// loop and reported; the others are still served.
TEST(FanInStream, ServerDropsADisconnectedClientAndGoesOn) {
  for (const char* id : {"unix_stream", "tcp", "pipe", "fifo"}) {
    SCOPED_TRACE(id);
    test::ScratchDir dir;
    FanInConfig c = config_for(id, 3, 64, dir.path());
    c.fault = {0, {Fault::Kind::kExit, 10}};
    const FanInResult r = run_fan_in(c);
    EXPECT_EQ(r.failed_clients, std::vector<std::size_t>{0});
    EXPECT_NE(r.failures.find("exited with status 7"), std::string::npos) << r.failures;
    EXPECT_EQ(r.disconnects, 1u);
    EXPECT_EQ(r.round_trips, 400u);
  }
}

TEST(FanInConfig, RejectsBadInputWithAClearError) {
  FanInConfig c;
  c.transport_id = "no_such";
  EXPECT_THROW((void)run_fan_in(c), std::invalid_argument);
  c.transport_id = "pipe";
  c.clients = 0;
  EXPECT_THROW((void)run_fan_in(c), std::invalid_argument);
  c.clients = kMaxFanInClients + 1;
  EXPECT_THROW((void)run_fan_in(c), std::invalid_argument);
  c.clients = 2;
  c.message_bytes = 8;
  EXPECT_THROW((void)run_fan_in(c), Unsupported);
}

// Many clients' queues exceed a small RLIMIT_MSGQUEUE: the error names the limit. The limit is
// lowered in a forked child so the test process keeps its own.
TEST(FanInConfig, PosixMqReportsAnExceededQueueRlimit) {
  test::ScratchDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const rlimit small{4096, 4096};
    if (::setrlimit(RLIMIT_MSGQUEUE, &small) != 0) ::_exit(10);
    FanInConfig c = config_for("posix_mq", 16, 4096, dir.path());
    try {
      (void)run_fan_in(c);
    } catch (const std::runtime_error& e) {
      ::_exit(std::string(e.what()).find("RLIMIT_MSGQUEUE") != std::string::npos ? 0 : 11);
    }
    ::_exit(12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(FanInConfig, UnknownTransportNamesTheFanInIds) {
  FanInConfig c;
  c.transport_id = "no_such";
  try {
    (void)run_fan_in(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unix_stream"), std::string::npos);
  }
}

}  // namespace
}  // namespace ipcbench
