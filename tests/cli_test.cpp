// The ipcbench binary itself: bad input is refused with a message naming the value; good runs work.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
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

// How a command ended: exited with a code, killed by a signal, or still running at the deadline
// (then killed). stdout and stderr together in `output`.
struct Ended {
  bool timed_out = false;
  int signal = 0;  // the signal that ended it, 0 when it exited
  int code = -1;   // the exit code when it exited
  std::string output;
};

// Runs `cmd` through /bin/sh -c "exec <cmd>" (so the shell is replaced and a signal that kills
// the binary is seen here as that signal), reading its output until it ends or `limit` passes.
// Bounded: a command still running at the deadline is killed with SIGKILL and reaped.
Ended run_bounded(const std::string& cmd, std::chrono::seconds limit) {
  Ended e;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return e;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return e;
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    const std::string line = "exec " + cmd;
    ::execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      e.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline is checked at the top
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // every writer closed: the command (and its children) ended
    e.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  if (e.timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status) && !e.timed_out) e.signal = WTERMSIG(status);
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  return e;
}

// Refusing bad input takes no measurement: well under a second; 20 s means it hung.
constexpr std::chrono::seconds kRefusalLimit{20};

TEST_P(CliRejects, WithAMessageNamingTheValueAndNonZeroExit) {
  const BadInput& bad = GetParam();
  const Ended e = run_bounded(std::string(IPCBENCH_BINARY) + " " + bad.args, kRefusalLimit);
  ASSERT_FALSE(e.timed_out) << "hung: still running after " << kRefusalLimit.count()
                            << " s, killed; output: " << e.output;
  ASSERT_EQ(e.signal, 0) << "crashed: killed by signal " << e.signal << " ("
                         << ::strsignal(e.signal) << "); output: " << e.output;
  EXPECT_NE(e.code, 0) << e.output;
  EXPECT_NE(e.output.find(bad.must_mention), std::string::npos)
      << "the message does not name '" << bad.must_mention << "': " << e.output;
  EXPECT_EQ(e.output.find("Benchmark "), std::string::npos) << "ran benchmarks: " << e.output;
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
    BadInput{"--counters=some", "some"},
    BadInput{"--counters=all --counters=all", "more than once"},
    BadInput{"--rates=0", "rate of 0"},
    BadInput{"--rates=-1000", "'-1000'"},
    BadInput{"--rates=fast", "'fast'"},
    BadInput{"--rates=1000,fast", "'fast'"},
    BadInput{"--rates=1.5", "'1.5'"},
    BadInput{"--rates=1000000000", "'1000000000'"},
    BadInput{"--rates=99999999999999999999999", "99999999999999999999999"},
    BadInput{"--rates=1000,1000", "given twice"},
    BadInput{"--rates=", "--rates"},
    BadInput{"--rates=10 --rates=20", "more than once"},
    BadInput{"--peer=localhost:7000", "'localhost' is not an IPv4 address"},
    BadInput{"--peer=127.0.0.1", "--peer=127.0.0.1"},
    BadInput{"--peer=127.0.0.1:0", "port 0 is out of range"},
    BadInput{"--peer=127.0.0.1:70000", "port 70000 is out of range"},
    BadInput{"--peer=127.0.0.1:http", "'http' is not a port"},
    BadInput{"--peer=999.1.1.1:7000", "'999.1.1.1'"},
    BadInput{"--peer=", "--peer"},
    BadInput{"--peer=127.0.0.1:1", "127.0.0.1:1"},  // nobody listens: refused at once
    BadInput{"--peer=127.0.0.1:1 --placement=all", "--placement"},
    BadInput{"--serve=127.0.0.1:65536", "port 65536 is out of range"},
    BadInput{"--serve=nowhere", "--serve=nowhere"},
    BadInput{"--serve=203.0.113.7:7000", "203.0.113.7:7000"},  // not this machine's: bind fails
    BadInput{"--serve=127.0.0.1:0 --peer=127.0.0.1:1", "--serve and --peer"},
    BadInput{"--no_such_flag", "--no_such_flag"},
    BadInput{"stray_argument", "stray_argument"},
    BadInput{"--benchmark_repetitions=many", "--benchmark_repetitions=many"},
    BadInput{"--benchmark_min_time=-", "--benchmark_min_time=-"}};

