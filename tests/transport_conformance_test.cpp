// The conformance suite: every registered transport, every supported size, faults and leaks.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "harness/frame.hpp"
#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> all_ids() {
  std::vector<std::string> ids;
  for (const TransportInfo& info : all_transports()) ids.emplace_back(info.id);
  return ids;
}

// Sizes around every boundary that matters (header, PIPE_BUF, pipe capacity, the suite's sizes),
// limited to what the transport carries.
std::vector<std::size_t> sizes_for(const Capabilities& caps) {
  if (auto fixed = fixed_message_bytes(caps.payload)) return {*fixed};
  std::vector<std::size_t> out;
  for (std::size_t s : {16ul, 17ul, 64ul, 1000ul, 1024ul, 4095ul, 4096ul, 4097ul, 16384ul, 65535ul,
                        65536ul, 65537ul, 1048576ul}) {
    if (!unsupported_reason(caps, s)) out.push_back(s);
  }
  if (caps.max_message_bytes != SIZE_MAX && !unsupported_reason(caps, caps.max_message_bytes)) {
    out.push_back(caps.max_message_bytes);  // the largest message itself must work
  }
  return out;
}

PairConfig config_for(const std::string& id, Pattern pattern, std::size_t bytes,
                      const std::filesystem::path& root) {
  PairConfig c;
  c.transport_id = id;
  c.pattern = pattern;
  c.message_bytes = bytes;
  // Few round trips for very large messages: the point is that every byte arrives, not timing.
  c.iterations = pattern == Pattern::kRoundTrip ? (bytes > (1u << 20) ? 4 : 40) : 3;
  c.warmup = 3;
  c.batch = bytes > (1u << 20) ? 4 : 25;
  c.cpus = default_cpu_pair();
  c.tmp_root = root;
  c.watchdog = std::chrono::milliseconds(5000) * test::kSanitizerSlowdown;
  return c;
}

class TransportConformance : public ::testing::TestWithParam<std::string> {
 protected:
  const TransportInfo& info() const { return *find_transport(GetParam()); }
  Capabilities caps() const { return info().describe(); }
};

TEST_P(TransportConformance, RoundTripsEverySupportedSizeIntact) {
  const Capabilities c = caps();
  for (std::size_t bytes : sizes_for(c)) {
    SCOPED_TRACE("bytes=" + std::to_string(bytes));
    test::ScratchDir dir;
    const PairConfig cfg = config_for(GetParam(), Pattern::kRoundTrip, bytes, dir.path());
    const PairResult r = run_pair(cfg);
    EXPECT_EQ(r.corrupt, 0u);
    EXPECT_EQ(r.reordered, 0u);
    if (!c.may_lose) {
      EXPECT_EQ(r.lost, 0u);
      EXPECT_EQ(r.rtt.count(), cfg.iterations);
      EXPECT_EQ(r.received, cfg.iterations);  // the consumer saw every one
    }
    EXPECT_EQ(r.iteration_seconds.size(), cfg.iterations);
    if (c.payload == Payload::kBytes && !c.may_lose) {
      EXPECT_EQ(r.oneway.count(), 2 * cfg.iterations);
    }
    EXPECT_TRUE(dir.leftovers().empty());
  }
}

TEST_P(TransportConformance, StreamsEverySupportedSizeInOrder) {
  const Capabilities c = caps();
  for (std::size_t bytes : sizes_for(c)) {
    SCOPED_TRACE("bytes=" + std::to_string(bytes));
    test::ScratchDir dir;
    const PairConfig cfg = config_for(GetParam(), Pattern::kStream, bytes, dir.path());
    const PairResult r = run_pair(cfg);
    EXPECT_EQ(r.sent, cfg.iterations * cfg.batch);
    EXPECT_EQ(r.corrupt, 0u);
    EXPECT_EQ(r.reordered, 0u);
    EXPECT_EQ(r.received + r.lost + r.coalesced, r.sent);
    if (!c.may_lose) {
      EXPECT_EQ(r.lost, 0u);
    }
    if (!c.may_coalesce) {
      EXPECT_EQ(r.coalesced, 0u);
    }
    if (!c.may_lose && !c.may_coalesce) {
      EXPECT_EQ(r.received, r.sent);
    }
    EXPECT_EQ(r.iteration_seconds.size(), 3u);
    EXPECT_TRUE(dir.leftovers().empty());
  }
}

