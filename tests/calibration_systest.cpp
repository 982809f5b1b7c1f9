// The harness against a transport of known cost (tests/calib_transport.hpp): a busy spin of D
// before one side's sends must show up as D in the round trip, in the one-way latency of that
// direction only, and in the CPU time per message; a stream loses nothing on a reliable transport,
// and on a lossy one reports exactly the drops the transport made. A system test: its timings want
// the two CPUs to themselves, so it runs alone.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/pair.hpp"
#include "tests/calib_transport.hpp"
#include "tests/test_util.hpp"
#include "transports/registry.hpp"

namespace ipcbench::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kWatchdog = 5000ms;             // no progress for this long: a stall fails fast
constexpr std::uint64_t kMinSpinNs = 200'000;  // D is at least 200 us (see calibrate())
constexpr std::uint64_t kRoundTrips = 1000;    // timed round trips per run
constexpr std::uint64_t kWarmup = 200;
constexpr int kBareRuns = 3;  // runs without a spin: the bare figures and their spread

double us(double ns) { return ns * 1e-3; }
// The suite's cpu_ns_per_msg: CPU of both sides over the timed part, per message (a round trip
// is two messages).
double cpu_ns_per_msg(const PairResult& r) {
  return r.messages == 0 ? 0 : r.cpu_seconds * 1e9 / static_cast<double>(r.messages);
}
double p50(const Histogram& h) { return static_cast<double>(h.percentile(50)); }

// A percentile is its bucket's midpoint, known within 1/128 (harness/histogram.hpp): a sample at
// or above D may be reported up to D/256 below it. Lower bounds allow that much, no more.
double at_least(double d) { return d - d / 128; }

