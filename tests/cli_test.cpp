// The ipcbench binary itself: bad input is refused with a message naming the value; good runs work.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness/resolve.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

struct BadInput {
  std::string args;
  std::string must_mention;  // the bad value, named in the message
};

class CliRejects : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliRejects, WithAMessageNamingTheValueAndNonZeroExit) {
  const BadInput& bad = GetParam();
  std::string out;
  const int code = test::run_command(std::string(IPCBENCH_BINARY) + " " + bad.args, out);
  EXPECT_NE(code, 0) << out;
  EXPECT_LT(code, 128) << "crashed: " << out;  // an exit, not a signal
  EXPECT_NE(out.find(bad.must_mention), std::string::npos) << "output: " << out;
  EXPECT_EQ(out.find("Benchmark "), std::string::npos) << "ran benchmarks: " << out;
}

const std::vector<BadInput> kBadInputs = {
    BadInput{"--transports=carrier_pigeon", "carrier_pigeon"},
    BadInput{"--transports=pipe,carrier_pigeon", "known: "},
    BadInput{"--transports=", "--transports"},
    BadInput{"--transports=pipe,pipe", "given twice"},
    BadInput{"--transports=pipe --transports=fifo", "more than once"},
    BadInput{"--sizes=0", "0 bytes"},
    BadInput{"--sizes=-64", "-64"},
    BadInput{"--sizes=abc", "abc"},
    BadInput{"--sizes=", "--sizes"},
    BadInput{"--sizes=64,,128", "--sizes=64,,128"},
    BadInput{"--sizes=1G", "1G"},
    BadInput{"--sizes=99999999999999999999999", "99999999999999999999999"},
    BadInput{"--sizes=128M", "128M"},
    BadInput{"--sizes=64,64", "given twice"},
    BadInput{"--cpus=4096,0", "4096"},
    BadInput{"--cpus=0,4096", "4096"},
    BadInput{"--cpus=a,b", "'a'"},
    BadInput{"--cpus=0", "--cpus=0"},
    BadInput{"--cpus=-1,0", "'-1'"},
    BadInput{"--cpus=0,1,1", "--cpus=0,1,1"},
    BadInput{"--cpus=", "--cpus"},
    BadInput{"--watchdog=0", "--watchdog=0"},
    BadInput{"--watchdog=-5", "--watchdog=-5"},
    BadInput{"--watchdog=soon", "soon"},
    BadInput{"--watchdog=1e9", "1e9"},
    BadInput{"--quick=yes", "--quick=yes"},
    BadInput{"--list=all", "--list=all"},
    BadInput{"--placement=nearby", "nearby"},
    BadInput{"--placement=", "--placement"},
    BadInput{"--placement=same_cpu,same_cpu", "given twice"},
    BadInput{"--placement=different_socket", "different_socket"},
    BadInput{"--placement=all --cpus=0,0", "--placement"},
    BadInput{"--patterns=maybe", "maybe"},
    BadInput{"--no_such_flag", "--no_such_flag"},
    BadInput{"stray_argument", "stray_argument"},
    BadInput{"--benchmark_repetitions=many", "--benchmark_repetitions=many"},
    BadInput{"--benchmark_min_time=-", "--benchmark_min_time=-"}};

INSTANTIATE_TEST_SUITE_P(BadFlags, CliRejects, ::testing::ValuesIn(kBadInputs),
                         [](const ::testing::TestParamInfo<BadInput>& param) {
                           return "case" + std::to_string(param.index);
                         });

TEST(Cli, BadInputCasesAreCounted) {
  std::printf(
      "bad-input cases tried on ipcbench's flags: %zu (each must exit non-zero naming "
      "the value)\n",
      kBadInputs.size());
  EXPECT_GE(kBadInputs.size(), 30u);
}

TEST(Cli, ListShowsEveryRegisteredTransportWithItsLimit) {
  std::string out;
  ASSERT_EQ(test::run_command(std::string(IPCBENCH_BINARY) + " --list", out), 0) << out;
  for (const TransportInfo& info : all_transports()) {
    EXPECT_NE(out.find(std::string(info.id) + " "), std::string::npos) << info.id;
  }
  EXPECT_NE(out.find("limit:"), std::string::npos);
  EXPECT_NE(out.find("checks:"), std::string::npos);
}