INSTANTIATE_TEST_SUITE_P(BadFlags, CliRejects, ::testing::ValuesIn(kBadInputs),
                         [](const ::testing::TestParamInfo<BadInput>& param) {
                           return "case" + std::to_string(param.index);
                         });

// The control for CliRejects: the same flags with good values are accepted (exit 0), so a
// refusal above is about the value, not the flag. --list parses every flag, then lists and exits.
TEST(Cli, GoodValuesOfTheSameFlagsAreAccepted) {
  std::vector<std::string> good = {
      "--transports=pipe",  "--transports=pipe,fifo", "--sizes=64",
      "--sizes=64,4K,128K", "--watchdog=5",           "--quick",
      "--patterns=off",     "--placement=same_cpu",   "--cpus=0,0",
      "--rates=1000,50000", "--peer=127.0.0.1:7000",  "--serve=127.0.0.1:0"};
  if (::sysconf(_SC_NPROCESSORS_ONLN) >= 2) good.emplace_back("--cpus=0,1");
  for (const std::string& args : good) {
    const Ended e = run_bounded(std::string(IPCBENCH_BINARY) + " --list " + args, kRefusalLimit);
    ASSERT_FALSE(e.timed_out) << args << ": hung, killed after " << kRefusalLimit.count() << " s";
    ASSERT_EQ(e.signal, 0) << args << ": killed by signal " << e.signal;
    EXPECT_EQ(e.code, 0) << args << ": " << e.output;
  }
}

// --rates names the Load cases exactly (none for a transport Load cannot run); without it the
// sweep comes from a calibration stream run at registration: --quick's three rates, rising.
TEST(Cli, LoadCasesAreTheRatesGivenOrASweepOfThree) {
  const std::string base = std::string(IPCBENCH_BINARY) +
                           " --patterns=off --benchmark_list_tests=true --benchmark_filter=^Load";
  std::string out;
  ASSERT_EQ(test::run_command(base + " --transports=pipe,sysv_sem --rates=1000,25000", out), 0)
      << out;
  EXPECT_NE(out.find("Load/pipe/rate:1000/bytes:64"), std::string::npos) << out;
  EXPECT_NE(out.find("Load/pipe/rate:25000/bytes:64"), std::string::npos) << out;
  EXPECT_EQ(out.find("Load/sysv_sem/rate:"), std::string::npos) << out;
  ASSERT_EQ(test::run_command(base + " --transports=pipe --quick", out), 0) << out;
  std::vector<long> rates;
  for (std::size_t at = out.find("Load/pipe/rate:"); at != std::string::npos;
       at = out.find("Load/pipe/rate:", at + 1)) {
    rates.push_back(std::stol(out.substr(at + 15)));
  }
  ASSERT_EQ(rates.size(), 3u) << out;
  EXPECT_LT(rates[0], rates[1]);
  EXPECT_LT(rates[1], rates[2]);
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
  // The console wraps long lines at 160 columns, continuing them indented by six spaces.
  for (std::size_t at; (at = out.find("\n      ")) != std::string::npos;) out.replace(at, 7, " ");
  const TransportInfo& info = *find_transport("threads");
  EXPECT_NE(out.find("threads: FanIn: " + form_support(info, Form::kFanIn).text), std::string::npos)
      << out;
  EXPECT_NE(out.find("threads: FanOut: " + form_support(info, Form::kFanOut).text),
            std::string::npos)
      << out;
}

