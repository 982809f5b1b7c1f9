// SlotRing: pieces and their sequence words, wrap-around of the ring and of the 2^32 piece
// numbers, messages larger than the ring, slots reused only once read, every size up to the
// ring's payload, interruption, a reader killed mid-message, and two-thread stresses that check
// every byte, for every wait policy and both piece sizes. Threads, not processes (but for the
// kill), so the thread sanitizer can follow them. Every test is bounded: a Deadline, shorter than
// ctest's timeout, turns a hang into interrupted waits and a failure.
#include "transports/os/shm_ring.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/process.hpp"
#include "transports/os/boost_ipc.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The byte at `index` of message `seq`: differs between neighbouring messages and offsets.
std::byte pattern(std::uint64_t seq, std::size_t index) {
  return static_cast<std::byte>((seq * 131 + index * 7 + (index >> 8)) & 0xff);
}

std::vector<std::byte> message(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> m(size);
  for (std::size_t i = 0; i < size; ++i) m[i] = pattern(seq, i);
  return m;
}

// Where `got` first differs from message `seq`, or SIZE_MAX when it is message `seq`.
std::size_t first_wrong_byte(std::span<const std::byte> got, std::uint64_t seq) {
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != pattern(seq, i)) return i;
  }
  return SIZE_MAX;
}

// What a test that blocks may take at most, well inside ctest's 60 s (the slowest takes about 15 s
// under the thread sanitizer).
constexpr auto kTestDeadline = 45s;

// Sets interrupted() when `limit` passes before the object goes, so every wait of the ring throws
// and a hang becomes a failure. The destructor clears interrupted() (tests set it too).
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds limit)
      : timer_([this, limit] {
          std::unique_lock lock(mutex_);
          if (!cancel_.wait_for(lock, limit, [this] { return cancelled_; })) {
            fired_.store(true);
            set_interrupted(true);
          }
        }) {}
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  ~Deadline() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
    }
    cancel_.notify_one();
    timer_.join();
    if (fired_.load()) ADD_FAILURE() << "the test ran past its deadline: a wait hung";
    set_interrupted(false);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cancel_;
  bool cancelled_ = false;
  std::atomic<bool> fired_{false};
  std::thread timer_;
};

// Where the two threads of a test run. A spinning wait on a CPU shared with its peer holds that
// CPU until the scheduler takes it away, so two unpinned threads that the scheduler puts on one CPU
// (a loaded 2-CPU machine does) pay a whole slice per message, as the benchmark never does: it pins
// its two ends to different CPUs, or tells the wait policy they share one (same_cpu). The tests do
// the same: the test's thread runs on the first allowed CPU and every Worker on the second; with
// one allowed CPU both run there and the policies are told so.
const CpuPair& thread_cpus() {
  static const CpuPair pair = default_cpu_pair();
  return pair;
}
TransportOptions thread_options() {
  TransportOptions options;
  options.same_cpu = thread_cpus().same();
  return options;
}
// Set by a test that pins its own thread (ThreadPlacement): the CPU its Workers run on.
std::atomic<int> worker_cpu{-1};

// Pins the test's thread to the first CPU of thread_cpus() and its Workers to the second, for its
// lifetime.
class ThreadPlacement {
 public:
  ThreadPlacement() : pin_(thread_cpus().producer) { worker_cpu.store(thread_cpus().consumer); }
  ThreadPlacement(const ThreadPlacement&) = delete;
  ThreadPlacement& operator=(const ThreadPlacement&) = delete;
  ~ThreadPlacement() { worker_cpu.store(-1); }

 private:
  ScopedPin pin_;
};

// A thread running `body` (on worker_cpu when a ThreadPlacement is live); what it throws is kept
// for join(). The destructor joins.
class Worker {
 public:
  explicit Worker(std::function<void()> body)
      : thread_([this, b = std::move(body), cpu = worker_cpu.load()] {
          try {
            if (cpu >= 0) pin_to_cpu(cpu);
            b();
          } catch (const std::exception& e) {
            error_ = e.what();
          }
          done_.store(true);
        }) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() {
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] bool done() const noexcept { return done_.load(); }
  // Joins; returns what the body threw, "" when it returned.
  std::string join() {
    thread_.join();
    return error_;
  }

 private:
  std::string error_;  // written by the thread before done_, read after join()
  std::atomic<bool> done_{false};
  std::thread thread_;
};

// Polls `done` every millisecond until it holds or `limit` passes; returns done().
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// The geometries most tests run with: a tiny ring of one-line pieces (8 x 56 payload bytes,
// published every 2) and one of 4 KiB pieces (4 x 4096, published every piece).
const RingGeometry kLines = ring_geometry(64, 8);
const RingGeometry kPages = ring_geometry(4096, 4);