// --list says, for every transport, the patterns it runs and, for each it lacks, resolve()'s
// reason.
TEST(Cli, ListShowsEachTransportsPatternsAndWhyNotTheOthers) {
  std::string out;
  ASSERT_EQ(test::run_command(std::string(IPCBENCH_BINARY) + " --list", out), 0) << out;
  for (const TransportInfo& info : all_transports()) {
    const std::size_t at = out.find("\n" + std::string(info.id) + " ");
    ASSERT_NE(at, std::string::npos) << info.id;
    std::size_t end = at + 1;  // the transport's lines: its own and the indented ones after it
    while ((end = out.find('\n', end)) != std::string::npos && end + 1 < out.size() &&
           out[end + 1] == ' ') {
      ++end;
    }
    const std::string block = out.substr(at, end == std::string::npos ? end : end - at);
    EXPECT_NE(block.find("patterns: RoundTrip, Stream"), std::string::npos) << info.id;
    for (Form form : kAllForms) {
      const FormSupport s = form_support(info, form);
      if (!s.supported) {
        EXPECT_NE(block.find(s.text), std::string::npos) << info.id;
      }
    }
  }
}

// FanIn of a transport without a fan-in form is listed on the console like any unsupported case.
TEST(Cli, UnsupportedPatternsAppearOnTheConsole) {
  std::string out;
  const std::string cmd =
      std::string(IPCBENCH_BINARY) +
      " --quick --transports=threads --sizes=64 --benchmark_filter=Limit/syscall";
  ASSERT_EQ(test::run_command(cmd, out), 0) << out;
  const TransportInfo& info = *find_transport("threads");
  EXPECT_NE(out.find("FanIn/threads: " + form_support(info, Form::kFanIn).text), std::string::npos)
      << out;
  EXPECT_NE(out.find("FanOut/threads: " + form_support(info, Form::kFanOut).text),
            std::string::npos)
      << out;
}

TEST(Cli, QuickRunWritesJsonWithPercentileCounters) {
  std::string out;
  const std::string cmd = std::string(IPCBENCH_BINARY) +
                          " --quick --transports=pipe --sizes=64,4K --benchmark_format=json";
  ASSERT_EQ(test::run_command(cmd, out), 0) << out;
  for (const char* want :
       {"\"RoundTrip/pipe/bytes:64", "\"RoundTrip/pipe/bytes:4096", "\"Stream/pipe/bytes:4096",
        "\"p50_ns\"", "\"p999_ns\"", "\"oneway_p99_ns\"", "\"bytes_per_second\"",
        "\"cpu_ns_per_msg\"", "\"ctx_switches_per_msg\"", "\"ipcbench_build_type\"",
        "\"ipcbench_git_revision\"", "\"clock_source\"", "\"limit_pipe_default_bytes\""}) {
    EXPECT_NE(out.find(want), std::string::npos) << want;
  }
  EXPECT_EQ(out.find("\"error_occurred\": true"), std::string::npos) << out;
}

// The number after "key": in `text` from `from` on (NaN when absent).
double json_number(const std::string& text, std::size_t from, const std::string& key) {
  const std::size_t at = text.find("\"" + key + "\": ", from);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(text.c_str() + at + key.size() + 4, nullptr);
}

// A round trip's distance to the hardware is taken against the cache-line bounce measured on its
// own CPUs right after it, and the row says which floor it used.
TEST(Cli, RoundTripRowsCarryTheFloorMeasuredNextToThem) {
  std::string out;
  const std::string cmd = std::string(IPCBENCH_BINARY) +
                          " --quick --transports=pipe --sizes=64 --patterns=off"
                          " --benchmark_filter=RoundTrip --benchmark_format=json";
  ASSERT_EQ(test::run_command(cmd, out), 0) << out;
  const std::size_t row = out.find("\"name\": \"RoundTrip/pipe/bytes:64");
  ASSERT_NE(row, std::string::npos) << out;
  const double p50 = json_number(out, row, "p50_ns");
  const double floor = json_number(out, row, "cacheline_p50_ns");
  const double ratio = json_number(out, row, "rtt_p50_x_cacheline");
  EXPECT_GT(floor, 0) << out;  // measured although the Limit rows were filtered out
  EXPECT_GT(p50, 0);
  EXPECT_NEAR(ratio, p50 / floor, 1e-6 * ratio) << out;
  EXPECT_EQ(out.find("\"name\": \"Limit/"), std::string::npos);
}

TEST(Cli, UnsupportedSizeIsListedNotRunAndNotAnError) {
  std::string out;
  const std::string cmd = std::string(IPCBENCH_BINARY) +
                          " --quick --transports=pipe --sizes=8,64 --benchmark_format=json";
  ASSERT_EQ(test::run_command(cmd, out), 0) << out;
  EXPECT_NE(out.find("\"unsupported/RoundTrip/pipe/bytes:8\""), std::string::npos) << out;
  EXPECT_EQ(out.find("\"name\": \"RoundTrip/pipe/bytes:8"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"error_occurred\": true"), std::string::npos) << out;
}

}  // namespace
}  // namespace ipcbench