// A case refused at several sizes for one reason is one line naming the sizes, in the console's
// list after the table and on stderr alike; the JSON context keeps one entry per case.
TEST(Cli, UnsupportedCasesAreOneLinePerTransportAndReasonNamingTheSizes) {
  const std::size_t largest = find_transport("sysv_mq")->describe().max_message_bytes;
  const std::string a = std::to_string(2 * largest), b = std::to_string(8 * largest);
  const std::string sizes = " --sizes=64," + a + "," + b;
  for (const char* format : {"console", "json"}) {
    std::string out;
    const std::string cmd = std::string(IPCBENCH_BINARY) +
                            " --quick --transports=sysv_mq --benchmark_filter=Limit/syscall" +
                            sizes + " --benchmark_format=" + format + " 2>&1";
    ASSERT_EQ(test::run_command(cmd, out), 0) << out;
    // The list: after the console's heading, or the lines ipcbench writes to stderr.
    const bool console = std::string(format) == "console";
    const std::string heading = console ? "\nUnsupported (not run" : "";
    const std::size_t from = console ? out.find(heading) : 0;
    ASSERT_NE(from, std::string::npos) << out;
    const std::string list = out.substr(from);
    const std::string prefix = console ? "\n  " : "ipcbench: unsupported (not run): ";
    const std::string grouped = "sysv_mq: RoundTrip/bytes:" + a + "," + b + ", Stream/bytes:" + a +
                                "," + b + ": larger than its largest message";
    EXPECT_NE(list.find(prefix + grouped), std::string::npos) << format << ": " << list;
    EXPECT_EQ(list.find("Stream/bytes:" + a + ": "), std::string::npos) << format << ": " << list;
    if (!console) {
      EXPECT_NE(out.find("\"unsupported/Stream/sysv_mq/bytes:" + a + "\""), std::string::npos)
          << out;
      EXPECT_NE(out.find("\"unsupported/Stream/sysv_mq/bytes:" + b + "\""), std::string::npos)
          << out;
    }
  }
}

// The console a person reads: one row per case (the repetitions' median), no line wider than
// 160 columns, no context line per unsupported case; --counters=all brings back every counter.
TEST(Cli, ConsoleHasOneRowPerCaseWithin160Columns) {
  const std::string base = std::string(IPCBENCH_BINARY) +
                           " --quick --transports=pipe,sysv_mq --sizes=64,1M --patterns=off"
                           " --benchmark_repetitions=3 --benchmark_filter='^(RoundTrip|Stream)/'";
  std::string out;
  ASSERT_EQ(test::run_command(base + " 2>/dev/null", out), 0) << out;
  std::istringstream lines(out);
  std::string line;
  std::map<std::string, int> rows;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), 160u) << line;
    if (line.rfind("Unsupported (not run", 0) != 0) {  // the list's heading names the key
      EXPECT_EQ(line.find("unsupported/"), std::string::npos) << line;
    }
    const std::string first = line.substr(0, line.find(' '));
    if (first.rfind("RoundTrip/", 0) == 0 || first.rfind("Stream/", 0) == 0) ++rows[first];
  }
  EXPECT_NE(out.find("RTT p50 us"), std::string::npos) << out;
  EXPECT_EQ(out.find("cpu_ns_per_msg"), std::string::npos) << out;
  const std::map<std::string, int> want{
      {"RoundTrip/pipe/bytes:64", 1},    {"RoundTrip/pipe/bytes:1048576", 1},
      {"RoundTrip/sysv_mq/bytes:64", 1}, {"Stream/pipe/bytes:64", 1},
      {"Stream/pipe/bytes:1048576", 1},  {"Stream/sysv_mq/bytes:64", 1}};
  EXPECT_EQ(rows, want) << out;
  ASSERT_EQ(test::run_command(base + " --counters=all 2>/dev/null", out), 0) << out;
  EXPECT_NE(out.find("cpu_ns_per_msg"), std::string::npos) << out;
  EXPECT_NE(out.find("RoundTrip/pipe/bytes:64/iterations:"), std::string::npos) << out;
}