std::string describe(const RingGeometry& g) {
  return std::to_string(g.pieces) + " x " + std::to_string(g.piece_bytes) + " B pieces";
}

// The payload bytes of the whole ring: the largest message that is in the ring at once.
std::size_t ring_payload(const RingGeometry& g) { return g.pieces * g.payload(); }

// The largest message one thread can send and then receive itself: the reader may hold up to
// publish_every - 1 pieces it has not yet published.
std::size_t one_thread_max(const RingGeometry& g) {
  return (g.pieces - g.publish_every + 1) * g.payload();
}

// The piece number the lap tests start at: 101 pieces before the 2^32 wrap.
constexpr std::uint32_t kNearWrap = UINT32_MAX - 100;

// One ring in its own shared memory segment, with a writer view and a reader view.
template <typename Wait>
struct RingFixture {
  explicit RingFixture(const RingGeometry& g, std::uint32_t start = 0,
                       const TransportOptions& options = thread_options())
      : segment(unique_name(), SlotRing<Wait>::bytes_for(g)) {
    SlotRing<Wait>::create(segment.data(), g, start);
    writer.emplace(segment.data(), Wait(options), "test ring (writer)");
    reader.emplace(segment.data(), Wait(options), "test ring (reader)");
  }
  [[nodiscard]] RingControl<Wait>& control() const {
    return *std::launder(reinterpret_cast<RingControl<Wait>*>(segment.data()));
  }
  ShmSegment segment;
  std::optional<SlotRing<Wait>> writer, reader;
};

// Sends message i of sizes[i] from a writer thread and receives each here, checking every byte.
// Returns the first problem ("" when every message arrived whole and in order); the caller holds
// a Deadline. When
// `max_in_flight` is set, the writer also checks after each send that it is at most that many
// messages ahead of the messages the reader has finished.
template <typename Wait>
std::string stream(RingFixture<Wait>& ring, const std::vector<std::size_t>& sizes,
                   std::size_t max_in_flight = 0) {
  std::atomic<std::size_t> read{0};
  std::atomic<std::size_t> ahead{0};  // the most the writer was ahead, when it was too far
  Worker writer([&] {
    std::vector<std::byte> buf;
    for (std::size_t seq = 0; seq < sizes.size(); ++seq) {
      buf.resize(sizes[seq]);
      for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = pattern(seq, i);
      ring.writer->send(buf);
      const std::size_t in_flight = seq + 1 - read.load();
      if (max_in_flight != 0 && in_flight > max_in_flight && in_flight > ahead.load()) {
        ahead.store(in_flight);
      }
    }
  });
  std::string problem;
  bool interrupted_writer = false;
  std::vector<std::byte> got;
  for (std::size_t seq = 0; seq < sizes.size(); ++seq) {
    got.assign(sizes[seq], std::byte{0xee});
    try {
      ring.reader->recv(got);
    } catch (const std::exception& e) {
      problem = "recv of message " + std::to_string(seq) + ": " + e.what();
      set_interrupted(true);  // the writer must not wait for a reader that is gone
      interrupted_writer = true;
      break;
    }
    read.store(seq + 1);
    const std::size_t wrong = first_wrong_byte(got, seq);
    if (wrong != SIZE_MAX && problem.empty()) {
      problem = "message " + std::to_string(seq) + " of " + std::to_string(sizes[seq]) +
                " bytes: byte " + std::to_string(wrong) + " is wrong";
    }
  }
  const std::string writer_error = writer.join();
  if (interrupted_writer) set_interrupted(false);
  if (problem.empty() && !writer_error.empty()) problem = "send: " + writer_error;
  if (problem.empty() && ahead.load() != 0) {
    problem = "the writer finished a send " + std::to_string(ahead.load()) +
              " messages ahead of the reader; a ring holds at most " +
              std::to_string(max_in_flight);
  }
  return problem;
}

// Sizes from `size_of(rng)`, `count` of them.
template <typename SizeOf>
std::vector<std::size_t> random_sizes(std::size_t count, SizeOf size_of) {
  std::mt19937 rng(42);
  std::vector<std::size_t> sizes(count);
  for (std::size_t& s : sizes) s = size_of(rng);
  return sizes;
}