// Independent of the harness's framing: random bytes out, the same bytes back, in order.
TEST_P(TransportConformance, EchoesRandomBytesExactly) {
  const Capabilities c = caps();
  if (c.payload == Payload::kNothing) GTEST_SKIP() << "carries no bytes";
  const std::size_t bytes =
      c.payload == Payload::kWord ? kWordBytes : std::min<std::size_t>(c.max_message_bytes, 70000);
  test::ScratchDir dir;
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = bytes;
  options.tmp_root = dir.path();
  TransportPtr t = info().make(options);
  constexpr int kMessages = 20;
  std::vector<std::vector<std::byte>> sent(kMessages, std::vector<std::byte>(bytes));
  std::mt19937 rng(7);
  for (auto& m : sent) {
    for (auto& b : m) b = static_cast<std::byte>(rng());
  }
  if (c.payload == Payload::kWord) {
    for (int i = 0; i < kMessages; ++i) sent[i][7] = std::byte{0};  // keep clear of marker bits
  }
  install_signal_handling();
  const pid_t parent = ::getpid();
  auto echo = [&] {
    t->attach(Role::kConsumer, parent);
    std::vector<std::byte> buf(bytes);
    for (int i = 0; i < kMessages;) {
      if (t->recv(buf) != Received::kMessage) continue;
      t->send(buf);
      ++i;
    }
    t->detach();  // as the harness's consumers end: the last echo out of the process (zeromq)
  };
  // An in_process transport's peer is a thread: a forked copy of it would share nothing.
  std::optional<ChildProcess> child;
  std::optional<PeerThread> thread;
  if (c.in_process) {
    thread.emplace("echo", echo);
  } else {
    child.emplace("echo", echo);
  }
  t->attach(Role::kProducer, child ? child->pid() : parent);
  std::vector<std::byte> back(bytes);
  for (int i = 0; i < kMessages; ++i) {
    t->send(sent[i]);
    Received got;
    do {
      got = t->recv(back);
    } while (got == Received::kTimeout && c.may_lose);
    ASSERT_EQ(got, Received::kMessage);
    ASSERT_EQ(back, sent[i]) << "message " << i;
  }
  bool ok = false;
  if (child) {
    EXPECT_EQ(child->wait(&ok), "exited with status 0");
  } else {
    thread->join(&ok);
    EXPECT_TRUE(ok);
  }
  t.reset();
  EXPECT_TRUE(dir.leftovers().empty());
}

TEST_P(TransportConformance, RefusesAnUnsupportedSizeWithTheReason) {
  const Capabilities c = caps();
  std::size_t bad = 0;
  if (c.payload == Payload::kBytes) {
    bad = c.max_message_bytes != SIZE_MAX ? c.max_message_bytes + 1 : kHeaderBytes - 1;
  } else {
    bad = 64;
  }
  test::ScratchDir dir;
  const std::size_t fds = test::open_fd_count();
  try {
    (void)run_pair(config_for(GetParam(), Pattern::kRoundTrip, bad, dir.path()));
    FAIL() << "size " << bad << " was not refused";
  } catch (const Unsupported& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(GetParam()), std::string::npos) << what;
    EXPECT_TRUE(what.find("larger") != std::string::npos ||
                what.find("smaller") != std::string::npos ||
                what.find("carries") != std::string::npos)
        << what;
  }
  EXPECT_EQ(test::open_fd_count(), fds);
}

TEST_P(TransportConformance, KilledConsumerIsReportedNamingTheTransport) {
  const Capabilities c = caps();
  if (c.in_process) GTEST_SKIP() << "the consumer is a thread of this process: it cannot be killed";
  const std::size_t bytes = sizes_for(c).front();
  for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
    SCOPED_TRACE(std::string(pattern_name(pattern)));
    test::ScratchDir dir;
    const std::size_t fds = test::open_fd_count();
    PairConfig cfg = config_for(GetParam(), pattern, bytes, dir.path());
    cfg.iterations = pattern == Pattern::kRoundTrip ? 1'000'000 : 100'000;  // never finishes
    cfg.fault = {Fault::Kind::kKill, 30};
    cfg.watchdog = std::chrono::milliseconds(2000);
    const auto start = Clock::now();
    try {
      (void)run_pair(cfg);
      FAIL() << "a killed consumer was not reported";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(GetParam() + ":", 0), 0u) << what;
      EXPECT_NE(what.find("consumer"), std::string::npos) << what;
    }
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(4000));
    EXPECT_EQ(test::open_fd_count(), fds);
    EXPECT_TRUE(dir.leftovers().empty());
  }
}

TEST_P(TransportConformance, HungConsumerIsKilledByTheWatchdog) {
  const Capabilities c = caps();
  test::ScratchDir dir;
  PairConfig cfg = config_for(GetParam(), Pattern::kStream, sizes_for(c).front(), dir.path());
  cfg.iterations = 100'000;
  // A thread cannot be stopped with SIGSTOP: an in_process consumer stops responding instead.
  cfg.fault = {c.in_process ? Fault::Kind::kHang : Fault::Kind::kStop, 30};
  cfg.watchdog = std::chrono::milliseconds(500);
  const std::size_t fds = test::open_fd_count();
  const auto start = Clock::now();
  try {
    (void)run_pair(cfg);
    FAIL() << "a stopped consumer was not reported";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind(GetParam() + ":", 0), 0u) << what;
    EXPECT_NE(what.find("no progress"), std::string::npos) << what;
  }
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(3000));
  EXPECT_EQ(test::open_fd_count(), fds);
  EXPECT_TRUE(dir.leftovers().empty());
}

TEST_P(TransportConformance, LeavesNoFdOrPathBehindAfterManyRuns) {
  const Capabilities c = caps();
  test::ScratchDir dir;
  const std::size_t fds = test::open_fd_count();
  for (int i = 0; i < 5; ++i) {
    (void)run_pair(config_for(GetParam(), Pattern::kRoundTrip, sizes_for(c).front(), dir.path()));
  }
  EXPECT_EQ(test::open_fd_count(), fds);
  EXPECT_TRUE(dir.leftovers().empty());
}

