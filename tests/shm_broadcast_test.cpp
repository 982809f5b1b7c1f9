// The broadcast conformance suite, over every transport whose registry entry has a broadcast form
// (no list of ids): every reader gets every byte in order (threads and processes), wrap-around, a
// message larger than the ring, the writer held back by the slowest reader, interruption, no fd or
// name left behind.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

std::byte pattern(std::uint64_t seq, std::size_t index) {
  return static_cast<std::byte>((seq * 131 + index * 7 + (index >> 8)) & 0xff);
}

std::vector<std::byte> message(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> m(size);
  for (std::size_t i = 0; i < size; ++i) m[i] = pattern(seq, i);
  return m;
}

// Sizes vary with the sequence number, so frames start at many offsets and some are split by
// the wrap-around.
std::size_t size_of(std::uint64_t seq) { return (seq * 37) % 300; }

std::vector<std::string> broadcast_ids() {
  std::vector<std::string> ids;
  for (const TransportInfo& info : all_transports()) {
    if (info.broadcast != nullptr) ids.emplace_back(info.id);
  }
  return ids;
}

class ShmBroadcastTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { fds_before_ = test::open_fd_count(); }
  // Whatever a test made is gone with it: the mapping holds no descriptor.
  void TearDown() override { EXPECT_EQ(test::open_fd_count(), fds_before_); }

  const BroadcastForm& form() const { return *find_transport(GetParam())->broadcast; }
  // Several threads or processes on this small machine: spinners yield rather than wait out a
  // scheduler slice. The name is removed before make() returns.
  ShmBroadcastPtr make(std::size_t readers, std::size_t message_bytes = 64) {
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = message_bytes;
    options.same_cpu = true;
    ShmBroadcastPtr ring = form().make(options, readers);
    EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + options.name));
    return ring;
  }

 private:
  std::size_t fds_before_ = 0;
};

TEST_P(ShmBroadcastTest, WrapsAroundOnOneThreadForEveryReader) {
  ShmBroadcastPtr ring = make(2);
  ASSERT_NE(ring, nullptr);
  std::vector<std::byte> got;
  // 2000 frames of up to 312 bytes pass a 64 KiB ring several times.
  for (std::uint64_t seq = 0; seq < 2000; ++seq) {
    ring->write(message(seq, size_of(seq)));
    for (std::size_t r = 0; r < 2; ++r) {
      got.assign(size_of(seq), std::byte{0});
      ring->read(r, got);
      ring->release(r);
      ASSERT_EQ(got, message(seq, size_of(seq))) << "reader " << r << " message " << seq;
    }
  }
  ring->wait_released();  // returns at once: everything was released
}

TEST_P(ShmBroadcastTest, ThreadReadersGetEveryByteInOrder) {
  constexpr std::size_t kReaders = 3;
  constexpr std::uint64_t kMessages = 3000;
  ShmBroadcastPtr ring = make(kReaders);
  std::vector<int> bad(kReaders, 0);
  std::vector<std::thread> readers;
  for (std::size_t r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::vector<std::byte> got;
      for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
        got.resize(size_of(seq));
        ring->read(r, got);
        ring->release(r);
        if (got != message(seq, got.size())) ++bad[r];
      }
    });
  }
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) ring->write(message(seq, size_of(seq)));
  ring->wait_released();
  for (auto& t : readers) t.join();
  for (std::size_t r = 0; r < kReaders; ++r) EXPECT_EQ(bad[r], 0) << "reader " << r;
}

TEST_P(ShmBroadcastTest, ProcessReadersGetEveryByteInOrder) {
  constexpr std::size_t kReaders = 3;
  constexpr std::uint64_t kMessages = 2000;
  ShmBroadcastPtr ring = make(kReaders);
  // Each reader says it finished; the harness's watchdog turns a reader that dies or sticks into
  // a failure (it kills the readers and interrupts the writer's wait) instead of a hang.
  SharedRegion<std::array<std::atomic<std::uint32_t>, kReaders>> done;
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (std::size_t r = 0; r < kReaders; ++r) {
    children.push_back(std::make_unique<ChildProcess>("reader " + std::to_string(r), [&, r] {
      ring->attach();
      std::vector<std::byte> got;
      for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
        got.resize(size_of(seq));
        ring->read(r, got);
        ring->release(r);
        if (got != message(seq, got.size())) throw std::runtime_error("wrong bytes");
      }
      (*done)[r].store(1);
    }));
  }
  std::vector<Watched> watched;
  for (std::size_t r = 0; r < kReaders; ++r) {
    watched.push_back({children[r]->pid(), "reader " + std::to_string(r), &(*done)[r]});
  }
  std::atomic<std::uint64_t> progress{0};
  {
    Watchdog watchdog(watched, std::chrono::milliseconds(10'000), &progress);
    ring->attach();
    try {
      for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
        ring->write(message(seq, size_of(seq)));
        progress.store(seq + 1, std::memory_order_relaxed);
      }
      ring->wait_released();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "writer: " << e.what() << "; " << watchdog.reason();
    }
  }
  set_interrupted(false);
  for (auto& child : children) {
    bool ok = false;
    const std::string status = child->wait(&ok);
    EXPECT_TRUE(ok) << status;
  }
}