// Every test of the suite runs under a Deadline, its threads placed as the benchmark places its
// two ends.
template <typename Wait>
class SlotRingTest : public ::testing::Test {
 protected:
  ThreadPlacement placement_;
  Deadline deadline_{kTestDeadline};
};
using Policies = ::testing::Types<SpinWait, FutexWait, SemWait, CondvarWait>;
class PolicyNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    if (std::is_same_v<T, SpinWait>) return "spin";
    if (std::is_same_v<T, FutexWait>) return "futex";
    if (std::is_same_v<T, SemWait>) return "sem";
    return "condvar";
  }
};
TYPED_TEST_SUITE(SlotRingTest, Policies, PolicyNames);
// The kill test forks, so its Deadline's thread starts after the fork, not in a fixture.
template <typename Wait>
class SlotRingKillTest : public ::testing::Test {};
TYPED_TEST_SUITE(SlotRingKillTest, Policies, PolicyNames);

TYPED_TEST(SlotRingTest, WrapsAroundManyTimesOnOneThread) {
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g);
    // Messages of one piece, two pieces (the second partly empty) and as many as one thread can
    // have in the ring, so messages start at every index and straddle the ring's end.
    const std::size_t sizes[] = {1, g.payload() + 3, one_thread_max(g)};
    std::vector<std::byte> got;
    for (std::uint64_t seq = 0; seq < 300; ++seq) {
      const std::size_t size = sizes[seq % 3];
      ring.writer->send(message(seq, size));
      got.assign(size, std::byte{0});
      ring.reader->recv(got);
      ASSERT_EQ(first_wrong_byte(got, seq), SIZE_MAX) << "message " << seq << " of " << size;
    }
  }
}

TYPED_TEST(SlotRingTest, CarriesEverySmallSizeIncludingEmpty) {
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g);
    for (std::size_t size = 0; size <= 300 && size <= one_thread_max(g); ++size) {
      ring.writer->send(message(size, size));
      std::vector<std::byte> got(size);
      ring.reader->recv(got);
      ASSERT_EQ(first_wrong_byte(got, size), SIZE_MAX) << "size " << size;
    }
  }
}

// Every message size from 0 to the payload of the whole ring (pieces x payload), through two
// threads; 4 KiB pieces in steps, with every piece boundary and its neighbours.
TYPED_TEST(SlotRingTest, CarriesEverySizeUpToTheRingsPayload) {
  for (const RingGeometry& g : {ring_geometry(64, 16), kPages}) {
    SCOPED_TRACE(describe(g));
    const std::size_t whole = ring_payload(g);
    {
      // An empty ring takes a message of its whole payload on one thread.
      RingFixture<TypeParam> ring(g);
      ring.writer->send(message(7, whole));
      std::vector<std::byte> got(whole);
      ring.reader->recv(got);
      EXPECT_EQ(first_wrong_byte(got, 7), SIZE_MAX);
    }
    std::vector<std::size_t> sizes;
    for (std::size_t size = 0; size <= whole; size += size < 200 || g.inline_header() ? 1 : 61) {
      sizes.push_back(size);
    }
    for (std::size_t k = 1; k <= g.pieces; ++k) {
      for (std::size_t size : {k * g.payload() - 1, k * g.payload(), k * g.payload() + 1}) {
        if (size <= whole) sizes.push_back(size);
      }
    }
    RingFixture<TypeParam> ring(g);
    EXPECT_EQ(stream(ring, sizes), "");
  }
}

TYPED_TEST(SlotRingTest, StreamsMessagesLargerThanTheRing) {
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    const std::size_t whole = ring_payload(g);
    RingFixture<TypeParam> ring(g);
    EXPECT_EQ(stream(ring, {whole - 1, whole, whole + 1, 3 * whole + 5, 0, 70001, 10, 300000}), "");
  }
}

// Two threads, thousands of messages of random sizes (some several times the ring), every byte
// checked against its sequence number.
TYPED_TEST(SlotRingTest, TwoThreadStressDeliversEveryByteInOrder) {
  {
    SCOPED_TRACE("16 x 64 B pieces");
    RingFixture<TypeParam> ring(ring_geometry(64, 16));  // 896 payload bytes
    const auto sizes = random_sizes(20'000, [](std::mt19937& rng) -> std::size_t {
      const std::size_t r = rng();
      return r % 16 == 0 ? r % 5000 : r % 300;  // mostly small, some over the ring's payload
    });
    EXPECT_EQ(stream(ring, sizes), "");
  }
  {
    SCOPED_TRACE("4 x 4 KiB pieces");
    RingFixture<TypeParam> ring(kPages);
    const auto sizes = random_sizes(2'000, [](std::mt19937& rng) -> std::size_t {
      const std::size_t r = rng();
      return r % 8 == 0 ? r % 40'000 : r % 9000;
    });
    EXPECT_EQ(stream(ring, sizes), "");
  }
}