INSTANTIATE_TEST_SUITE_P(All, TransportConformance, ::testing::ValuesIn(all_ids()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

TEST(Harness, UnknownTransportIsRejectedListingKnownOnes) {
  PairConfig c;
  c.transport_id = "carrier_pigeon";
  c.cpus = default_cpu_pair();
  try {
    (void)run_pair(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("carrier_pigeon"), std::string::npos);
    EXPECT_NE(what.find("pipe"), std::string::npos);
  }
}

TEST(Harness, BothEndsOnOneCpuWork) {
  PairConfig c = config_for("pipe", Pattern::kRoundTrip, 64, default_tmp_root());
  c.cpus = {default_cpu_pair().producer, default_cpu_pair().producer};
  const PairResult r = run_pair(c);
  EXPECT_EQ(r.rtt.count(), 40u);
}

// The in_process consumer is a thread: process faults are refused, an early end is reported.
TEST(Harness, KillFaultIsRefusedForAThreadConsumer) {
  PairConfig c = config_for("threads", Pattern::kRoundTrip, 64, default_tmp_root());
  c.fault = {Fault::Kind::kKill, 5};
  try {
    (void)run_pair(c);
    FAIL() << "a kill fault on a thread was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("thread"), std::string::npos) << e.what();
  }
}

TEST(Harness, ThreadConsumerEndingEarlyIsReported) {
  for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
    SCOPED_TRACE(std::string(pattern_name(pattern)));
    PairConfig c = config_for("threads", pattern, 64, default_tmp_root());
    c.iterations = 100'000;
    c.fault = {Fault::Kind::kExit, 30};
    const auto start = Clock::now();
    try {
      (void)run_pair(c);
      FAIL() << "a consumer thread that ended early was not reported";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("threads:", 0), 0u) << what;
      EXPECT_NE(what.find("ended"), std::string::npos) << what;
    }
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(3000));
  }
}

// A busy-polling transport with both ends on one CPU must yield (or refuse): never stall the run.
TEST(Harness, BusyPollingTransportsFinishOnOneCpu) {
  const int cpu = default_cpu_pair().producer;
  for (const TransportInfo& info : all_transports()) {
    const Capabilities c = info.describe();
    if (!c.busy_polls) continue;
    for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
      SCOPED_TRACE(std::string(info.id) + " " + std::string(pattern_name(pattern)));
      PairConfig cfg = config_for(std::string(info.id), pattern, 1024, default_tmp_root());
      cfg.cpus = {cpu, cpu};
      cfg.watchdog = std::chrono::milliseconds(2000);
      const auto start = Clock::now();
      const PairResult r = run_pair(cfg);
      EXPECT_EQ(r.corrupt, 0u);
      EXPECT_EQ(r.received, pattern == Pattern::kRoundTrip ? 40u : 75u);
      EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2000));
    }
  }
}

// Every form a mechanism lacks is declared with its reason, and every form it offers is complete.
// (The fan-in and broadcast conformance suites run over the forms offered: fan_in_test.cpp,
// shm_broadcast_test.cpp.)
TEST(Registry, EveryFormIsOfferedOrItsAbsenceExplained) {
  for (const TransportInfo& info : all_transports()) {
    SCOPED_TRACE(std::string(info.id));
    EXPECT_NE(info.make, nullptr);
    EXPECT_NE(info.describe, nullptr);
    if (info.fan_in != nullptr) {
      EXPECT_TRUE(info.no_fan_in.empty()) << info.no_fan_in;
      EXPECT_FALSE(info.fan_in->design.empty());
      ASSERT_NE(info.fan_in->make, nullptr);
      ASSERT_NE(info.fan_in->describe, nullptr);
      const Capabilities caps = info.fan_in->describe(4);
      EXPECT_EQ(caps.payload, Payload::kBytes);  // fan-in carries framed byte requests
      EXPECT_FALSE(caps.limit_source.empty());
    } else {
      EXPECT_FALSE(info.no_fan_in.empty()) << "no fan-in form and no reason";
    }
    if (info.broadcast != nullptr) {
      EXPECT_TRUE(info.no_broadcast.empty()) << info.no_broadcast;
      EXPECT_FALSE(info.broadcast->design.empty());
      EXPECT_NE(info.broadcast->make, nullptr);
    } else {
      EXPECT_FALSE(info.no_broadcast.empty()) << "no broadcast form and no reason";
    }
  }
}

TEST(Harness, RegistryIdsAreUniqueAndDescribed) {
  std::vector<std::string> seen;
  for (const TransportInfo& info : all_transports()) {
    EXPECT_EQ(std::count(seen.begin(), seen.end(), info.id), 0) << info.id;
    seen.emplace_back(info.id);
    EXPECT_FALSE(info.description.empty());
    EXPECT_FALSE(info.describe().limit_source.empty());
  }
}

}  // namespace
}  // namespace ipcbench