// What kBareRuns runs without a spin measured (one value per run), and D chosen from them.
struct Calibrated {
  std::vector<double> rtt_p50, fwd_p50, rev_p50, cpu_per_msg;
  double d = 0;  // the spin for the runs that follow, ns
  static double lo(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
  static double hi(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
};

class Calibration : public ::testing::Test {
 protected:
  void SetUp() override {
    register_calib_transports();
    calib_config = {};
    const std::vector<int> cpus = allowed_cpus();
    if (cpus.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << cpus.size();
    cpus_ = {cpus[0], cpus[1]};
  }
  void TearDown() override { calib_config = {}; }

  PairConfig pair_config(const char* id, Pattern pattern) const {
    PairConfig c;
    c.transport_id = id;
    c.pattern = pattern;
    c.message_bytes = 64;
    c.cpus = cpus_;
    c.watchdog = kWatchdog;
    return c;
  }

  // kRoundTrips timed 64-byte round trips of calib on two CPUs, with `config`.
  PairResult round_trips(const CalibConfig& config) {
    calib_config = config;  // before fork(): the consumer inherits it
    PairConfig c = pair_config("calib", Pattern::kRoundTrip);
    c.iterations = kRoundTrips;
    c.warmup = kWarmup;
    PairResult r = run_pair(c);
    calib_config = {};
    return r;
  }

  // Runs the bare case kBareRuns times, then picks D = max(200 us, 5 x the slowest bare round
  // trip p50). On this 2-CPU KVM guest a spin of 20 us is smaller than what it adds besides itself
  // (the waiting side goes idle, and waking it costs 20-50 us more than a bare round trip, measured
  // at D = 20 us); at 200 us that extra is 5-15 us there and 70-80 us on a 2-CPU AMD guest, the
  // same at 2D (tests 1 and 3 bound the difference). With D five times the bare round trip, a
  // halved, doubled or misattributed delay lies outside every tolerance below.
  Calibrated calibrate() {
    Calibrated c;
    for (int i = 0; i < kBareRuns; ++i) {
      const PairResult r = round_trips(CalibConfig{});
      c.rtt_p50.push_back(p50(r.rtt));
      c.fwd_p50.push_back(p50(r.oneway_fwd));
      c.rev_p50.push_back(p50(r.oneway_rev));
      c.cpu_per_msg.push_back(cpu_ns_per_msg(r));
      std::printf(
          "bare run %d: RTT p50 %.2f us; one-way p50 producer->consumer %.2f us, "
          "consumer->producer %.2f us; CPU %.2f us/msg\n",
          i + 1, us(c.rtt_p50.back()), us(c.fwd_p50.back()), us(c.rev_p50.back()),
          us(c.cpu_per_msg.back()));
    }
    c.d = std::max(static_cast<double>(kMinSpinNs), 5 * Calibrated::hi(c.rtt_p50));
    std::printf("D = %.1f us\n", us(c.d));
    return c;
  }

  static CalibConfig consumer_spin(double d) {
    return {.consumer_send_spin_ns = static_cast<std::uint64_t>(d)};
  }
  static CalibConfig producer_spin(double d) {
    return {.producer_send_spin_ns = static_cast<std::uint64_t>(d)};
  }

  CpuPair cpus_;
};

}  // namespace

TEST(CalibRegistry, FindableByIdButNeverListed) {
  register_calib_transports();
  register_calib_transports();  // idempotent
  for (const char* id : {"calib", "calib_lossy"}) {
    const TransportInfo* info = find_transport(id);
    ASSERT_NE(info, nullptr) << id;
    EXPECT_EQ(info->id, id);
    for (const TransportInfo& listed : all_transports()) EXPECT_NE(listed.id, id);
    EXPECT_EQ(known_transport_ids().find(id), std::string::npos) << known_transport_ids();
  }
  EXPECT_FALSE(find_transport("calib")->describe().may_lose);
  EXPECT_TRUE(find_transport("calib_lossy")->describe().may_lose);
  const TransportInfo pipe = *find_transport("pipe");
  EXPECT_THROW(register_test_transport(pipe), std::invalid_argument);
}

// The transport alone, without the harness: of 10 sends with keep_one_in = 3, the 1st, 4th, 7th
// and 10th arrive, and calib_drops() counts the other 6. Tells a harness bug from a transport bug.
TEST(CalibLossy, KeepsOneSendInKeepOneInAndCountsTheDrops) {
  register_calib_transports();
  calib_config = {.keep_one_in = 3};
  TransportOptions options;
  options.message_bytes = 16;
  options.recv_timeout = 200ms;  // the receiver's end: nothing more within 200 ms
  TransportPtr t = find_transport("calib_lossy")->make(options);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // receives until a timeout; exits with the payloads seen, in order, as bits
    ::alarm(5);      // the watchdog: a receive that never times out fails the test
    int seen = 0, code = 0;
    try {
      t->attach(Role::kConsumer, ::getppid());
      std::array<std::byte, 16> buf{};
      while (t->recv(buf) == Received::kMessage) {
        code |= (static_cast<int>(buf[0]) == seen * 3 ? 1 : 0) << seen;
        ++seen;
      }
    } catch (...) {
      ::_exit(100);
    }
    ::_exit(seen == 4 ? code : 101);
  }
  const std::uint64_t drops_before = calib_drops();
  t->attach(Role::kProducer, child);
  for (int i = 0; i < 10; ++i) {
    std::array<std::byte, 16> msg{};
    msg[0] = static_cast<std::byte>(i);
    t->send(msg);
  }
  EXPECT_EQ(calib_drops() - drops_before, 6u);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  calib_config = {};
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0b1111) << "100: threw; 101: not 4 messages; else a bit per "
                                            "message that held 0, 3, 6, 9 in order";
}

