// A Boost.Interprocess mutex left locked by a killed process: the next lock() throws after the
// build's timeout instead of hanging (BOOST_INTERPROCESS_ENABLE_TIMEOUT_WHEN_LOCKING).
#include <gtest/gtest.h>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <new>
#include <type_traits>

#include "harness/process.hpp"

namespace ipcbench {
namespace {

struct Shared {
  boost::interprocess::interprocess_mutex mutex;
  std::atomic<std::uint32_t> locked{0};
};

TEST(BoostLock, AMutexHeldByAKilledProcessTimesOutInsteadOfHanging) {
  SharedRegion<std::aligned_storage_t<sizeof(Shared), alignof(Shared)>> memory;
  auto* shared = new (&*memory) Shared;  // process-shared (Boost's default on Linux)
  {
    ChildProcess holder("holder", [&] {
      shared->mutex.lock();
      shared->locked.store(1);
      ::raise(SIGKILL);  // dies holding the mutex
    });
    bool ok = false;
    (void)holder.wait(&ok);
  }
  ASSERT_EQ(shared->locked.load(), 1u);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(shared->mutex.lock(), boost::interprocess::interprocess_exception);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(1500));
  EXPECT_LT(waited, std::chrono::seconds(10));
}

}  // namespace
}  // namespace ipcbench
