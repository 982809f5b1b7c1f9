// How a side of an SpscRing waits for the other: SpinWait, FutexWait, SemWait, CondvarWait.
// Each policy has a `Shared` part that lives in the ring's segment, and two calls:
//   wait(shared, event, word, ready, object): blocks until ready(word) is true and returns the
//   value
//     of `word` that satisfied it; `word` is the index the other side moves (head for kData, tail
//     for kSpace). Every loop checks interrupted() (the harness's watchdog) and then throws
//     std::system_error naming `object`; sleeping waits are timed for that reason.
//   notify(shared, event, word, object): called by the other side right after it stored `word`.
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/sync/interprocess_condition.hpp>
#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <boost/interprocess/sync/interprocess_semaphore.hpp>
#include <boost/interprocess/sync/scoped_lock.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

#include "transports/os/boost_ipc.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// The spin-loop hint: lets the sibling hyperthread run and keeps the loop from flooding the
// memory system with speculative loads of the watched line.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// A flag the sleeping side raises before it sleeps; the notifier pays a system call only when it
// finds the flag raised. On its own line: the notifier reads it after every store of the index,
// and a line nobody writes stays in the notifier's cache.
struct alignas(kFalseSharingBytes) SleepFlag {
  std::atomic<std::uint32_t> raised{0};
};

// Busy-polls the index with a pause instruction. With both ends on one CPU the peer can only run
// when the spinner gives the CPU up, so the loop calls sched_yield() instead of pausing: a spin
// that never yields would hold the CPU for a whole scheduler slice per message.
class SpinWait {
 public:
  struct Shared {};
  explicit SpinWait(const TransportOptions& options) noexcept : yield_(options.same_cpu) {}

  template <typename Ready>
  std::uint32_t wait(Shared&, RingEvent, const std::atomic<std::uint32_t>& word, Ready&& ready,
                     const std::string& object) {
    for (std::uint32_t i = 1;; ++i) {
      const std::uint32_t value = word.load(std::memory_order_acquire);
      if (ready(value)) return value;
      if (yield_) {
        ::sched_yield();
      } else {
        cpu_relax();
      }
      if (i % 256 == 0) throw_if_interrupted("spin", object);
    }
  }
  void notify(Shared&, RingEvent, std::atomic<std::uint32_t>&, const std::string&) noexcept {}

 private:
  bool yield_;
};

// Spins for up to kSpin (a peer that is running answers well within it), then sleeps in
// FUTEX_WAIT on the index itself. The writer calls FUTEX_WAKE only when the reader raised its
// SleepFlag. Lost wake-ups: the sleeper raises the flag and then reads the index, the notifier
// stores the index and then reads the flag, each pair ordered by a full (seq_cst) fence; so either
// the notifier sees the flag and wakes, or the sleeper sees the new index (and FUTEX_WAIT, which
// compares the index in the kernel, returns at once). With both ends on one CPU it does not spin:
// the peer cannot run while this side spins.
class FutexWait {
 public:
  static constexpr std::chrono::microseconds kSpin{10};
  struct Shared {
    SleepFlag sleeping[2];  // by RingEvent
  };
  explicit FutexWait(const TransportOptions& options) noexcept : spin_(!options.same_cpu) {}

  template <typename Ready>
  std::uint32_t wait(Shared& shared, RingEvent event, std::atomic<std::uint32_t>& word,
                     Ready&& ready, const std::string& object) {
    std::uint32_t value = word.load(std::memory_order_acquire);
    if (ready(value)) return value;
    if (spin_) {
      const auto deadline = std::chrono::steady_clock::now() + kSpin;
      for (std::uint32_t i = 1;; ++i) {
        cpu_relax();
        value = word.load(std::memory_order_acquire);
        if (ready(value)) return value;
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) break;
      }
    }
    std::atomic<std::uint32_t>& flag = shared.sleeping[static_cast<unsigned>(event)].raised;
    while (true) {
      flag.store(1, std::memory_order_seq_cst);
      value = word.load(std::memory_order_seq_cst);
      if (ready(value)) {
        flag.store(0, std::memory_order_relaxed);
        return value;
      }
      futex_wait(word, value, object);
      throw_if_interrupted("futex", object);
    }
  }

  void notify(Shared& shared, RingEvent event, std::atomic<std::uint32_t>& word,
              const std::string& object) {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the index store before the flag load
    std::atomic<std::uint32_t>& flag = shared.sleeping[static_cast<unsigned>(event)].raised;
    if (flag.load(std::memory_order_relaxed) == 0) return;
    if (flag.exchange(0, std::memory_order_relaxed) == 0) return;  // someone else cleared it
    // Not FUTEX_PRIVATE_FLAG: the word is shared between processes.
    if (::syscall(SYS_futex, futex_word(word), FUTEX_WAKE, 1, nullptr, nullptr, 0) < 0) {
      throw_sys_error(errno, "futex(FUTEX_WAKE)", object);
    }
  }

 private:
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  static std::uint32_t* futex_word(std::atomic<std::uint32_t>& word) noexcept {
    return reinterpret_cast<std::uint32_t*>(&word);
  }
  static void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t value,
                         const std::string& object) {
    // Relative timeout (CLOCK_MONOTONIC): the sleeper looks at interrupted() every slice.
    const timespec slice{0, std::chrono::nanoseconds(kWaitSlice).count()};
    if (::syscall(SYS_futex, futex_word(word), FUTEX_WAIT, value, &slice, nullptr, 0) == 0) return;
    const int err = errno;
    // EAGAIN: the index moved before we slept; EINTR: a signal (the watchdog's); ETIMEDOUT: slice.
    if (err != EAGAIN && err != EINTR && err != ETIMEDOUT) throw_sys_error(err, "futex", object);
  }

  bool spin_;
};