// 1. A spin of D before every echo lies inside every round trip: the round trip p50 is at least D
// with a spin of D and at least 2D with a spin of 2D, and the second exceeds the first by D, within
// a tolerance. The difference, not the round trip against the bare one, is what is bounded: the
// spin lets the producer go idle, and waking it costs more than a bare round trip by an amount
// that depends on the machine, not on D once D is past the hypervisor's halt polling (measured
// 5-15 us at D = 200 us on the 2-CPU Intel KVM guest, 70-80 us on the 2-CPU AMD one); both runs
// pay it, so it cancels. The tolerance is the slowest bare run's p50 plus twice the bare runs'
// spread (max - min of their p50s, the noise between runs), and at least D/8 (the two spun runs'
// own noise); it stays under D/2, so a delay counted twice, halved or left out fails.
TEST_F(Calibration, RoundTripP50GrowsByTheSpin) {
  const Calibrated bare = calibrate();
  const double spread = Calibrated::hi(bare.rtt_p50) - Calibrated::lo(bare.rtt_p50);
  const double tol = std::max(Calibrated::hi(bare.rtt_p50) + 2 * spread, bare.d / 8);
  const PairResult once = round_trips(consumer_spin(bare.d));
  const PairResult twice = round_trips(consumer_spin(2 * bare.d));
  const double rtt1 = p50(once.rtt), rtt2 = p50(twice.rtt);
  std::printf(
      "consumer spin D: RTT p50 %.2f us; spin 2D: %.2f us; difference %.2f us (D %.2f us, "
      "tolerance %.2f us)\n",
      us(rtt1), us(rtt2), us(rtt2 - rtt1), us(bare.d), us(tol));
  ASSERT_LT(tol, bare.d / 2) << "the bare round trip is too noisy for this D";
  EXPECT_EQ(once.rtt.count(), kRoundTrips);
  EXPECT_EQ(twice.rtt.count(), kRoundTrips);
  EXPECT_GE(rtt1, at_least(bare.d));
  EXPECT_GE(rtt2, at_least(2 * bare.d));
  EXPECT_NEAR(rtt2 - rtt1, bare.d, tol);
}

// 2. The consumer stamps its echo right before send(), so a spin inside the consumer's send lies
// in consumer->producer (oneway_rev) only; the producer stamps before its send, so its spin lies in
// producer->consumer (oneway_fwd) only. The other direction stays below D (measured: about the
// bare one-way, 20-30 us, against D >= 200 us).
TEST_F(Calibration, OneWayCarriesTheSpinInTheSpinningSidesDirectionOnly) {
  const Calibrated bare = calibrate();
  const PairResult c = round_trips(consumer_spin(bare.d));
  const PairResult p = round_trips(producer_spin(bare.d));
  std::printf(
      "consumer spin D: one-way p50 producer->consumer %.2f us, consumer->producer %.2f us\n"
      "producer spin D: one-way p50 producer->consumer %.2f us, consumer->producer %.2f us\n",
      us(p50(c.oneway_fwd)), us(p50(c.oneway_rev)), us(p50(p.oneway_fwd)), us(p50(p.oneway_rev)));
  ASSERT_EQ(c.oneway_fwd.count(), kRoundTrips);
  ASSERT_EQ(c.oneway_rev.count(), kRoundTrips);
  EXPECT_GE(p50(c.oneway_rev), at_least(bare.d)) << "consumer spin, consumer->producer";
  EXPECT_LT(p50(c.oneway_fwd), bare.d) << "consumer spin, producer->consumer";
  EXPECT_GE(p50(p.oneway_fwd), at_least(bare.d)) << "producer spin, producer->consumer";
  EXPECT_LT(p50(p.oneway_rev), bare.d) << "producer spin, consumer->producer";
}

