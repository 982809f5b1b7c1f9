// Limits and refusals: each ends in a clear error naming the limit, never a crash or a hang. And
// the machine's own limits: the cache-line floor and the Limit benchmarks' bounce.
#include "bench/limits.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/pair.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

PairConfig small_run(const std::string& id, std::size_t bytes) {
  PairConfig c;
  c.transport_id = id;
  c.message_bytes = bytes;
  c.iterations = 20;
  c.warmup = 2;
  c.cpus = default_cpu_pair();
  c.watchdog = std::chrono::milliseconds(5000);
  return c;
}

// Runs `id` at `bytes`; returns "" if it failed with a message containing every one of `words`.
std::string expect_refusal(const std::string& id, std::size_t bytes,
                           const std::vector<std::string>& words) {
  try {
    (void)run_pair(small_run(id, bytes));
    return id + " ran despite the limit";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    for (const std::string& w : words) {
      if (what.find(w) == std::string::npos) return id + ": message lacks '" + w + "': " + what;
    }
    std::fprintf(stderr, "refused as expected: %s\n", what.c_str());
    return "";
  }
}

bool write_proc(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value << "\n";
  return static_cast<bool>(out.flush());
}

#define IPCBENCH_EXPECT_NAMESPACED(flags, ...)                                              \
  do {                                                                                      \
    const test::NamespaceOutcome outcome = test::in_private_namespaces(flags, __VA_ARGS__); \
    if (outcome.skipped) GTEST_SKIP() << outcome.problems;                                  \
    if (outcome.problems.rfind("SKIP: ", 0) == 0) GTEST_SKIP() << outcome.problems;         \
    EXPECT_EQ(outcome.problems, "");                                                        \
  } while (0)

TEST(Limits, ZeroSigpendingIsAnErrorNamingTheLimit) {
  IPCBENCH_EXPECT_NAMESPACED(0, [] {
    const rlimit zero{0, 0};
    if (::setrlimit(RLIMIT_SIGPENDING, &zero) != 0) return std::string("setrlimit failed");
    return expect_refusal("rt_signal", kWordBytes, {"rt_signal", "RLIMIT_SIGPENDING"});
  });
}

TEST(Limits, SysvSegmentAboveShmmaxIsRefusedNamingShmmax) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWIPC, [] {
    if (!write_proc("/proc/sys/kernel/shmmax", "65536"))
      return std::string("SKIP: cannot set shmmax in a private IPC namespace");
    return expect_refusal("sysv_shm", 1 << 20, {"sysv_shm", "shmmax"});
  });
}

TEST(Limits, PosixQueueMessageAboveMsgsizeMaxIsRefusedNamingIt) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWIPC, [] {
    if (!write_proc("/proc/sys/fs/mqueue/msgsize_max", "1024")) {
      return std::string("SKIP: cannot set msgsize_max in a private IPC namespace");
    }
    return expect_refusal("posix_mq", 4096, {"posix_mq", "msgsize_max"});
  });
}

TEST(Limits, SysvQueueMessageAboveMsgmaxIsRefusedNamingIt) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWIPC, [] {
    if (!write_proc("/proc/sys/kernel/msgmax", "1024")) {
      return std::string("SKIP: cannot set msgmax in a private IPC namespace");
    }
    return expect_refusal("sysv_mq", 4096, {"sysv_mq", "msgmax"});
  });
}

// A new network namespace has its loopback down: 127.0.0.1 cannot be bound.
TEST(Limits, AnUnbindablePortIsAnErrorNamingTheAddress) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWNET, [] {
    std::string problems;
    for (const char* id : {"tcp", "udp"}) problems += expect_refusal(id, 64, {id, "127.0.0.1"});
    return problems;
  });
}

// /dev/shm read-only (a private mount namespace mounts a read-only tmpfs over it): the shared-
// memory transports fail naming /dev/shm and their object, instead of crashing or hanging.
TEST(Limits, AnUnavailableDevShmIsAnErrorNamingIt) {
  IPCBENCH_EXPECT_NAMESPACED(CLONE_NEWNS, [] {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("none", "/dev/shm", "tmpfs", MS_RDONLY, nullptr) != 0) {
      return std::string("SKIP: cannot mount a read-only /dev/shm here");
    }
    std::string problems;
    for (const char* id : {"shm_spin", "shm_futex", "shm_sem", "shm_condvar", "boost_mq"}) {
      problems += expect_refusal(id, 64, {id, "/dev/shm"});
    }
    return problems;
  });
}