// A boost::interprocess::interprocess_semaphore (a process-shared sem_t) per event, posted only
// when the other side announced with its SleepFlag that it sleeps, as for the futex: so each
// raise of the flag is cleared exactly once, by the sleeper or by the one post, and the count
// stays 0 or 1 however long a stream runs (a post per message would grow it without bound).
class SemWait {
 public:
  struct Shared {
    struct alignas(kFalseSharingBytes) Bell {
      SleepFlag flag;
      boost::interprocess::interprocess_semaphore sem{0};
    } bell[2];  // by RingEvent
  };
  explicit SemWait(const TransportOptions&) noexcept {}

  template <typename Ready>
  std::uint32_t wait(Shared& shared, RingEvent event, std::atomic<std::uint32_t>& word,
                     Ready&& ready, const std::string& object) {
    std::uint32_t value = word.load(std::memory_order_acquire);
    if (ready(value)) return value;
    typename Shared::Bell& bell = shared.bell[static_cast<unsigned>(event)];
    while (true) {
      bell.flag.raised.store(1, std::memory_order_seq_cst);
      value = word.load(std::memory_order_seq_cst);
      if (ready(value)) {
        withdraw(bell, object);
        return value;
      }
      if (!timed_wait(bell, object)) withdraw(bell, object);  // a slice without a post
      throw_if_interrupted("sem_timedwait", object);
    }
  }

  void notify(Shared& shared, RingEvent event, std::atomic<std::uint32_t>&,
              const std::string& object) {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // the index store before the flag load
    typename Shared::Bell& bell = shared.bell[static_cast<unsigned>(event)];
    if (bell.flag.raised.load(std::memory_order_relaxed) == 0) return;
    if (bell.flag.raised.exchange(0, std::memory_order_relaxed) == 0) return;
    try {
      bell.sem.post();
    } catch (const boost::interprocess::interprocess_exception& e) {
      rethrow_interprocess(e, "sem_post", object);
    }
  }

 private:
  // True when a post was taken; false after a slice or a signal.
  static bool timed_wait(typename Shared::Bell& bell, const std::string& object) {
    try {
      return bell.sem.timed_wait(wait_slice_deadline());
    } catch (const boost::interprocess::interprocess_exception& e) {
      // Boost turns sem_timedwait's EINTR (the watchdog's signal) into an exception.
      if (e.get_native_error() == EINTR) return false;
      rethrow_interprocess(e, "sem_timedwait", object);
    }
  }
  // Lowers our flag; if the notifier lowered it first, its post is on the way: take it, so the
  // count is back to 0.
  static void withdraw(typename Shared::Bell& bell, const std::string& object) {
    if (bell.flag.raised.exchange(0, std::memory_order_relaxed) != 0) return;
    while (!timed_wait(bell, object)) throw_if_interrupted("sem_timedwait", object);
  }
};

// The textbook monitor: a boost::interprocess::interprocess_mutex and one
// interprocess_condition per event (process-shared pthread objects in the segment). The waiter
// checks the index under the mutex and waits on the condition; the notifier takes the mutex and
// signals after every store of the index, which is what closes the lost-wake-up window.
// Every lock and wait is timed: a peer killed while holding the mutex would otherwise block us
// for ever (the mutex is not robust), and Boost's condition does not return on EINTR.
class CondvarWait {
 public:
  struct Shared {
    boost::interprocess::interprocess_mutex mutex;
    boost::interprocess::interprocess_condition changed[2];  // by RingEvent
  };
  explicit CondvarWait(const TransportOptions&) noexcept {}

  template <typename Ready>
  std::uint32_t wait(Shared& shared, RingEvent event, std::atomic<std::uint32_t>& word,
                     Ready&& ready, const std::string& object) {
    std::uint32_t value = word.load(std::memory_order_acquire);
    if (ready(value)) return value;
    try {
      Lock lock(shared.mutex, boost::interprocess::defer_lock);
      lock_timed(lock, object);
      while (!ready(value = word.load(std::memory_order_acquire))) {
        shared.changed[static_cast<unsigned>(event)].timed_wait(lock, wait_slice_deadline());
        throw_if_interrupted("pthread_cond_timedwait", object);
      }
      return value;
    } catch (const boost::interprocess::interprocess_exception& e) {
      rethrow_interprocess(e, "pthread_cond_timedwait", object);
    }
  }

  void notify(Shared& shared, RingEvent event, std::atomic<std::uint32_t>&,
              const std::string& object) {
    try {
      Lock lock(shared.mutex, boost::interprocess::defer_lock);
      lock_timed(lock, object);
      shared.changed[static_cast<unsigned>(event)].notify_one();
    } catch (const boost::interprocess::interprocess_exception& e) {
      rethrow_interprocess(e, "pthread_cond_signal", object);
    }
  }

 private:
  using Lock = boost::interprocess::scoped_lock<boost::interprocess::interprocess_mutex>;
  static void lock_timed(Lock& lock, const std::string& object) {
    while (!lock.timed_lock(wait_slice_deadline())) {
      throw_if_interrupted("pthread_mutex_timedlock", object);
    }
  }
};

}  // namespace ipcbench