// 3. The spin is CPU time of the consumer: one D per round trip, two messages, so the CPU per
// message (both sides, timed part) is at least D/2 less 10% (CPU time and CLOCK_MONOTONIC are
// different clocks: time stolen by the hypervisor or spent elsewhere during a spin is not charged
// to it; measured within 1%), and a spin of 2D adds D/2 per message to a spin of D's, within D/4:
// half way to either wrong answer, a consumer left out (no growth) or its spin counted per message
// rather than per round trip (D), so a result within it can only be the right one. As in 1, the
// difference is bounded, not the figure against the bare one: the wake-ups from idle the spin
// causes cost CPU too (measured 5-10 us per message at D = 200 us on the Intel guest, about 20 us
// on the AMD one). Not tighter: the producer sleeps through the spin, and after a longer sleep it
// pays more to refill its caches when something else ran meanwhile (in CI the sanitizer builds run
// beside the system tests in the idle class): one CI run on the AMD guest measured a growth of
// D/2 + 59 us at D = 393 us, where the bare runs' noise (the slowest bare run's CPU per message
// plus twice their spread, the tolerance before) allowed 57.
TEST_F(Calibration, CpuPerMessageGrowsByHalfTheSpin) {
  const Calibrated bare = calibrate();
  const double bare_hi = Calibrated::hi(bare.cpu_per_msg);
  const double noise = bare_hi + 2 * (bare_hi - Calibrated::lo(bare.cpu_per_msg));
  const double tol = bare.d / 4;
  const PairResult once = round_trips(consumer_spin(bare.d));
  const PairResult twice = round_trips(consumer_spin(2 * bare.d));
  const double cpu1 = cpu_ns_per_msg(once), cpu2 = cpu_ns_per_msg(twice);
  std::printf(
      "consumer spin D: CPU %.2f us/msg; spin 2D: %.2f us/msg; difference %.2f us (D/2 %.2f us, "
      "tolerance %.2f us)\n",
      us(cpu1), us(cpu2), us(cpu2 - cpu1), us(bare.d / 2), us(tol));
  ASSERT_LT(noise, bare.d / 4) << "the bare CPU per message is too noisy for this D";
  EXPECT_EQ(once.messages, 2 * kRoundTrips);
  EXPECT_EQ(twice.messages, 2 * kRoundTrips);
  EXPECT_GE(cpu1, bare.d / 2 * 0.9);
  EXPECT_NEAR(cpu2 - cpu1, bare.d / 2, tol);
}

// 4. A stream over a reliable transport delivers every message of every timed batch, once, and
// the transport's sockets are closed afterwards.
TEST_F(Calibration, StreamOfReliableTransportReceivesEveryMessage) {
  constexpr std::uint64_t kBatches = 20, kBatch = 256;
  PairConfig c = pair_config("calib", Pattern::kStream);
  c.iterations = kBatches;
  c.batch = kBatch;
  const std::size_t fds_before = open_fd_count();
  const PairResult r = run_pair(c);
  EXPECT_EQ(open_fd_count(), fds_before);
  EXPECT_EQ(r.sent, kBatches * kBatch);
  EXPECT_EQ(r.received, kBatches * kBatch);
  EXPECT_EQ(r.bytes_received, kBatches * kBatch * 64);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(r.reordered, 0u);
}

// 5. A stream over a transport that drops 99 sends in 100 ends in bounded time, and reports as
// lost exactly what the transport dropped in the timed part (the producer's drops between
// before_timing and the end; only data crosses the lossy transport, the end of each batch and the
// acks go over a reliable control channel). Expected to fail until issue 18: the harness sends its
// end marks and acks over the lossy transport, which drops them, and the run stalls until the
// watchdog (5 s) ends it.
TEST_F(Calibration, LossyStreamEndsAndCountsExactlyTheDrops) {
  constexpr std::uint64_t kBatches = 5, kBatch = 1000;
  calib_config = {.keep_one_in = 100};
  PairConfig c = pair_config("calib_lossy", Pattern::kStream);
  c.iterations = kBatches;
  c.batch = kBatch;
  std::uint64_t drops_at_start = 0;
  bool timed = false;
  c.before_timing = [&] {
    drops_at_start = calib_data_drops();
    timed = true;
  };
  const auto start = std::chrono::steady_clock::now();
  PairResult r;
  std::string failure;
  try {
    r = run_pair(c);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  const auto wall = std::chrono::steady_clock::now() - start;
  const std::uint64_t drops = timed ? calib_data_drops() - drops_at_start : 0;
  calib_config = {};
  std::printf("lossy stream: %.2f s, %s, sent %llu, received %llu, lost %llu, dropped %llu\n",
              std::chrono::duration<double>(wall).count(),
              timed ? "timed part reached" : "stalled before the timed part",
              static_cast<unsigned long long>(r.sent), static_cast<unsigned long long>(r.received),
              static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(drops));
  EXPECT_LT(wall, 10s);
  ASSERT_EQ(failure, "");
  ASSERT_TRUE(timed);
  EXPECT_EQ(r.sent, kBatches * kBatch);
  EXPECT_EQ(r.lost, drops);
  EXPECT_EQ(r.received + r.lost, r.sent);
  EXPECT_EQ(r.corrupt, 0u);
}

}  // namespace ipcbench::test