// A slot is written again only once the reader has read it: the writer runs as fast as it can
// into a tiny ring while the reader checks every byte of every message, and after each send the
// writer is never more messages ahead of the reader than the ring holds plus the one the reader
// is inside (or has finished but not yet counted).
TYPED_TEST(SlotRingTest, ReusesASlotOnlyAfterItIsRead) {
  for (const RingGeometry& g : {kLines, kPages}) {
    for (std::size_t pieces : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
      SCOPED_TRACE(describe(g) + ", messages of " + std::to_string(pieces) + " pieces");
      RingFixture<TypeParam> ring(g);
      const std::vector<std::size_t> sizes(3000, pieces * g.payload());
      EXPECT_EQ(stream(ring, sizes, g.pieces / pieces + 1), "");
    }
  }
}

// The deterministic form: a ring filled exactly to its capacity holds the writer's next send
// until the reader reads (and so publishes) one message, and the message the writer waits to
// overwrite is intact when it is read.
TYPED_TEST(SlotRingTest, AFullRingHoldsTheWriterUntilTheReaderFreesASlot) {
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g);
    // Messages of publish_every pieces: reading one publishes it.
    const std::size_t size = g.publish_every * g.payload();
    const std::size_t fit = g.pieces / g.publish_every;
    for (std::uint64_t seq = 0; seq < fit; ++seq) ring.writer->send(message(seq, size));
    Worker writer([&] { ring.writer->send(message(fit, size)); });
    std::this_thread::sleep_for(50ms);
    EXPECT_FALSE(writer.done()) << "a send into a full ring returned before anything was read";
    std::vector<std::byte> got(size);
    ring.reader->recv(got);
    EXPECT_EQ(first_wrong_byte(got, 0), SIZE_MAX) << "the first message was overwritten";
    EXPECT_TRUE(wait_until([&] { return writer.done(); }, 10s))
        << "the writer stayed blocked after a message was read";
    EXPECT_EQ(writer.join(), "");
    for (std::uint64_t seq = 1; seq <= fit; ++seq) {
      ring.reader->recv(got);
      EXPECT_EQ(first_wrong_byte(got, seq), SIZE_MAX) << "message " << seq;
    }
  }
}

// The ring for a message size carries every size around it (the transports' geometry).
TYPED_TEST(SlotRingTest, CarriesMessagesThroughTheTransportsGeometry) {
  for (std::size_t message_bytes : {std::size_t{64}, std::size_t{1024}, std::size_t{65536}}) {
    const RingGeometry g = ring_geometry_for(message_bytes);
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g);
    const auto sizes = random_sizes(
        500, [&](std::mt19937& rng) -> std::size_t { return rng() % (2 * message_bytes + 1); });
    EXPECT_EQ(stream(ring, sizes), "");
  }
}

// Piece numbers count modulo 2^32: a ring that starts 101 pieces before the wrap carries messages
// of one, two and many pieces across it, laps on, and every byte arrives. Geometries: the wrap in
// a later lap (8 pieces, 4 pieces) and within the first (256 pieces).
TYPED_TEST(SlotRingTest, CrossesTheWrapOfPieceNumbersOnOneThread) {
  for (const RingGeometry& g : {kLines, kPages, ring_geometry(64, 256)}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g, kNearWrap);
    const std::size_t sizes[] = {1, g.payload() + 1, one_thread_max(g), 0, 2 * g.payload()};
    std::vector<std::byte> got;
    std::uint64_t pieces = 0;
    for (std::uint64_t seq = 0; pieces < 101 + 3 * std::uint64_t{g.pieces}; ++seq) {
      const std::size_t size = sizes[seq % 5];
      ring.writer->send(message(seq, size));
      got.assign(size, std::byte{0});
      ring.reader->recv(got);
      ASSERT_EQ(first_wrong_byte(got, seq), SIZE_MAX) << "message " << seq << " of " << size;
      pieces += g.pieces_for(size);
    }
    // The reader's published position has wrapped past 0.
    EXPECT_LT(ring.reader->reader_progress().load(), 4 * g.pieces);
  }
}

TYPED_TEST(SlotRingTest, CrossesTheWrapOfPieceNumbersOnTwoThreads) {
  for (const RingGeometry& g : {kLines, kPages, ring_geometry(64, 256)}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g, kNearWrap);
    const std::size_t whole = ring_payload(g);
    const auto sizes = random_sizes(3000, [&](std::mt19937& rng) -> std::size_t {
      const std::size_t r = rng();
      return r % 8 == 0 ? r % (3 * whole) : r % (3 * g.payload());
    });
    EXPECT_EQ(stream(ring, sizes), "");
  }
}

