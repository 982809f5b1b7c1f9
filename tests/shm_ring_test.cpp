// SpscRing: framing, wrap-around, messages larger than the ring, and a two-thread stress that
// checks every byte, for every wait policy. Threads, not processes, so the thread sanitizer can
// follow it.
#include "transports/os/shm_ring.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include "harness/cpus.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

// The byte at `index` of message `seq`: differs between neighbouring messages and offsets.
std::byte pattern(std::uint64_t seq, std::size_t index) {
  return static_cast<std::byte>((seq * 131 + index * 7 + (index >> 8)) & 0xff);
}

std::vector<std::byte> message(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> m(size);
  for (std::size_t i = 0; i < size; ++i) m[i] = pattern(seq, i);
  return m;
}

// One ring in its own shared memory segment, with a writer view and a reader view.
template <typename Wait>
struct RingFixture {
  explicit RingFixture(std::size_t capacity, TransportOptions options = {})
      : segment(unique_name(), SpscRing<Wait>::bytes_for(capacity)) {
    SpscRing<Wait>::create(segment.data(), capacity);
    writer.emplace(segment.data(), Wait(options), "test ring (writer)");
    reader.emplace(segment.data(), Wait(options), "test ring (reader)");
  }
  ShmSegment segment;
  std::optional<SpscRing<Wait>> writer, reader;
};

template <typename Wait>
class SpscRingTest : public ::testing::Test {};
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
TYPED_TEST_SUITE(SpscRingTest, Policies, PolicyNames);

TYPED_TEST(SpscRingTest, WrapsAroundManyTimesOnOneThread) {
  RingFixture<TypeParam> ring(128);
  // Frames of 8 + 40 bytes do not divide 128, so the frames start at every offset of the ring and
  // payloads are split by the wrap-around.
  std::vector<std::byte> got(40);
  for (std::uint64_t seq = 0; seq < 200; ++seq) {
    ring.writer->send(message(seq, 40));
    ring.reader->recv(got);
    ASSERT_EQ(got, message(seq, 40)) << "message " << seq;
  }
}

TYPED_TEST(SpscRingTest, CarriesEverySmallSizeIncludingEmpty) {
  RingFixture<TypeParam> ring(256);
  for (std::size_t size = 0; size <= 200; ++size) {
    ring.writer->send(message(size, size));
    std::vector<std::byte> got(size);
    ring.reader->recv(got);
    ASSERT_EQ(got, message(size, size)) << "size " << size;
  }
}

TYPED_TEST(SpscRingTest, StreamsMessagesLargerThanTheRing) {
  RingFixture<TypeParam> ring(128);
  const std::vector<std::size_t> sizes = {121, 128, 129, 1000, 4096, 70001, 10, 300000};
  std::thread writer([&] {
    for (std::size_t i = 0; i < sizes.size(); ++i) ring.writer->send(message(i, sizes[i]));
  });
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    std::vector<std::byte> got(sizes[i]);
    ring.reader->recv(got);
    EXPECT_EQ(got, message(i, sizes[i])) << "size " << sizes[i];
  }
  writer.join();
}

// Two threads, thousands of messages of random sizes (some larger than the ring), every byte
// checked against its sequence number.
TYPED_TEST(SpscRingTest, TwoThreadStressDeliversEveryByteInOrder) {
  RingFixture<TypeParam> ring(1024);
  constexpr int kMessages = 20'000;
  auto size_of = [](std::mt19937& rng) {
    const std::size_t r = rng();
    return (r % 16 == 0) ? r % 5000 : r % 300;  // mostly small, some over the ring's 1024 bytes
  };
  std::thread writer([&] {
    std::mt19937 rng(42);
    std::vector<std::byte> buf;
    for (int seq = 0; seq < kMessages; ++seq) {
      const std::size_t size = size_of(rng);
      buf.resize(size);
      for (std::size_t i = 0; i < size; ++i) buf[i] = pattern(static_cast<std::uint64_t>(seq), i);
      ring.writer->send(buf);
    }
  });
  std::mt19937 rng(42);
  std::vector<std::byte> got;
  int bad = 0;
  for (int seq = 0; seq < kMessages; ++seq) {
    got.resize(size_of(rng));
    ring.reader->recv(got);
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i] != pattern(static_cast<std::uint64_t>(seq), i)) {
        ++bad;
        break;
      }
    }
  }
  writer.join();
  EXPECT_EQ(bad, 0);
}

TYPED_TEST(SpscRingTest, SizeMismatchIsAnErrorNamingTheObject) {
  RingFixture<TypeParam> ring(256);
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

TYPED_TEST(SpscRingTest, WaitsEndWhenInterrupted) {
  RingFixture<TypeParam> ring(128);
  std::vector<std::byte> got(16);
  set_interrupted(true);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(ring.reader->recv(got), std::system_error);  // empty: would wait for ever
  ring.writer->send(message(0, 100));
  EXPECT_THROW(ring.writer->send(message(1, 100)), std::system_error);  // full
  set_interrupted(false);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(SpscRing, SpinYieldsWithBothEndsOnOneCpu) {
  // Both threads pinned to one CPU: with same_cpu the spinner yields, so the run finishes quickly
  // instead of waiting out a scheduler slice per message.
  TransportOptions options;
  options.same_cpu = true;
  RingFixture<SpinWait> ring(128, options);
  const int cpu = default_cpu_pair().producer;
  cpu_set_t saved;
  CPU_ZERO(&saved);
  ASSERT_EQ(::sched_getaffinity(0, sizeof saved, &saved), 0);
  pin_to_cpu(cpu);
  std::thread writer([&] {
    pin_to_cpu(cpu);
    for (int seq = 0; seq < 2000; ++seq) ring.writer->send(message(seq, 100));
  });
  std::vector<std::byte> got(100);
  for (int seq = 0; seq < 2000; ++seq) {
    ring.reader->recv(got);
    EXPECT_EQ(got, message(seq, 100));
  }
  writer.join();
  ::sched_setaffinity(0, sizeof saved, &saved);
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

TEST(SpscRing, CapacityHoldsTwoFramesWithinBounds) {
  EXPECT_EQ(ring_capacity_for(64), std::size_t{64} << 10);
  EXPECT_EQ(ring_capacity_for(65536), std::size_t{256} << 10);
  EXPECT_EQ(ring_capacity_for(std::size_t{64} << 20), std::size_t{1} << 20);
}

}  // namespace
}  // namespace ipcbench
