// Pattern conformance: FanIn, FanOut and Pairs run, through resolve() and the drivers, for every
// registered transport whose resolution supports them, with one peer and with two (tiny
// iteration counts); every pattern a transport lacks has a reason. Generated from the registry: a
// new transport is covered as is.
#include <gtest/gtest.h>

#include <chrono>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "harness/fan_in.hpp"
#include "harness/fan_out.hpp"
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
  const auto watchdog = std::chrono::milliseconds(5000);
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

}  // namespace
}  // namespace ipcbench