// At the wrap the reader of piece 2^32 - 1 wants sequence word 0, the value every header holds
// before it is first written: a ring whose wrap falls within its first lap (start > 2^32 - pieces)
// must still wait for that piece rather than take it at once. (With 256 pieces the two-thread wrap
// test above meets the same piece, as a race the thread sanitizer reports.)
TYPED_TEST(SlotRingTest, NeverTakesAPieceNotYetWrittenAtTheWrap) {
  RingFixture<TypeParam> ring(ring_geometry(64, 256), kNearWrap);
  std::vector<std::byte> got(16);
  for (std::uint64_t seq = 0; seq < 101 - 1; ++seq) {  // up to piece 2^32 - 2
    ring.writer->send(message(seq, 16));
    ring.reader->recv(got);
    ASSERT_EQ(first_wrong_byte(got, seq), SIZE_MAX) << "message " << seq;
  }
  set_interrupted(true);  // the ring is empty: a recv must wait, and so throw
  try {
    ring.reader->recv(got);
    ADD_FAILURE() << "recv returned a message that was never sent";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ECANCELED) << e.what();
  }
  try {
    ring.reader->recv(std::span<std::byte>());
    ADD_FAILURE() << "recv returned an empty message that was never sent";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ECANCELED) << e.what();
  }
  set_interrupted(false);
}

TYPED_TEST(SlotRingTest, SizeMismatchIsAnErrorNamingTheObject) {
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g);
    ring.writer->send(message(1, 10));
    std::vector<std::byte> got(12);
    try {
      ring.reader->recv(got);
      FAIL() << "a 10-byte message was accepted into a 12-byte buffer";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EMSGSIZE);
      const std::string what = e.what();
      EXPECT_NE(what.find("test ring (reader)"), std::string::npos) << what;
      EXPECT_NE(what.find("10 bytes"), std::string::npos) << what;
    }
  }
}

TYPED_TEST(SlotRingTest, WaitsEndWhenInterrupted) {
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    RingFixture<TypeParam> ring(g);
    std::vector<std::byte> got(16);
    set_interrupted(true);
    const auto start = Clock::now();
    try {
      ring.reader->recv(got);  // empty: would wait for ever
      ADD_FAILURE() << "recv from an empty ring returned";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), ECANCELED);
      EXPECT_NE(std::string(e.what()).find("test ring (reader)"), std::string::npos) << e.what();
    }
    ring.writer->send(message(0, ring_payload(g)));  // fills the ring
    try {
      ring.writer->send(message(1, 100));  // full
      ADD_FAILURE() << "send into a full ring returned";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), ECANCELED);
      EXPECT_NE(std::string(e.what()).find("test ring (writer)"), std::string::npos) << e.what();
    }
    set_interrupted(false);
    EXPECT_LT(Clock::now() - start, 2s);
  }
}

// A writer that must wait for space in the middle of a message larger than the ring has not yet
// told the reader about the message (it notifies after the last piece). A reader asleep waiting
// for that message must still be woken, not left to sleep out its wait slice while the writer
// waits for it: the sleeper/notifier handshake would then be only a timeout. (The spinning policy
// cannot sleep; the others do.)
TYPED_TEST(SlotRingTest, AReaderAsleepIsWokenWhenTheWriterWaitsMidMessage) {
  RingFixture<TypeParam> ring(kLines);
  const std::size_t size = 4 * ring_payload(kLines);
  auto fastest = Clock::duration::max();
  for (std::uint64_t seq = 0; seq < 10; ++seq) {
    Worker reader([&] {
      std::vector<std::byte> got(size);
      ring.reader->recv(got);
      if (first_wrong_byte(got, seq) != SIZE_MAX) throw std::runtime_error("wrong bytes");
    });
    // Long enough for any policy to fall asleep (FutexWait spins about 10 us first).
    std::this_thread::sleep_for(5ms);
    const auto start = Clock::now();
    ring.writer->send(message(seq, size));
    fastest = std::min(fastest, Clock::now() - start);
    ASSERT_EQ(reader.join(), "") << "message " << seq;
  }
  // A woken reader takes microseconds; one left to its slice takes most of kWaitSlice (50 ms)
  // every time. The fastest of ten sends stays below half a slice even on a loaded machine.
  EXPECT_LT(fastest, kWaitSlice / 2)
      << "every send of a message larger than the ring waited "
      << std::chrono::duration_cast<std::chrono::milliseconds>(fastest).count()
      << " ms or more for a reader that slept through it";
}

