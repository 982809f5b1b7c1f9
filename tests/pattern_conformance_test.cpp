// Pattern conformance: FanIn, FanOut and Pairs run, through resolve() and the drivers, for every
// registered transport whose resolution supports them, with one peer and with two (tiny
// iteration counts); Load likewise through resolve_load() and run_load(), on the default CPUs and
// with all three threads on one CPU; every pattern a transport lacks has a reason. Generated from
// the registry: a new transport is covered as is.
#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "harness/fan_in.hpp"
#include "harness/fan_out.hpp"
#include "harness/load.hpp"
#include "harness/pairs.hpp"
#include "harness/resolve.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr std::uint64_t kIterations = 40;
constexpr std::size_t kBytes = 64;

using Case = std::tuple<std::string, Form, std::size_t>;  // id, form, peers

}  // namespace

// Names the form in test output ("fan_in"), not its bytes.
void PrintTo(Form form, std::ostream* os) { *os << form_name(form); }

namespace {

std::vector<Case> every_case() {
  std::vector<Case> cases;
  for (const TransportInfo& info : all_transports()) {
    for (Form form : {Form::kFanIn, Form::kFanOut, Form::kPairs}) {
      for (std::size_t peers : {1u, 2u}) cases.emplace_back(std::string(info.id), form, peers);
    }
  }
  return cases;
}

class PatternConformance : public ::testing::TestWithParam<Case> {};

TEST_P(PatternConformance, RunsWhenSupportedElseSaysWhy) {
  const auto& [id, form, peers] = GetParam();
  const std::size_t bytes = pattern_bytes(*find_transport(id), kBytes);
  const Resolved r = resolve(id, form, bytes, peers);
  // A spinner runs only where each of its processes has a CPU of its own.
  EXPECT_FALSE(r.runs() && r.caps.busy_polls && r.sharing.shared()) << id;
  if (!r.runs()) {
    EXPECT_FALSE(r.unsupported.empty());
    GTEST_SKIP() << id << " " << form_name(form) << ": " << r.unsupported;
  }
  EXPECT_FALSE(r.design.empty());
  test::ScratchDir dir;
  const std::size_t fds = test::open_fd_count();
  const auto watchdog = std::chrono::milliseconds(5000) * test::kSanitizerSlowdown;
  switch (form) {
    case Form::kFanIn: {
      FanInConfig c;
      c.transport_id = id;
      c.message_bytes = bytes;
      c.clients = peers;
      c.iterations = kIterations;
      c.warmup = 2;
      c.tmp_root = dir.path();
      c.watchdog = watchdog;
      const FanInResult res = run_fan_in(c);
      EXPECT_TRUE(res.failed_clients.empty()) << res.failures;
      EXPECT_EQ(res.corrupt, 0u);
      EXPECT_EQ(res.round_trips + res.lost, peers * kIterations);
      EXPECT_EQ(res.rtt.count(), res.round_trips);
      EXPECT_EQ(res.sharing.shared(), r.sharing.shared());
      break;
    }
    case Form::kFanOut: {
      FanOutConfig c;
      c.transport_id = id;
      c.message_bytes = bytes;
      c.consumers = peers;
      c.iterations = kIterations;
      c.tmp_root = dir.path();
      c.watchdog = watchdog;
      const FanOutResult res = run_fan_out(c);
      EXPECT_EQ(res.design, r.design);
      EXPECT_EQ(res.delivered, peers * kIterations);
      EXPECT_EQ(res.corrupt, 0u);
      EXPECT_EQ(res.lost, 0u);
      EXPECT_EQ(res.reordered, 0u);
      EXPECT_EQ(res.placement, r.placement);
      EXPECT_EQ(res.sharing.shared(), r.sharing.shared());
      EXPECT_EQ(res.round.count(), kIterations);
      EXPECT_EQ(res.delivery.count(), kIterations);
      break;
    }
    case Form::kPairs: {
      PairsConfig c;
      c.transport_id = id;
      c.message_bytes = bytes;
      c.pairs = peers;
      c.iterations = kIterations;
      c.tmp_root = dir.path();
      c.watchdog = watchdog;
      const PairsResult res = run_pairs(c);
      EXPECT_EQ(res.failed, 0u) << res.failures;
      EXPECT_EQ(res.corrupt, 0u);
      EXPECT_EQ(res.round_trips + res.lost, peers * kIterations);
      EXPECT_EQ(res.placement.size(), peers);
      EXPECT_EQ(res.sharing.shared(), r.sharing.shared());
      break;
    }
    case Form::kPair:
      break;
  }
  EXPECT_EQ(test::open_fd_count(), fds);
  EXPECT_TRUE(dir.leftovers().empty());
}

INSTANTIATE_TEST_SUITE_P(All, PatternConformance, ::testing::ValuesIn(every_case()),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           return std::get<0>(param.param) + "_" +
                                  std::string(form_name(std::get<1>(param.param))) + "_" +
                                  std::to_string(std::get<2>(param.param));
                         });