// The cache-line floor: a sample is K bounces between one pair of clock reads, so the clock's own
// cost is spread over K bounces instead of added to each.
TEST(SampleBounces, ReadsTheClockTwicePerSampleAroundKBouncesAndDividesByK) {
  constexpr std::uint64_t kK = 64;
  constexpr std::uint64_t kSamples = 5;
  std::uint64_t bounces = 0;
  std::vector<std::uint64_t> bounces_at_read;  // how many bounces were done at each clock read
  std::vector<std::uint64_t> times;            // what each clock read returned
  const auto clock = [&] {
    bounces_at_read.push_back(bounces);
    // Sample s takes 640 + 100 * s ns: (640 + 100 s) / 64 = 10 + 1.5625 s ns per bounce.
    const std::uint64_t s = times.size() / 2;
    const std::uint64_t t = times.size() % 2 == 0 ? 10'000 * (s + 1) : times.back() + 640 + 100 * s;
    times.push_back(t);
    return t;
  };
  std::vector<double> reported;
  sample_bounces(
      kSamples, kK, [&] { ++bounces; }, clock, [&](double ns) { reported.push_back(ns); });
  ASSERT_EQ(times.size(), 2 * kSamples);  // one pair of reads per sample, not one per bounce
  EXPECT_EQ(bounces, kK * kSamples);
  for (std::uint64_t s = 0; s < kSamples; ++s) {
    EXPECT_EQ(bounces_at_read[2 * s], kK * s) << "sample " << s;
    EXPECT_EQ(bounces_at_read[2 * s + 1], kK * (s + 1)) << "sample " << s;
  }
  ASSERT_EQ(reported.size(), kSamples);
  for (std::uint64_t s = 0; s < kSamples; ++s) {
    EXPECT_DOUBLE_EQ(reported[s], 10.0 + 1.5625 * static_cast<double>(s)) << "sample " << s;
  }
}

// A CPU number this process cannot pin to: pinning there fails, so a floor that tried to bounce
// would say sched_setaffinity failed instead of naming the one CPU.
int unpinnable_cpu() {
  const std::vector<int> allowed = allowed_cpus();
  int cpu = 0;
  while (std::find(allowed.begin(), allowed.end(), cpu) != allowed.end()) ++cpu;
  return cpu;
}

TEST(CachelineFloor, OnOneCpuIsNotMeasuredNamesTheCpuAndBouncesNothing) {
  const int c = allowed_cpus().front();
  const CachelineFloor f = cacheline_floor_now(CpuPair{c, c}, std::chrono::milliseconds(5000));
  EXPECT_FALSE(f.measured);
  EXPECT_EQ(f.ns_per_bounce, 0);
  EXPECT_EQ(f.samples, 0u);
  EXPECT_EQ(f.why_not.rfind("one CPU: ", 0), 0u) << f.why_not;
  EXPECT_NE(f.why_not.find("both ends on cpu" + std::to_string(c) + ":"), std::string::npos)
      << f.why_not;
  EXPECT_NE(f.why_not.find("sched_yield ping-pong, not a cache-line floor"), std::string::npos)
      << f.why_not;

  // No bouncing at all: on a CPU it cannot pin to, it still only names the CPU.
  const int bad = unpinnable_cpu();
  const CachelineFloor g = cacheline_floor_now(CpuPair{bad, bad}, std::chrono::milliseconds(5000));
  EXPECT_FALSE(g.measured);
  EXPECT_EQ(g.why_not.rfind("one CPU: ", 0), 0u) << g.why_not;
  EXPECT_NE(g.why_not.find("cpu" + std::to_string(bad) + ":"), std::string::npos) << g.why_not;
}

