// How a side of a SlotRing (or a BroadcastRing) waits for the other: SpinWait, FutexWait, SemWait,
// CondvarWait.
// Each policy has a `Shared` part that lives in the ring's segment, and two calls:
//   wait(shared, event, word, ready, object, activity, message_bytes): blocks until ready() is
//     true; message_bytes is the size of the messages in flight (how long the peer may be busy).
//     `word` is the 32-bit word the other side stores before it notifies (a piece's sequence word
//     for kData, the reader's published position for kSpace): a futex sleeps on it. `activity` (may
//     be null) is a word the peer moves while it is busy for us (copying out what we sent): a
//     policy that would sleep spins on as long as it moves. Every loop checks interrupted() (the
//     harness's watchdog) and then throws std::system_error naming `object`; sleeping waits are
//     timed for that reason.
//     `token` says what the sleeper waits for (for kData: the sequence value of the piece), so
//     that a notifier wakes only a sleeper its news is for.
//   notify(shared, event, object, word_for): called by the other side right after it published
//     (for kData: after the last piece of a message). word_for(token) is the word to wake for a
//     sleeper that announced `token`, or null when what was published is not what it waits for
//     (it waits for a later piece): that sleeper stays announced for the notify that concerns it.
//   same_cpu(): both ends share one CPU (a spinner yields instead of pausing).
//   sleeping(shared, event): whether the side waiting on `event` has announced that it sleeps (a
//     relaxed load of a line that only changes when it does; false where the policy cannot tell).
#pragma once

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/sync/interprocess_semaphore.hpp>
#include <cerrno>
#include <chrono>
#include <climits>
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