// Load: a short schedule far below any transport's capacity. Every message is sent, and each
// reply either came back checked or, for a transport that may lose, was counted lost; the
// transport objects leave no fd or name behind. Both directions run at once here, each on its
// own transport object, so this is also the check that no transport needs one object shared by
// a sending and a receiving thread.
using LoadCase = std::tuple<std::string, bool>;  // id, one CPU for all three threads

std::vector<LoadCase> every_load_case() {
  std::vector<LoadCase> cases;
  for (const TransportInfo& info : all_transports()) {
    for (bool one_cpu : {false, true}) cases.emplace_back(std::string(info.id), one_cpu);
  }
  return cases;
}

class LoadConformance : public ::testing::TestWithParam<LoadCase> {};

TEST_P(LoadConformance, RunsWhenSupportedElseSaysWhy) {
  const auto& [id, one_cpu] = GetParam();
  const CpuPair cpus = one_cpu ? CpuPair{default_cpu_pair().producer, default_cpu_pair().producer}
                               : default_cpu_pair();
  const std::size_t bytes = pattern_bytes(*find_transport(id), kBytes);
  const Resolved r = resolve_load(id, bytes, load_placement(cpus));
  EXPECT_FALSE(r.runs() && r.caps.busy_polls && r.sharing.shared()) << id;
  if (!r.runs()) {
    EXPECT_FALSE(r.unsupported.empty());
    EXPECT_THROW(
        {
          LoadConfig c;
          c.transport_id = id;
          c.message_bytes = bytes;
          c.cpus = cpus;
          (void)run_load(c);
        },
        Unsupported);
    GTEST_SKIP() << id << " Load: " << r.unsupported;
  }
  test::ScratchDir dir;
  const std::size_t fds = test::open_fd_count();
  LoadConfig c;
  c.transport_id = id;
  c.message_bytes = bytes;
  c.rate = 2000;
  c.messages = 200;
  c.warmup = 5;
  c.cpus = cpus;
  c.tmp_root = dir.path();
  c.watchdog = std::chrono::milliseconds(5000) * test::kSanitizerSlowdown;
  const LoadResult res = run_load(c);
  EXPECT_EQ(res.sent, 200u);
  EXPECT_EQ(res.corrupt, 0u);
  EXPECT_EQ(res.received + res.lost, res.sent);
  if (!r.caps.may_lose) {
    EXPECT_EQ(res.lost, 0u);
    EXPECT_EQ(res.reordered, 0u);
  }
  EXPECT_EQ(res.corrected.count(), res.received);
  EXPECT_EQ(res.uncorrected.count(), res.received);
  EXPECT_EQ(res.placement, r.placement);
  EXPECT_EQ(res.sharing.shared(), r.sharing.shared());
  EXPECT_EQ(test::open_fd_count(), fds);
  EXPECT_TRUE(dir.leftovers().empty());
}

INSTANTIATE_TEST_SUITE_P(All, LoadConformance, ::testing::ValuesIn(every_load_case()),
                         [](const ::testing::TestParamInfo<LoadCase>& param) {
                           return std::get<0>(param.param) +
                                  (std::get<1>(param.param) ? "_one_cpu" : "_default_cpus");
                         });

}  // namespace
}  // namespace ipcbench