// A reader process stopped and then killed (SIGKILL) in the middle of a message many times the
// ring: the writer, waiting for space, does not hang. The harness's watchdog sees the death, sets
// interrupted() and signals the writer, whose send throws an error naming the ring. The segment's
// name was gone before the reader started.
TYPED_TEST(SlotRingKillTest, AWriterOutlivesAReaderKilledMidMessage) {
  const std::string name = unique_name();
  const RingGeometry g = kPages;
  ShmSegment segment(name, SlotRing<TypeParam>::bytes_for(g));
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + name));
  SlotRing<TypeParam>::create(segment.data(), g);
  SlotRing<TypeParam> writer(segment.data(), TypeParam(TransportOptions{}), "test ring (writer)");
  const std::size_t size = std::size_t{64} << 20;  // 16384 pieces
  const std::uint32_t pieces = static_cast<std::uint32_t>(g.pieces_for(size));
  // fork() before any thread of this test starts.
  ChildProcess reader("reader", [&] {
    SlotRing<TypeParam> view(segment.data(), TypeParam(TransportOptions{}), "test ring (reader)");
    std::vector<std::byte> got(size);
    view.recv(got);
  });
  const std::vector<std::byte> msg(size, std::byte{0x5a});
  const std::atomic<std::uint32_t>& progress = writer.reader_progress();
  std::atomic<std::uint32_t> killed_at{0};
  std::atomic<bool> stopped{false};
  std::atomic<Clock::rep> killed{0};  // when the SIGKILL was sent, as Clock ticks
  std::string error;
  {
    Deadline deadline(kTestDeadline);  // should the watchdog not end the writer's wait
    Watchdog watchdog(reader.pid(), "reader", std::chrono::milliseconds(60'000), nullptr, nullptr);
    Worker killer([&] {
      // Stop the reader once it has taken a few pieces, so it is surely inside the message, and
      // see that it stopped there; then kill it.
      if (!wait_until([&] { return progress.load() >= 4; }, 10s)) {
        throw std::runtime_error("the reader never started reading");
      }
      ::kill(reader.pid(), SIGSTOP);
      std::uint32_t at = progress.load();
      do {
        at = progress.load();
        std::this_thread::sleep_for(20ms);
      } while (progress.load() != at);
      killed_at.store(at);
      stopped.store(true);
      killed.store(Clock::now().time_since_epoch().count());
      ::kill(reader.pid(), SIGKILL);
    });
    try {
      writer.send(msg);
      ADD_FAILURE() << "the send finished although its reader was killed";
    } catch (const std::system_error& e) {
      error = e.what();
    }
    const auto returned = Clock::now();
    EXPECT_EQ(killer.join(), "");
    ASSERT_TRUE(stopped.load());
    // The watchdog ends the writer's wait; or, with shm_condvar, the robust mutex the reader died
    // holding tells the writer first.
    EXPECT_TRUE(watchdog.fired() || error.find("died holding the mutex") != std::string::npos)
        << error;
    EXPECT_LT(killed_at.load(), pieces) << "the reader finished before it was stopped";
    EXPECT_LT(returned - Clock::time_point(Clock::duration(killed.load())), 5s)
        << "the writer's send took that long to end after its reader was killed";
  }
  set_interrupted(false);
  EXPECT_NE(error.find("test ring (writer)"), std::string::npos) << error;
  bool ok = true;
  const std::string status = reader.wait(&ok);
  EXPECT_NE(status.find("signal 9"), std::string::npos) << status;
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + name));
}

// shm_condvar's monitor outlives a peer killed while holding its mutex: a lock, and a sleeping
// wait that must re-take the mutex when its slice ends, both end with an error naming the object
// instead of a hang; and the mutex is usable afterwards. (Boost.Interprocess's mutex is not robust
// and its condition re-takes the mutex with no time limit: this hung the kill test in CI.)
struct MonitorRegion {
  alignas(CondvarWait::Shared) std::byte shared[sizeof(CondvarWait::Shared)];
  std::atomic<std::uint32_t> waiter_checks{0};
  std::atomic<std::uint32_t> locked{0};
};