// The progress line: on a terminal (script(1) gives the run one) stderr shows the repetition out
// of the total and the time left; redirected, stderr carries no progress at all.
TEST(Cli, ProgressLineOnlyOnATerminal) {
  const std::string run = std::string(IPCBENCH_BINARY) +
                          " --quick --transports=pipe --sizes=64 --patterns=off"
                          " --benchmark_repetitions=2";
  std::string out;
  ASSERT_EQ(test::run_command(run + " 2>&1 >/dev/null", out), 0) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_EQ(out.find(" left"), std::string::npos) << out;
  if (test::run_command("command -v script >/dev/null", out) != 0) {
    GTEST_SKIP() << "script(1) (util-linux) is not installed: no terminal to test with";
  }
  ASSERT_EQ(test::run_command("script -qec \"" + run + " >/dev/null\" /dev/null", out), 0) << out;
  // Limit rows first, then RoundTrip and Stream, 2 repetitions each: the total is known.
  EXPECT_NE(out.find("[2/"), std::string::npos) << out;
  EXPECT_NE(out.find(" left"), std::string::npos) << out;
  EXPECT_NE(out.find("RoundTrip/pipe/bytes:64"), std::string::npos) << out;
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
// own CPUs by its own two processes between its burst samples, and the row says which floor it
// used. On two CPUs a small RoundTrip row carries its own burst timing and the floor measured
// beside it, both K round trips per pair of clock reads, and their ratio; on one CPU none of them
// (no cache line travels there) and the bounce is a Limit/yield_pingpong.
TEST(Cli, RoundTripRowsCarryTheFloorMeasuredNextToThem) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
  std::string out;
  const std::string cmd =
      std::string(IPCBENCH_BINARY) +
      " --quick --transports=pipe --sizes=64 --patterns=off --cpus=" + std::to_string(cpus[0]) +
      "," + std::to_string(cpus[1]) + " --benchmark_filter=RoundTrip --benchmark_format=json";
  ASSERT_EQ(test::run_command(cmd, out), 0) << out;
  const std::size_t row = out.find("\"name\": \"RoundTrip/pipe/bytes:64");
  ASSERT_NE(row, std::string::npos) << out;
  const double burst = json_number(out, row, "rtt_burst_ns");
  const double floor = json_number(out, row, "cacheline_ns");
  const double ratio = json_number(out, row, "rtt_x_cacheline");
  EXPECT_GT(floor, 0) << out;  // measured although the Limit rows were filtered out
  EXPECT_GT(burst, 0);
  EXPECT_EQ(json_number(out, row, "floor_bounces_per_sample"), 64);
  EXPECT_EQ(json_number(out, row, "floor_between_bursts"), 1);
  EXPECT_EQ(json_number(out, row, "burst_round_trips_per_sample"), 64);
  EXPECT_NEAR(ratio, burst / floor, 1e-6 * ratio) << out;
  // And the two-line floor (one line written by each side), with its own ratio.
  const double two = json_number(out, row, "two_line_ns");
  EXPECT_GT(two, 0) << out;
  EXPECT_NEAR(json_number(out, row, "rtt_x_two_line"), burst / two, 1e-6 * burst / two) << out;
  EXPECT_EQ(out.find("\"name\": \"Limit/"), std::string::npos);

  std::string one;
  const std::string same =
      std::string(IPCBENCH_BINARY) +
      " --quick --transports=pipe --sizes=64 --patterns=off --cpus=" + std::to_string(cpus[0]) +
      "," + std::to_string(cpus[0]) +
      " --benchmark_filter='RoundTrip|Limit/' --benchmark_format=json";
  ASSERT_EQ(test::run_command(same, one), 0) << one;
  EXPECT_EQ(one.find("\"cacheline_ns\":"), std::string::npos);  // a counter; the context names it
  EXPECT_EQ(one.find("\"rtt_x_cacheline\":"), std::string::npos);
  EXPECT_EQ(one.find("\"two_line_ns\":"), std::string::npos);
  EXPECT_EQ(one.find("\"name\": \"Limit/two_line_rtt"), std::string::npos);
  EXPECT_EQ(one.find("\"name\": \"Limit/cacheline_rtt"), std::string::npos);
  EXPECT_NE(one.find("\"name\": \"Limit/yield_pingpong"), std::string::npos);
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