// The sleeper/notifier handshake needs a store-load fence on both sides (each stores its word and
// then loads the other's). A full fence on the notifier's side costs every message: it waits for
// the notifier's stores to reach the other CPU (measured: two thirds of a 64-byte message's send
// time in a stream). So the fence is made asymmetric with membarrier(2): the notifier orders its
// store and load with a compiler barrier only, and the side about to sleep, which is slow anyway,
// calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full barrier on every CPU that
// runs a registered process at that moment. Each process registers when it attaches a ring
// (register_membarrier()); where the kernel lacks the command, both sides use a full fence.
// True when this process is registered for MEMBARRIER_CMD_GLOBAL_EXPEDITED (registers it now if
// it is not yet; idempotent, a system call or two: not for the hot path).
bool register_membarrier() noexcept;
// Whether the kernel offers it (asked once per process; the same answer in a forked child).
bool membarrier_available() noexcept;
// The sleeper's side: a barrier on every CPU running a registered process, or a full fence.
void heavy_fence(bool asymmetric) noexcept;
// The notifier's side: a compiler barrier when the other side calls heavy_fence(true), a full
// fence otherwise.
inline void light_fence(bool asymmetric) noexcept {
  if (asymmetric) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

// A flag the sleeping side raises before it sleeps, holding kRaised | token (what it waits for);
// the notifier pays a system call only when it finds the flag raised for what it published, and
// lowers it with a compare-and-swap, so it never lowers a flag raised since for something else. On
// its own line: the notifier reads it after every message it publishes, and a line nobody writes
// stays in the notifier's cache.
struct alignas(kFalseSharingBytes) SleepFlag {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  static constexpr std::uint64_t kRaised = std::uint64_t{1} << 32;
  std::atomic<std::uint64_t> raised{0};

  // Raises the flag for `token`.
  void raise(std::uint32_t token) noexcept {
    raised.store(kRaised | token, std::memory_order_relaxed);
  }
  // The notifier: true when the flag was raised for a token word_for() accepts and this call
  // lowered it; `word` is then the word to wake.
  template <typename WordFor>
  bool take(WordFor&& word_for, const std::atomic<std::uint32_t>*& word) noexcept {
    std::uint64_t v = raised.load(std::memory_order_relaxed);
    if (v == 0) return false;
    word = word_for(static_cast<std::uint32_t>(v));
    if (word == nullptr) return false;
    return raised.compare_exchange_strong(v, 0, std::memory_order_relaxed);
  }
};

// Busy-polls the awaited word with a pause instruction. With both ends on one CPU the peer can only
// run when the spinner gives the CPU up, so the loop calls sched_yield() instead of pausing: a spin
// that never yields would hold the CPU for a whole scheduler slice per message.
class SpinWait {
 public:
  struct Shared {};
  explicit SpinWait(const TransportOptions& options) noexcept : yield_(options.same_cpu) {}
  [[nodiscard]] bool same_cpu() const noexcept { return yield_; }

  template <typename Ready>
  void wait(Shared&, RingEvent, const std::atomic<std::uint32_t>&, Ready&& ready,
            const std::string& object, const std::atomic<std::uint32_t>* = nullptr, std::size_t = 0,
            std::uint32_t = 0) {
    for (std::uint32_t i = 1;; ++i) {
      if (ready()) return;
      if (yield_) {
        ::sched_yield();
      } else {
        cpu_relax();
      }
      if (i % 256 == 0) throw_if_interrupted("spin", object);
    }
  }
  template <typename WordFor>
  void notify(Shared&, RingEvent, const std::string&, WordFor&&) noexcept {}
  [[nodiscard]] static bool sleeping(const Shared&, RingEvent) noexcept { return false; }

 private:
  bool yield_;
};

// Spins while the peer is making progress, then sleeps in FUTEX_WAIT on the word itself. It spins
// for kSpin plus the time the peer needs to handle a message of the size in flight at
// kBytesPerNs (a peer that is running answers well within it), and the budget starts again whenever
// the word or the peer's activity word moves: a peer that is copying a long message in or out
// moves them every few microseconds, so this side never sleeps through a copy the peer is doing,
// and pays a cross-CPU wake-up only when the peer is really idle. The writer calls FUTEX_WAKE only
// when the reader raised its SleepFlag. Lost wake-ups: the sleeper raises the flag and then reads
// the word, the notifier stores the word and then reads the flag, each pair ordered by a fence
// (the asymmetric pair heavy_fence/light_fence); so either the notifier sees the flag and wakes,
// or the sleeper sees the new word (and FUTEX_WAIT, which compares the word in the kernel,
// returns at once). With both ends on one CPU it does not spin: the peer cannot run while this
// side spins.
class FutexWait {
 public:
  static constexpr std::chrono::microseconds kSpin{10};
  // The spin also covers the time the peer needs to handle one message of the size in flight
  // (check it, answer it) at this rate: 4 bytes/ns, 1 MiB in 262 us.
  static constexpr std::size_t kBytesPerNs = 4;
  struct Shared {
    SleepFlag sleeping[2];  // by RingEvent
  };
  explicit FutexWait(const TransportOptions& options) noexcept
      : spin_(!options.same_cpu), asymmetric_(register_membarrier()) {}
  [[nodiscard]] bool same_cpu() const noexcept { return !spin_; }

  template <typename Ready>
  void wait(Shared& shared, RingEvent event, const std::atomic<std::uint32_t>& word, Ready&& ready,
            const std::string& object, const std::atomic<std::uint32_t>* activity = nullptr,
            std::size_t message_bytes = 0, std::uint32_t token = 0) {
    if (ready()) return;
    if (spin_) {
      const auto budget = kSpin + std::chrono::nanoseconds(message_bytes / kBytesPerNs);
      auto deadline = std::chrono::steady_clock::now() + budget;
      std::uint32_t last_word = word.load(std::memory_order_relaxed);
      std::uint32_t last_activity =
          activity != nullptr ? activity->load(std::memory_order_relaxed) : 0;
      for (std::uint32_t i = 1;; ++i) {
        cpu_relax();
        if (ready()) return;
        if (i % 64 != 0) continue;
        const auto now = std::chrono::steady_clock::now();
        const std::uint32_t w = word.load(std::memory_order_relaxed);
        const std::uint32_t a = activity != nullptr ? activity->load(std::memory_order_relaxed) : 0;
        if (w != last_word || a != last_activity) {
          last_word = w;
          last_activity = a;
          deadline = now + budget;
        } else if (now >= deadline) {
          break;
        }
        if (i % 4096 == 0) throw_if_interrupted("spin", object);
      }
    }
    SleepFlag& flag = shared.sleeping[static_cast<unsigned>(event)];
    while (true) {
      flag.raise(token);
      heavy_fence(asymmetric_);
      const std::uint32_t value = word.load(std::memory_order_relaxed);
      if (ready()) {
        flag.raised.store(0, std::memory_order_relaxed);
        return;
      }
      futex_wait(word, value, object);
      throw_if_interrupted("futex", object);
    }
  }

  template <typename WordFor>
  void notify(Shared& shared, RingEvent event, const std::string& object, WordFor&& word_for) {
    light_fence(asymmetric_);  // the word's store before the flag load
    const std::atomic<std::uint32_t>* word = nullptr;
    if (!shared.sleeping[static_cast<unsigned>(event)].take(word_for, word)) return;
    // Every waiter on the word: the readers of a broadcast ring all sleep on the same piece's
    // word, each announced by its own flag, and a wake for one that woke another would leave the
    // first asleep (the other, awake, lowers its own flag before its notify comes). Not
    // FUTEX_PRIVATE_FLAG: the word is shared between processes.
    if (::syscall(SYS_futex, futex_word(*word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0) < 0) {
      throw_sys_error(errno, "futex(FUTEX_WAKE)", object);
    }
  }

  // How many sleeps of this process ended by their kWaitSlice rather than a wake-up. While the
  // peer keeps publishing, every one of them is a lost wake-up: the tests count them.
  [[nodiscard]] static std::uint64_t slices_expired() noexcept {
    return slices_expired_.load(std::memory_order_relaxed);
  }

  // Whether the other side sleeps (or is about to) on `event`: the reader then publishes at once.
  [[nodiscard]] static bool sleeping(const Shared& shared, RingEvent event) noexcept {
    return shared.sleeping[static_cast<unsigned>(event)].raised.load(std::memory_order_relaxed) !=
           0;
  }

 private:
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  static std::uint32_t* futex_word(const std::atomic<std::uint32_t>& word) noexcept {
    return const_cast<std::uint32_t*>(reinterpret_cast<const std::uint32_t*>(&word));
  }
  static void futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t value,
                         const std::string& object) {
    // Relative timeout (CLOCK_MONOTONIC): the sleeper looks at interrupted() every slice.
    const timespec slice{0, std::chrono::nanoseconds(kWaitSlice).count()};
    if (::syscall(SYS_futex, futex_word(word), FUTEX_WAIT, value, &slice, nullptr, 0) == 0) return;
    const int err = errno;
    // EAGAIN: the word moved before we slept; EINTR: a signal (the watchdog's); ETIMEDOUT: slice.
    if (err == ETIMEDOUT) slices_expired_.fetch_add(1, std::memory_order_relaxed);
    if (err != EAGAIN && err != EINTR && err != ETIMEDOUT) throw_sys_error(err, "futex", object);
  }

  static inline std::atomic<std::uint64_t> slices_expired_{0};

  bool spin_;
  bool asymmetric_;  // membarrier on the sleeper's side (see heavy_fence)
};

// Sleeps at once, as the lecture's semaphore does (it spins only inside a message, see
// spin_for_piece): a boost::interprocess::interprocess_semaphore (a process-shared sem_t) per
// event, posted only
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
  // Full fences on both sides (kAsymmetric false): this side sleeps at nearly every wait, and a
  // membarrier per sleep would interrupt the peer's CPU each time.
  explicit SemWait(const TransportOptions& options) noexcept : same_cpu_(options.same_cpu) {}
  [[nodiscard]] bool same_cpu() const noexcept { return same_cpu_; }

  template <typename Ready>
  void wait(Shared& shared, RingEvent event, const std::atomic<std::uint32_t>&, Ready&& ready,
            const std::string& object, const std::atomic<std::uint32_t>* = nullptr, std::size_t = 0,
            std::uint32_t token = 0) {
    if (ready()) return;
    typename Shared::Bell& bell = shared.bell[static_cast<unsigned>(event)];
    while (true) {
      bell.flag.raise(token);
      heavy_fence(kAsymmetric);
      if (ready()) {
        withdraw(bell, object);
        return;
      }
      if (!timed_wait(bell, object)) withdraw(bell, object);  // a slice without a post
      throw_if_interrupted("sem_timedwait", object);
    }
  }

  template <typename WordFor>
  void notify(Shared& shared, RingEvent event, const std::string& object, WordFor&& word_for) {
    light_fence(kAsymmetric);  // the word's store before the flag load
    typename Shared::Bell& bell = shared.bell[static_cast<unsigned>(event)];
    const std::atomic<std::uint32_t>* word = nullptr;
    if (!bell.flag.take(word_for, word)) return;
    try {
      bell.sem.post();
    } catch (const boost::interprocess::interprocess_exception& e) {
      rethrow_interprocess(e, "sem_post", object);
    }
  }

  [[nodiscard]] static bool sleeping(const Shared& shared, RingEvent event) noexcept {
    return shared.bell[static_cast<unsigned>(event)].flag.raised.load(std::memory_order_relaxed) !=
           0;
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

  static constexpr bool kAsymmetric = false;
  bool same_cpu_;
};

// The textbook monitor: a process-shared, robust pthread mutex and one process-shared pthread
// condition per event, in the segment. The waiter checks the awaited word under the mutex and
// waits on the condition; the notifier takes the mutex and signals after every message (and every
// publication of the reader), which is what closes the lost-wake-up window. Every lock and wait is
// timed, so that the watchdog's interrupted() is seen.
// Why raw pthreads and not Boost.Interprocess's interprocess_mutex/interprocess_condition (the
// same pthread objects): Boost's mutex is not robust, and a condition's timed wait re-takes the
// mutex with no time limit once the wait times out. A peer killed while holding the mutex then
// blocked its survivor for ever, whatever the watchdog did (seen as a CI hang in a kill test). A
// robust mutex instead hands its next locker EOWNERDEAD, and we throw an error naming the object.
class CondvarWait {
 public:
  class Shared {
   public:
    Shared();
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;
    // Never destroyed (see SlotRing::create): glibc's pthread_cond_destroy waits for waiters a
    // killed peer would never release, and neither object holds a kernel resource.

    // Takes the mutex, checking interrupted() every wait slice. Throws std::system_error naming
    // `object` when interrupted, or when the last owner died holding it (EOWNERDEAD: the state it
    // guarded may be half-written, so the ring is not used again).
    void lock(const std::string& object);
    void unlock() noexcept;
    // Under the mutex: sleeps on `event`'s condition for at most one wait slice. Returns, or
    // throws as lock() does, with the mutex held.
    void wait_slice(RingEvent event, const std::string& object);
    void signal(RingEvent event) noexcept;

   private:
    pthread_mutex_t mutex_;
    pthread_cond_t changed_[2];  // by RingEvent
  };
  explicit CondvarWait(const TransportOptions& options) noexcept : same_cpu_(options.same_cpu) {}
  [[nodiscard]] bool same_cpu() const noexcept { return same_cpu_; }

  template <typename Ready>
  void wait(Shared& shared, RingEvent event, const std::atomic<std::uint32_t>&, Ready&& ready,
            const std::string& object, const std::atomic<std::uint32_t>* = nullptr, std::size_t = 0,
            std::uint32_t = 0) {
    if (ready()) return;
    shared.lock(object);
    Unlock unlock{shared};
    while (!ready()) {
      shared.wait_slice(event, object);
      throw_if_interrupted("pthread_cond_timedwait", object);
    }
  }

  template <typename WordFor>
  void notify(Shared& shared, RingEvent event, const std::string& object, WordFor&&) {
    shared.lock(object);
    shared.signal(event);
    shared.unlock();
  }

  // Unknown without the mutex: the reader publishes on its own schedule.
  [[nodiscard]] static bool sleeping(const Shared&, RingEvent) noexcept { return false; }

 private:
  struct Unlock {
    explicit Unlock(Shared& s) noexcept : shared(s) {}
    Shared& shared;
    Unlock(const Unlock&) = delete;
    Unlock& operator=(const Unlock&) = delete;
    ~Unlock() { shared.unlock(); }
  };

  bool same_cpu_;
};

}  // namespace ipcbench