TEST(CondvarMonitor, APeerKilledHoldingTheMutexEndsWaitsWithAnErrorNotAHang) {
  SharedRegion<MonitorRegion> region;
  auto* shared = new (region->shared) CondvarWait::Shared;
  CondvarWait policy{TransportOptions{}};
  const std::atomic<std::uint32_t> word{0};
  // 1. We sleep on the condition; the peer takes the mutex our wait released and dies with it.
  ChildProcess holder("holder", [&] {
    // The waiter checks ready() once before the mutex and then under it, just before it sleeps.
    while (region->waiter_checks.load() < 2) std::this_thread::sleep_for(1ms);
    shared->lock("test monitor (holder)");  // granted once the waiter sleeps
    region->locked.store(1);
    ::raise(SIGKILL);
  });
  std::string error;
  {
    Deadline deadline(10s);
    try {
      policy.wait(
          *shared, RingEvent::kData, word,
          [&] {
            region->waiter_checks.fetch_add(1);
            return false;
          },
          "test monitor (waiter)");
    } catch (const std::system_error& e) {
      error = e.what();
    }
  }
  bool ok = true;
  EXPECT_NE(holder.wait(&ok).find("signal 9"), std::string::npos);
  EXPECT_EQ(region->locked.load(), 1u);
  EXPECT_NE(error.find("test monitor (waiter)"), std::string::npos) << error;
  EXPECT_NE(error.find("died holding the mutex"), std::string::npos) << error;
  // 2. The peer dies holding the mutex; our next notify (a lock) says so.
  {
    ChildProcess holder2("holder", [&] {
      shared->lock("test monitor (holder)");
      ::raise(SIGKILL);
    });
    (void)holder2.wait(&ok);
  }
  error.clear();
  {
    Deadline deadline(10s);
    try {
      policy.notify(*shared, RingEvent::kSpace, "test monitor (notifier)",
                    [](std::uint32_t) { return nullptr; });
    } catch (const std::system_error& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("test monitor (notifier)"), std::string::npos) << error;
    // 3. The mutex was made consistent and released: it serves the next locker.
    EXPECT_NO_THROW(policy.notify(*shared, RingEvent::kSpace, "test monitor (notifier)",
                                  [](std::uint32_t) { return nullptr; }));
  }
}

TEST(SlotRing, SpinYieldsWithBothEndsOnOneCpu) {
  // Both threads pinned to one CPU: with same_cpu the spinner yields, so the run finishes quickly
  // instead of waiting out a scheduler slice per message.
  Deadline deadline(kTestDeadline);
  TransportOptions options;
  options.same_cpu = true;
  for (const RingGeometry& g : {kLines, kPages}) {
    SCOPED_TRACE(describe(g));
    RingFixture<SpinWait> ring(g, 0, options);
    const int cpu = default_cpu_pair().producer;
    cpu_set_t saved;
    CPU_ZERO(&saved);
    ASSERT_EQ(::sched_getaffinity(0, sizeof saved, &saved), 0);
    pin_to_cpu(cpu);
    const std::size_t size = 2 * g.payload() + 9;  // three pieces, the last partly empty
    std::vector<std::size_t> sizes(2000, size);
    sizes.push_back(3 * ring_payload(g));             // and one larger than the ring
    const std::string problem = stream(ring, sizes);  // the writer thread inherits the pinning
    ::sched_setaffinity(0, sizeof saved, &saved);
    EXPECT_EQ(problem, "");
  }
}

TEST(SlotRingGeometry, RingForAMessageSizeFollowsTheRules) {
  for (std::size_t m :
       {std::size_t{0}, std::size_t{1}, std::size_t{56}, std::size_t{64}, std::size_t{1024},
        std::size_t{1025}, std::size_t{4096}, std::size_t{65536}, std::size_t{256} << 10,
        std::size_t{512} << 10, std::size_t{1} << 20, std::size_t{64} << 20}) {
    SCOPED_TRACE("message of " + std::to_string(m) + " bytes");
    const RingGeometry g = ring_geometry_for(m);
    // One-line pieces up to 1 KiB; above, a quarter of the message rounded up to a power of two,
    // 4 to 16 KiB.
    const std::uint32_t piece = m <= kLinePiecesUpTo
                                    ? 64u
                                    : static_cast<std::uint32_t>(std::clamp<std::size_t>(
                                          std::bit_ceil(m) / 4, 4096, 16384));
    EXPECT_EQ(g.piece_bytes, piece);
    EXPECT_EQ(g.inline_header(), m <= kLinePiecesUpTo);
    EXPECT_EQ(g.payload(), m <= kLinePiecesUpTo ? 56u : piece);
    // A power of two of pieces, 64 KiB to 1 MiB of them.
    EXPECT_TRUE(std::has_single_bit(g.pieces));
    const std::size_t piece_area = std::size_t{g.pieces} * g.piece_bytes;
    EXPECT_GE(piece_area, std::size_t{64} << 10);
    EXPECT_LE(piece_area, std::size_t{1} << 20);
    // Room for four messages wherever the 1 MiB cap allows it.
    if (4 * g.pieces_for(m) * g.piece_bytes <= (std::size_t{1} << 20)) {
      EXPECT_GE(g.pieces, 4 * g.pieces_for(m));
    }
    // The reader publishes every 16 KiB of pieces, or every quarter ring when that is less.
    EXPECT_EQ(g.publish_every, std::min<std::size_t>(g.pieces / 4, (16u << 10) / g.piece_bytes));
    EXPECT_LT(g.publish_every, g.pieces);
    // Headers on their own lines for pieces larger than a line only.
    EXPECT_EQ(g.bytes(), piece_area + (g.inline_header() ? 0 : std::size_t{64} * g.pieces));
  }
  EXPECT_EQ(ring_geometry_for(64).pieces, 1024u);  // 64 KiB of one-line pieces
  EXPECT_EQ(ring_geometry_for(64).publish_every, 256u);
  EXPECT_EQ(ring_geometry_for(1025).pieces, 16u);  // 64 KiB of 4 KiB pieces
  EXPECT_EQ(ring_geometry_for(4096).piece_bytes, 4096u);
  EXPECT_EQ(ring_geometry_for(32768).piece_bytes, 8192u);
  EXPECT_EQ(ring_geometry_for(65536).piece_bytes, 16384u);
  EXPECT_EQ(ring_geometry_for(65536).pieces, 16u);        // four messages: 256 KiB of 16 KiB pieces
  EXPECT_EQ(ring_geometry_for(65536).publish_every, 1u);  // every 16 KiB
  EXPECT_EQ(ring_geometry_for(std::size_t{64} << 20).pieces, 64u);  // capped at 1 MiB
}

