// The broadcast conformance suite, over every transport whose registry entry has a broadcast form
// (no list of ids): every reader gets every byte in order (threads and processes), wrap-around with
// one-line and 4 KiB pieces, a message larger than the ring refused, the writer held back by the
// slowest reader, interruption, no fd or name left behind; and the ring's geometry.
#include "transports/os/shm_broadcast.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/shm_wait.hpp"
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

// Sizes vary with the sequence number, so messages start at every piece of the ring and some
// straddle its end; `scale` stretches them for rings of 4 KiB pieces.
std::size_t size_of(std::uint64_t seq, std::size_t scale = 1) { return (seq * 37) % 300 * scale; }

// The largest message a ring takes: the payload of all its pieces (messages are never split).
std::size_t largest_message(const RingGeometry& g) { return std::size_t{g.pieces} * g.payload(); }

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
  ShmBroadcastPtr make(std::size_t readers, std::size_t message_bytes = 64) const {
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = message_bytes;
    options.same_cpu = true;
    ShmBroadcastPtr ring = form().make(options, readers);
    EXPECT_FALSE(std::filesystem::exists("/dev/shm/" + options.name));
    return ring;
  }
  // The geometry make() gives the ring.
  RingGeometry geometry(std::size_t readers, std::size_t message_bytes = 64) const {
    return broadcast_geometry_for(GetParam().c_str(), message_bytes, readers);
  }

 private:
  std::size_t fds_before_ = 0;
};

TEST_P(ShmBroadcastTest, WrapsAroundOnOneThreadForEveryReader) {
  // The ring for 64-byte messages: 1024 one-line pieces, messages of 1 to 6 pieces. For 8 KiB
  // messages: 16 pieces of 4 KiB, messages of 1 to 5 pieces. 2000 messages pass either ring several
  // times.
  for (const auto& [message_bytes, scale] : {std::pair<std::size_t, std::size_t>{64, 1},
                                             std::pair<std::size_t, std::size_t>{8192, 61}}) {
    SCOPED_TRACE("ring for " + std::to_string(message_bytes) + "-byte messages");
    ShmBroadcastPtr ring = make(2, message_bytes);
    ASSERT_NE(ring, nullptr);
    ASSERT_LE(size_of(299, scale), largest_message(geometry(2, message_bytes)));
    std::vector<std::byte> got;
    for (std::uint64_t seq = 0; seq < 2000; ++seq) {
      const std::size_t size = size_of(seq, scale);
      ring->write(message(seq, size));
      for (std::size_t r = 0; r < 2; ++r) {
        got.assign(size, std::byte{0});
        ring->read(r, got);
        ring->release(r);
        ASSERT_EQ(got, message(seq, size)) << "reader " << r << " message " << seq;
      }
    }
    ring->wait_released();  // returns at once: everything was released
  }
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
  for (std::size_t message_bytes : {std::size_t{64}, std::size_t{8192}}) {
    SCOPED_TRACE("ring for " + std::to_string(message_bytes) + "-byte messages");
    ShmBroadcastPtr ring = make(1, message_bytes);
    const std::size_t largest = largest_message(geometry(1, message_bytes));  // fills every piece
    for (std::uint64_t seq = 1; seq <= 2; ++seq) {  // the second starts at another piece
      ring->write(message(seq, largest));
      std::vector<std::byte> got(largest);
      ring->read(0, got);
      ring->release(0);
      EXPECT_EQ(got, message(seq, largest));
    }
    try {
      ring->write(message(3, largest + 1));
      FAIL() << "a message larger than the ring was accepted";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EMSGSIZE);
      const std::string what = e.what();
      EXPECT_NE(what.find(std::to_string(largest + 1) + " bytes"), std::string::npos) << what;
      EXPECT_NE(what.find("/dev/shm/"), std::string::npos) << what;
    }
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
  constexpr std::size_t kBytes = 1000;  // 18 one-line pieces
  const RingGeometry g = geometry(2);
  const std::uint64_t fit = g.pieces / g.pieces_for(kBytes);  // messages the ring holds
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
  EXPECT_THROW(ring->read(0, got), std::system_error);    // empty: would wait for ever
  ring->write(message(0, largest_message(geometry(2))));  // full, and nobody released it
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

// Readers of a broadcast ring sleep on the same piece's word, each announced by its own flag: a
// wake for one must not leave another asleep (FUTEX_WAKE woke one waiter, which then lowered its
// own flag, and the other slept out its wait slice). No sleep ends by its slice.
TEST(ShmBroadcastFutex, ReadersAsleepOnOnePieceAreAllWoken) {
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = 64;
  options.same_cpu = true;  // every wait of FutexWait is a sleep
  constexpr std::size_t kReaders = 3;
  constexpr int kRounds = 500;
  const std::uint64_t expired_before = FutexWait::slices_expired();
  ShmBroadcastPtr ring = make_broadcast_ring<FutexWait>(options, "shm_futex", kReaders);
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (std::size_t r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      std::vector<std::byte> got(64);
      try {
        for (int i = 0; i < kRounds; ++i) {
          ring->read(r, got);
          if (got != message(i, 64)) bad.fetch_add(1);
          ring->release(r);
        }
      } catch (const std::exception&) {
        bad.fetch_add(1);
      }
    });
  }
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) {
    ring->write(message(i, 64));
    ring->wait_released();
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(FutexWait::slices_expired() - expired_before, 0u)
      << "sleeps that ended by their wait slice (lost wake-ups); " << kRounds << " rounds took "
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s";
}

TEST(ShmBroadcastGeometry, HoldsAtLeastOneMessageWithinTheLimit) {
  // Small messages: the pair ring's geometry.
  for (std::size_t m : {std::size_t{64}, std::size_t{4096}, std::size_t{65536}}) {
    const RingGeometry g = broadcast_geometry_for("shm_spin", m, 3);
    const RingGeometry pair = ring_geometry_for(m);
    EXPECT_EQ(g.piece_bytes, pair.piece_bytes) << m;
    EXPECT_EQ(g.pieces, pair.pieces) << m;
  }
  // A message larger than the pair ring gets a ring that holds it whole (a power of two).
  const std::size_t big = std::size_t{4} << 20;
  const RingGeometry g = broadcast_geometry_for("shm_spin", big, 2);
  EXPECT_EQ(g.piece_bytes, 16384u);  // a quarter of the message, at most 16 KiB
  EXPECT_EQ(g.pieces, 256u);
  EXPECT_GE(std::size_t{g.pieces} * g.payload(), big);
}

TEST(ShmBroadcastGeometry, RefusesNoReadersTooManyOrARingOverTheLimit) {
  EXPECT_THROW((void)broadcast_geometry_for("shm_spin", 64, 0), std::invalid_argument);
  EXPECT_THROW((void)broadcast_geometry_for("shm_spin", 64, kMaxBroadcastReaders + 1),
               std::invalid_argument);
  try {
    (void)broadcast_geometry_for("shm_spin", std::size_t{2} << 30, 1);
    FAIL() << "a ring over 1 GiB was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("shm_spin"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ShmBroadcastTest, ::testing::ValuesIn(broadcast_ids()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param;
                         });

}  // namespace
}  // namespace ipcbench