TEST(CachelineFloor, OnTwoCpusIsMeasuredOverSamplesOfKBounces) {
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  const CachelineFloor f =
      cacheline_floor_now(CpuPair{allowed[0], allowed[1]}, std::chrono::milliseconds(10'000));
  ASSERT_TRUE(f.measured) << f.why_not;
  EXPECT_EQ(f.why_not, "");
  EXPECT_GT(kBouncesPerSample, 1u);
  EXPECT_EQ(f.bounces_per_sample, kBouncesPerSample);
  EXPECT_EQ(f.samples, kSamplesNow);
  EXPECT_GT(f.ns_per_bounce, 0);
}

// The two-line bounce: each process writes only its own line; measured on two CPUs alike, never on
// one.
TEST(CachelineFloor, TheTwoLineBounceIsMeasuredOnTwoCpusOnly) {
  const std::vector<int> allowed = allowed_cpus();
  const CachelineFloor one =
      cacheline_floor_now(CpuPair{allowed[0], allowed[0]}, std::chrono::milliseconds(5000), true);
  EXPECT_FALSE(one.measured);
  EXPECT_EQ(one.why_not.rfind("one CPU: ", 0), 0u) << one.why_not;
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  const CachelineFloor f =
      cacheline_floor_now(CpuPair{allowed[0], allowed[1]}, std::chrono::milliseconds(10'000), true);
  ASSERT_TRUE(f.measured) << f.why_not;
  EXPECT_EQ(f.bounces_per_sample, kBouncesPerSample);
  EXPECT_EQ(f.samples, kSamplesNow);
  EXPECT_GT(f.ns_per_bounce, 0);
}

// A failed bounce is returned, not thrown, and is not a floor.
TEST(CachelineFloor, AFailedBounceIsNotMeasuredAndSaysWhy) {
  const std::vector<int> allowed = allowed_cpus();
  const int bad = unpinnable_cpu();
  const CachelineFloor f =
      cacheline_floor_now(CpuPair{allowed[0], bad}, std::chrono::milliseconds(5000));
  EXPECT_FALSE(f.measured);
  EXPECT_EQ(f.ns_per_bounce, 0);
  EXPECT_NE(f.why_not.find("bounce peer"), std::string::npos) << f.why_not;
}

// The cross-core copy: a sample is k handovers between one pair of clock reads, and its rate is
// the bytes of those k handovers over the sample's time.
TEST(SampleHandovers, ReadsTheClockTwicePerSampleAroundKHandoversAndGivesBytesPerSecond) {
  constexpr std::uint64_t kK = 8;
  constexpr std::uint64_t kSamples = 4;
  constexpr std::size_t kBytes = 4096;
  std::uint64_t handovers = 0;
  std::vector<std::uint64_t> handovers_at_read;
  std::vector<std::uint64_t> times;
  const auto clock = [&] {
    handovers_at_read.push_back(handovers);
    // Sample s takes 8000 * (s + 1) ns: 1000 * (s + 1) ns per handover of 4096 bytes.
    const std::uint64_t s = times.size() / 2;
    const std::uint64_t t =
        times.size() % 2 == 0 ? 1'000'000 * (s + 1) : times.back() + 8000 * (s + 1);
    times.push_back(t);
    return t;
  };
  std::vector<CopySample> reported;
  sample_handovers(
      kSamples, kK, kBytes, [&] { ++handovers; }, clock,
      [&](const CopySample& c) { reported.push_back(c); });
  ASSERT_EQ(times.size(), 2 * kSamples);  // one pair of reads per sample, not one per handover
  EXPECT_EQ(handovers, kK * kSamples);
  for (std::uint64_t s = 0; s < kSamples; ++s) {
    EXPECT_EQ(handovers_at_read[2 * s], kK * s) << "sample " << s;
    EXPECT_EQ(handovers_at_read[2 * s + 1], kK * (s + 1)) << "sample " << s;
  }
  ASSERT_EQ(reported.size(), kSamples);
  for (std::uint64_t s = 0; s < kSamples; ++s) {
    const double n = static_cast<double>(s + 1);
    EXPECT_DOUBLE_EQ(reported[s].ns_per_handover, 1000.0 * n) << "sample " << s;
    // 4096 bytes per 1000 (s + 1) ns: 4.096e9 / (s + 1) bytes/s.
    EXPECT_DOUBLE_EQ(reported[s].bytes_per_second, 4.096e9 / n) << "sample " << s;
  }
}

// A sample is 1 MiB of messages (many quarters of the ring, so the writer's bursts into freed
// slots average out), at least 8 and at most 16384 messages.
TEST(SampleHandovers, KIsOneMebibyteOfMessagesAtLeastEightAtMost16384) {
  EXPECT_EQ(handovers_per_sample(64), 16384u);
  EXPECT_EQ(handovers_per_sample(1024), 1024u);
  EXPECT_EQ(handovers_per_sample(4096), 256u);
  EXPECT_EQ(handovers_per_sample(65536), 16u);
  EXPECT_EQ(handovers_per_sample(std::size_t{1} << 20), 8u);
  EXPECT_EQ(handovers_per_sample(std::size_t{64} << 20), 8u);
  EXPECT_EQ(handovers_per_sample(1), 16384u);
  EXPECT_EQ(handovers_per_sample(0), 16384u);
}

// The ring: a small message is one slot of whole lines (with room for the sequence word at its
// end), a large one moves in 16 KiB pieces, and the ring holds at least 4 slots within 256 KiB.
TEST(CopyGeometry, SmallMessagesAreOneSlotLargeOnesMoveIn16KiBPiecesWithin256KiB) {
  const CopyGeometry small = copy_geometry(64);
  EXPECT_EQ(small.piece_bytes, 64u);
  EXPECT_EQ(small.pieces_per_message, 1u);
  EXPECT_EQ(small.slots, 4096u);
  EXPECT_EQ(small.release_every, 1024u);
  EXPECT_EQ(small.ring_bytes(), std::size_t{256} << 10);
  EXPECT_EQ(small.piece_length(7), 64u);

  const CopyGeometry odd = copy_geometry(100);  // padded to 104, in two lines, the word last
  EXPECT_EQ(odd.padded_bytes, 104u);
  EXPECT_EQ(odd.piece_bytes, 128u);
  EXPECT_EQ(odd.piece_length(0), 104u);
  EXPECT_EQ(odd.pieces_per_message, 1u);
  EXPECT_LE(odd.ring_bytes(), kCopyRingBytes);

  const CopyGeometry tiny = copy_geometry(1);  // one sequence word, nothing else, in a line
  EXPECT_EQ(tiny.piece_bytes, 64u);
  EXPECT_EQ(tiny.piece_length(0), 8u);

  const CopyGeometry mib = copy_geometry(std::size_t{1} << 20);
  EXPECT_EQ(mib.piece_bytes, kCopyPieceBytes);
  EXPECT_EQ(mib.pieces_per_message, 64u);
  EXPECT_EQ(mib.slots, 16u);
  EXPECT_EQ(mib.release_every, 4u);
  EXPECT_EQ(mib.ring_bytes(), kCopyRingBytes);

  // 40000 bytes: two full pieces and a last one of the rest.
  const CopyGeometry split = copy_geometry(40000);
  EXPECT_EQ(split.pieces_per_message, 3u);
  EXPECT_EQ(split.piece_length(0), kCopyPieceBytes);
  EXPECT_EQ(split.piece_length(1), kCopyPieceBytes);
  EXPECT_EQ(split.piece_length(2), 40000u - 2 * kCopyPieceBytes);
  EXPECT_EQ(split.piece_length(3), kCopyPieceBytes);  // the next message's first piece
  EXPECT_EQ(split.piece_length(5), 40000u - 2 * kCopyPieceBytes);
}

// The reader's checked sum: every byte counts, so a read that skipped one would be caught.
TEST(CrossCoreCopy, TheReadersSumMatchesOnlyWhenEveryByteIsTheHandoversByte) {
  for (std::size_t n :
       {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{100}, std::size_t{4096}}) {
    std::vector<unsigned char> buf(n, limits_detail::copy_byte(5));
    EXPECT_EQ(limits_detail::sum_bytes(buf.data(), n),
              limits_detail::expected_sum(limits_detail::copy_byte(5), n))
        << n;
    buf[n - 1] = limits_detail::copy_byte(4);
    EXPECT_NE(limits_detail::sum_bytes(buf.data(), n),
              limits_detail::expected_sum(limits_detail::copy_byte(5), n))
        << n;
  }
}

// Streams `warmup` + 16 messages of `bytes` through the copy's ring on `cpus` with `fault`;
// returns what copy_lines returned.
std::string stream_copy(const CpuPair& cpus, std::size_t bytes, limits_detail::CopyFault fault,
                        std::uint64_t warmup = 40) {
  return limits_detail::copy_lines(
      cpus, std::chrono::milliseconds(10'000), "test copy", bytes, warmup, /*samples=*/2,
      /*k=*/8, [](const CopySample&) {}, fault);
}

// Enough messages of `bytes` to go round the ring three times.
std::uint64_t three_laps(std::size_t bytes) {
  const CopyGeometry g = copy_geometry(bytes);
  return 3 * g.slots / g.pieces_per_message + 1;
}

// The reader checks every byte and every sequence word of every piece: a run without a fault
// passes at sizes that pad, split into pieces or fill many laps of the ring.
TEST(CrossCoreCopy, AStreamWithoutAFaultPassesAtEveryShapeOfMessage) {
  const int c = allowed_cpus().front();
  for (std::size_t n :
       {std::size_t{1}, std::size_t{64}, std::size_t{100}, std::size_t{4096}, std::size_t{40000}}) {
    EXPECT_EQ(stream_copy(CpuPair{c, c}, n, {}, three_laps(n)), "") << n;
  }
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  for (std::size_t n : {std::size_t{64}, std::size_t{40000}}) {
    EXPECT_EQ(stream_copy(CpuPair{allowed[0], allowed[1]}, n, {}, three_laps(n)), "") << n;
  }
}

// One wrong byte in one message's payload fails the run, naming the message and the sum.
TEST(CrossCoreCopy, ACorruptedPayloadByteIsDetectedAndNamesTheMessage) {
  const int c = allowed_cpus().front();
  const std::string one = stream_copy(CpuPair{c, c}, 4096, {.message = 17, .byte = 1000});
  EXPECT_NE(one.find("message 17 read a sum of"), std::string::npos) << one;
  EXPECT_NE(one.find("copy reader"), std::string::npos) << one;
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  // In the second 16 KiB piece of a 40000-byte message.
  const std::string two =
      stream_copy(CpuPair{allowed[0], allowed[1]}, 40000, {.message = 30, .byte = 20000});
  EXPECT_NE(two.find("message 30 read a sum of"), std::string::npos) << two;
}

// A wrong byte in the word that publishes a piece fails the run too, instead of hanging it.
TEST(CrossCoreCopy, ACorruptedSequenceWordIsDetectedAndNamesTheMessage) {
  const int c = allowed_cpus().front();
  // In the ring's second lap (4096 slots of 64 B), the word's top byte.
  const std::string last = stream_copy(CpuPair{c, c}, 64, {.message = 5000, .byte = 63}, 6000);
  EXPECT_NE(last.find("message 5000 published sequence"), std::string::npos) << last;
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  // The first piece's word of a 40000-byte message (bytes 16376..16383).
  const std::string two = stream_copy(CpuPair{allowed[0], allowed[1]}, 40000,
                                      {.message = 12, .byte = kCopyPieceBytes - 3});
  EXPECT_NE(two.find("message 12 published sequence"), std::string::npos) << two;
}

TEST(CrossCoreCopy, OnOneCpuIsNotMeasuredNamesTheCpuAndCopiesNothing) {
  const int c = allowed_cpus().front();
  const CopyFloor f = cross_core_copy_now(CpuPair{c, c}, 4096, std::chrono::milliseconds(5000));
  EXPECT_FALSE(f.measured);
  EXPECT_EQ(f.bytes_per_second, 0);
  EXPECT_EQ(f.samples, 0u);
  EXPECT_EQ(f.why_not.rfind("one CPU: ", 0), 0u) << f.why_not;
  EXPECT_NE(f.why_not.find("not a cross-core copy floor"), std::string::npos) << f.why_not;

  // Nothing is started: on a CPU it cannot pin to, it still only names the CPU.
  const int bad = unpinnable_cpu();
  const CopyFloor g = cross_core_copy_now(CpuPair{bad, bad}, 4096, std::chrono::milliseconds(5000));
  EXPECT_FALSE(g.measured);
  EXPECT_EQ(g.why_not.rfind("one CPU: ", 0), 0u) << g.why_not;
  EXPECT_NE(g.why_not.find("cpu" + std::to_string(bad) + ":"), std::string::npos) << g.why_not;
}

TEST(CrossCoreCopy, OnTwoCpusIsMeasuredOverSamplesOfKHandovers) {
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  const CopyFloor f =
      cross_core_copy_now(CpuPair{allowed[0], allowed[1]}, 4096, std::chrono::milliseconds(10'000));
  ASSERT_TRUE(f.measured) << f.why_not;
  EXPECT_EQ(f.why_not, "");
  EXPECT_EQ(f.bytes, 4096u);
  EXPECT_EQ(f.handovers_per_sample, handovers_per_sample(4096));
  EXPECT_EQ(f.samples, kCopySamplesNow);
  EXPECT_GT(f.bytes_per_second, 0);
  EXPECT_DOUBLE_EQ(f.bytes_per_second, 4096 * 1e9 / f.ns_per_handover);
}

TEST(CrossCoreCopy, AFailedCopyIsNotMeasuredAndSaysWhy) {
  const std::vector<int> allowed = allowed_cpus();
  const CopyFloor f = cross_core_copy_now(CpuPair{allowed[0], unpinnable_cpu()}, 64,
                                          std::chrono::milliseconds(5000));
  EXPECT_FALSE(f.measured);
  EXPECT_EQ(f.bytes_per_second, 0);
  EXPECT_NE(f.why_not.find("copy reader"), std::string::npos) << f.why_not;
}

// The `"key": value` number in the JSON row that starts at `from` (NaN when absent).
double row_number(const std::string& text, std::size_t from, const std::string& key) {
  const std::size_t at = text.find("\"" + key + "\": ", from);
  if (at == std::string::npos) return std::nan("");
  return std::strtod(text.c_str() + at + key.size() + 4, nullptr);
}

std::string limit_rows(const std::string& cpus) {
  std::string out;
  const std::string cmd = std::string(IPCBENCH_BINARY) + " --cpus=" + cpus +
                          " --benchmark_filter=Limit/ --quick --patterns=off --transports=pipe"
                          " --sizes=64 --benchmark_format=json 2>&1";
  EXPECT_EQ(test::run_command(cmd, out), 0) << out;
  return out;
}

TEST(LimitBenchmarks, OnOneCpuTheBounceIsAYieldPingPongNeverACachelineFloor) {
  const std::string c = std::to_string(allowed_cpus().front());
  const std::string out = limit_rows(c + "," + c);
  EXPECT_EQ(out.find("\"Limit/cacheline_rtt"), std::string::npos) << out;  // no row of that name
  EXPECT_EQ(out.find("\"Limit/two_line_rtt"), std::string::npos) << out;
  const std::size_t row = out.find("\"name\": \"Limit/yield_pingpong");
  ASSERT_NE(row, std::string::npos) << out;
  EXPECT_EQ(row_number(out, row, "bounces_per_sample"), static_cast<double>(kBouncesPerSample));
  const std::size_t label = out.find("\"label\": ", row);
  ASSERT_NE(label, std::string::npos) << out;
  EXPECT_NE(out.substr(label, out.find('\n', label) - label).find("not a cache-line floor"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("\"error_occurred\": true"), std::string::npos) << out;
}

// Each sample is K bounces: the row has iterations / K samples and says K.
TEST(LimitBenchmarks, OnTwoCpusTheCachelineRowPublishesKBouncesPerSample) {
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  const std::string out = limit_rows(std::to_string(allowed[0]) + "," + std::to_string(allowed[1]));
  EXPECT_EQ(out.find("\"Limit/yield_pingpong"), std::string::npos) << out;
  const std::size_t row = out.find("\"name\": \"Limit/cacheline_rtt");
  ASSERT_NE(row, std::string::npos) << out;
  const double k = row_number(out, row, "bounces_per_sample");
  EXPECT_EQ(k, static_cast<double>(kBouncesPerSample)) << out;
  EXPECT_EQ(row_number(out, row, "samples") * k, row_number(out, row, "iterations")) << out;
  // The two-line bounce beside it, timed alike.
  const std::size_t two = out.find("\"name\": \"Limit/two_line_rtt");
  ASSERT_NE(two, std::string::npos) << out;
  EXPECT_EQ(row_number(out, two, "bounces_per_sample"), static_cast<double>(kBouncesPerSample));
  EXPECT_EQ(out.find("\"error_occurred\": true"), std::string::npos) << out;
}

// Stream rows through the binary: fraction_of_floor against the cross-core copy measured right
// after each case, on two CPUs only.
std::string stream_rows(const std::string& cpus) {
  std::string out;
  const std::string cmd = std::string(IPCBENCH_BINARY) + " --cpus=" + cpus +
                          " --benchmark_filter='Stream/pipe|Limit/(cross_core|same_cpu)_copy'"
                          " --quick --patterns=off --transports=pipe --sizes=4096"
                          " --benchmark_format=json 2>&1";
  EXPECT_EQ(test::run_command(cmd, out), 0) << out;
  return out;
}

TEST(CopyFloorBenchmarks, OnTwoCpusAStreamRowCarriesFractionOfFloor) {
  const std::vector<int> allowed = allowed_cpus();
  if (allowed.size() < 2) GTEST_SKIP() << "needs two allowed CPUs, has " << allowed.size();
  const std::string out =
      stream_rows(std::to_string(allowed[0]) + "," + std::to_string(allowed[1]));
  EXPECT_EQ(out.find("\"error_occurred\": true"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"Limit/same_cpu_copy"), std::string::npos) << out;
  const std::size_t limit = out.find("\"name\": \"Limit/cross_core_copy/bytes:4096");
  ASSERT_NE(limit, std::string::npos) << out;
  EXPECT_EQ(row_number(out, limit, "handovers_per_sample"),
            static_cast<double>(handovers_per_sample(4096)));
  EXPECT_EQ(row_number(out, limit, "ring_bytes"),
            static_cast<double>(copy_geometry(4096).ring_bytes()));
  EXPECT_EQ(row_number(out, limit, "piece_bytes"), 4096.0);
  EXPECT_GT(row_number(out, limit, "bytes_per_second"), 0) << out;
  const std::size_t row = out.find("\"name\": \"Stream/pipe/bytes:4096");
  ASSERT_NE(row, std::string::npos) << out;
  const double floor = row_number(out, row, "floor_bytes_per_second");
  const double fraction = row_number(out, row, "fraction_of_floor");
  ASSERT_GT(floor, 0) << out;
  EXPECT_DOUBLE_EQ(fraction, row_number(out, row, "bytes_per_second") / floor) << out;
  EXPECT_EQ(row_number(out, row, "floor_handovers_per_sample"),
            static_cast<double>(handovers_per_sample(4096)));
}

TEST(CopyFloorBenchmarks, OnOneCpuNoStreamRowCarriesAFloorAndTheCopyIsNotCalledOne) {
  const std::string c = std::to_string(allowed_cpus().front());
  const std::string out = stream_rows(c + "," + c);
  EXPECT_EQ(out.find("\"error_occurred\": true"), std::string::npos) << out;
  EXPECT_EQ(out.find("\"Limit/cross_core_copy"), std::string::npos) << out;
  const std::size_t limit = out.find("\"name\": \"Limit/same_cpu_copy/bytes:4096");
  ASSERT_NE(limit, std::string::npos) << out;
  const std::size_t label = out.find("\"label\": ", limit);
  ASSERT_NE(label, std::string::npos) << out;
  EXPECT_NE(out.substr(label, out.find('\n', label) - label).find("not a cross-core floor"),
            std::string::npos)
      << out;
  const std::size_t row = out.find("\"name\": \"Stream/pipe/bytes:4096");
  ASSERT_NE(row, std::string::npos) << out;
  EXPECT_GT(row_number(out, row, "bytes_per_second"), 0) << out;
  // As a counter of a row (the context's text may name them).
  EXPECT_EQ(out.find("\"fraction_of_floor\": "), std::string::npos) << out;
  EXPECT_EQ(out.find("\"floor_bytes_per_second\": "), std::string::npos) << out;
}

}  // namespace
}  // namespace ipcbench