TEST(SlotRingGeometry, PiecesForCountsEveryPieceAMessageTakes) {
  EXPECT_EQ(kLines.pieces_for(0), 1u);  // an empty message still takes one
  EXPECT_EQ(kLines.pieces_for(1), 1u);
  EXPECT_EQ(kLines.pieces_for(56), 1u);
  EXPECT_EQ(kLines.pieces_for(57), 2u);
  EXPECT_EQ(kPages.pieces_for(4096), 1u);
  EXPECT_EQ(kPages.pieces_for(4097), 2u);
  // Test rings publish every quarter ring, at least every piece.
  EXPECT_EQ(kLines.publish_every, 2u);
  EXPECT_EQ(kPages.publish_every, 1u);
  EXPECT_EQ(ring_geometry(64, 256).publish_every, 64u);
}

// No wake-up is lost: a reader that sleeps at every wait (same_cpu: no spin) while the writer
// streams flat out, and two threads answering each other, finish without a single sleep ending by
// its wait slice (a notify missing, or spent on a sleeper it was not for, shows as such a sleep).
TEST(SlotRingFutex, NoWakeUpIsLostInAStreamOrARoundTrip) {
  TransportOptions sleeper;
  sleeper.same_cpu = true;  // FutexWait sleeps at once: every wait is a sleep or a ready word
  const Deadline deadline(kTestDeadline);
  const std::uint64_t expired_before = FutexWait::slices_expired();
  {
    RingFixture<FutexWait> ring(ring_geometry(64, 64), 0, sleeper);
    constexpr int kMessages = 20'000;
    std::thread writer([&] {
      for (int seq = 0; seq < kMessages; ++seq) ring.writer->send(message(seq, 48));
    });
    std::vector<std::byte> got(48);
    int bad = 0;
    for (int seq = 0; seq < kMessages; ++seq) {
      ring.reader->recv(got);
      if (got != message(seq, 48)) ++bad;
    }
    writer.join();
    EXPECT_EQ(bad, 0);
  }
  {
    RingFixture<FutexWait> down(ring_geometry(64, 64), 0, sleeper);
    RingFixture<FutexWait> up(ring_geometry(64, 64), 0, sleeper);
    constexpr int kRoundTrips = 5'000;
    std::thread echo([&] {
      std::vector<std::byte> buf(48);
      for (int i = 0; i < kRoundTrips; ++i) {
        down.reader->recv(buf);
        up.writer->send(buf);
      }
    });
    std::vector<std::byte> reply(48);
    int bad = 0;
    for (int seq = 0; seq < kRoundTrips; ++seq) {
      down.writer->send(message(seq, 48));
      up.reader->recv(reply);
      if (reply != message(seq, 48)) ++bad;
    }
    echo.join();
    EXPECT_EQ(bad, 0);
  }
  EXPECT_EQ(FutexWait::slices_expired() - expired_before, 0u)
      << "sleeps that ended by their " << kWaitSlice.count() << " ms slice: lost wake-ups";
}

TEST(ShmSegment, LeavesNoNameBehindAndIsZeroed) {
  const std::string name = unique_name();
  ShmSegment segment(name, 10000);
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + name));
  ASSERT_GE(segment.size(), 10000u);
  for (std::size_t i = 0; i < segment.size(); ++i) ASSERT_EQ(segment.data()[i], std::byte{0});
}

TEST(ShmSegment, ErrorNamesTheObject) {
  try {
    ShmSegment segment("bad/name", 4096);  // a slash inside a POSIX shm name is invalid
    FAIL() << "a bad name was accepted";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad/name"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ipcbench
