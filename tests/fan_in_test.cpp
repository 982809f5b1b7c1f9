// Fan-in: every fan-in transport with one and four clients, faults, leaks and leftovers.
#include "harness/fan_in.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/test_util.hpp"
#include "transports/fan_in.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> fan_in_ids() {
  std::vector<std::string> ids;
  for (const FanInInfo& info : all_fan_in()) ids.emplace_back(info.id);
  return ids;
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
  c.watchdog = std::chrono::milliseconds(3000);
  return c;
}

class FanIn : public ::testing::TestWithParam<std::string> {
 protected:
  Capabilities caps(std::size_t clients) const {
    return find_fan_in(GetParam())->describe(clients);
  }
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

TEST(FanInConfig, SizesAboveAQueueLimitAreUnsupportedWithTheReason) {
  for (const char* id : {"posix_mq", "sysv_mq", "udp"}) {
    SCOPED_TRACE(id);
    FanInConfig c;
    c.transport_id = id;
    c.clients = 2;
    c.message_bytes = find_fan_in(id)->describe(2).max_message_bytes + 1;
    try {
      (void)run_fan_in(c);
      FAIL();
    } catch (const Unsupported& e) {
      EXPECT_NE(std::string(e.what()).find("largest message"), std::string::npos) << e.what();
    }
  }
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