TEST_P(ShmBroadcastTest, RefusesAMessageLargerThanTheRing) {
  ShmBroadcastPtr ring = make(1);
  const std::size_t largest = ring->capacity() - 8;  // one frame fills the ring exactly
  ring->write(message(1, largest));
  std::vector<std::byte> got(largest);
  ring->read(0, got);
  ring->release(0);
  EXPECT_EQ(got, message(1, largest));
  try {
    ring->write(message(2, largest + 1));
    FAIL() << "a message larger than the ring was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EMSGSIZE);
    const std::string what = e.what();
    EXPECT_NE(what.find(std::to_string(largest + 1) + " bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("/dev/shm/"), std::string::npos) << what;
  }
}

TEST_P(ShmBroadcastTest, SizeMismatchIsAnError) {
  ShmBroadcastPtr ring = make(1);
  ring->write(message(1, 10));
  std::vector<std::byte> got(12);
  try {
    ring->read(0, got);
    FAIL() << "a 10-byte message was accepted into a 12-byte buffer";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EMSGSIZE);
    EXPECT_NE(std::string(e.what()).find("10 bytes"), std::string::npos) << e.what();
  }
}

TEST_P(ShmBroadcastTest, TheSlowestReaderHoldsTheWriterBack) {
  ShmBroadcastPtr ring = make(2);
  constexpr std::size_t kBytes = 1000;                // frames of 1008 bytes
  const std::uint64_t fit = ring->capacity() / 1008;  // frames the ring holds
  const std::uint64_t total = 2 * fit;
  std::atomic<std::uint64_t> written{0}, fast_read{0};
  std::thread writer([&] {
    for (std::uint64_t seq = 0; seq < total; ++seq) {
      ring->write(message(seq, kBytes));
      written.store(seq + 1);
    }
  });
  int bad = 0;
  std::thread fast([&] {
    std::vector<std::byte> got(kBytes);
    for (std::uint64_t seq = 0; seq < total; ++seq) {
      ring->read(0, got);
      ring->release(0);
      if (got != message(seq, kBytes)) ++bad;
      fast_read.store(seq + 1);
    }
  });
  // Reader 1 has read nothing: the writer stops after `fit` messages however fast reader 0 is.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fast_read.load() < fit && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(fast_read.load(), fit);
  EXPECT_EQ(written.load(), fit);
  std::vector<std::byte> got(kBytes);
  for (std::uint64_t seq = 0; seq < total; ++seq) {
    ring->read(1, got);
    ring->release(1);
    if (got != message(seq, kBytes)) ++bad;
  }
  writer.join();
  fast.join();
  EXPECT_EQ(written.load(), total);
  EXPECT_EQ(bad, 0);
}

TEST_P(ShmBroadcastTest, WaitsEndWhenInterrupted) {
  ShmBroadcastPtr ring = make(2);
  std::vector<std::byte> got(16);
  set_interrupted(true);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(ring->read(0, got), std::system_error);  // empty: would wait for ever
  ring->write(message(0, ring->capacity() - 8));        // full, and nobody released it
  EXPECT_THROW(ring->write(message(1, 16)), std::system_error);
  EXPECT_THROW(ring->wait_released(), std::system_error);
  set_interrupted(false);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_P(ShmBroadcastTest, RefusesNoReadersOrTooMany) {
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = 64;
  EXPECT_THROW((void)form().make(options, 0), std::invalid_argument);
  EXPECT_THROW((void)form().make(options, kMaxBroadcastReaders + 1), std::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + options.name));
}

TEST_P(ShmBroadcastTest, TakesAsManyReadersAsItsLimit) {
  // Every reader index up to the most a ring takes can be built and used.
  ShmBroadcastPtr ring = make(kMaxBroadcastReaders, 16);
  EXPECT_EQ(ring->readers(), kMaxBroadcastReaders);
  ring->write(message(3, 16));
  std::vector<std::byte> got(16);
  for (std::size_t r : {std::size_t{0}, kMaxBroadcastReaders - 1}) {
    ring->read(r, got);
    ring->release(r);
    EXPECT_EQ(got, message(3, 16)) << "reader " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ShmBroadcastTest, ::testing::ValuesIn(broadcast_ids()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

}  // namespace
}  // namespace ipcbench
