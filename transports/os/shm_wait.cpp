// CondvarWait's monitor: a robust, process-shared pthread mutex and process-shared conditions on
// CLOCK_MONOTONIC, every lock and wait timed by one wait slice.
#include "transports/os/shm_wait.hpp"

#include <pthread.h>
#include <time.h>

#include <cerrno>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace ipcbench {
namespace {

// Where a pthread call failed while setting up the monitor: a bug or an exhausted system, never
// bad input; reported like any other error of the transport.
void check(int err, const char* call) {
  if (err != 0) throw_sys_error(err, call, "shared memory monitor");
}

// One wait slice from now on `clock`: a timeout, never a measurement.
timespec slice_deadline(clockid_t clock) {
  timespec now{};
  ::clock_gettime(clock, &now);
  const long slice_ns = std::chrono::nanoseconds(kWaitSlice).count();
  now.tv_sec += (now.tv_nsec + slice_ns) / 1'000'000'000L;
  now.tv_nsec = (now.tv_nsec + slice_ns) % 1'000'000'000L;
  return now;
}

}  // namespace

CondvarWait::Shared::Shared() {
  pthread_mutexattr_t m;
  check(::pthread_mutexattr_init(&m), "pthread_mutexattr_init");
  check(::pthread_mutexattr_setpshared(&m, PTHREAD_PROCESS_SHARED), "pthread_mutexattr_setpshared");
  check(::pthread_mutexattr_setrobust(&m, PTHREAD_MUTEX_ROBUST), "pthread_mutexattr_setrobust");
  check(::pthread_mutex_init(&mutex_, &m), "pthread_mutex_init");
  ::pthread_mutexattr_destroy(&m);
  pthread_condattr_t c;
  check(::pthread_condattr_init(&c), "pthread_condattr_init");
  check(::pthread_condattr_setpshared(&c, PTHREAD_PROCESS_SHARED), "pthread_condattr_setpshared");
  check(::pthread_condattr_setclock(&c, CLOCK_MONOTONIC), "pthread_condattr_setclock");
  for (pthread_cond_t& cond : changed_) check(::pthread_cond_init(&cond, &c), "pthread_cond_init");
  ::pthread_condattr_destroy(&c);
}

namespace {

// A lock or a wait returned EOWNERDEAD: we hold the mutex and its last owner died inside. Marks it
// consistent (so that a later locker is not refused for ever), releases it if `release`, and
// throws.
[[noreturn]] void owner_died(pthread_mutex_t& mutex, bool release, const char* call,
                             const std::string& object) {
  ::pthread_mutex_consistent(&mutex);
  if (release) ::pthread_mutex_unlock(&mutex);
  throw_sys_error(EOWNERDEAD, call, object + " (the peer died holding the mutex)");
}

}  // namespace

void CondvarWait::Shared::lock(const std::string& object) {
  for (;;) {
    // pthread_mutex_timedlock (CLOCK_REALTIME), not pthread_mutex_clocklock: the thread sanitizer
    // does not intercept the latter and then reports every unlock as unpaired.
    const timespec deadline = slice_deadline(CLOCK_REALTIME);
    const int err = ::pthread_mutex_timedlock(&mutex_, &deadline);
    if (err == 0) return;
    if (err == EOWNERDEAD) {
#if defined(__SANITIZE_THREAD__)
      // The sanitizer's pthread_mutex_timedlock records only a return of 0 as taking the mutex
      // (its pthread_mutex_lock and trylock count EOWNERDEAD too): tell it, or our unlock is
      // reported as the unlock of a mutex nobody holds.
      __tsan_mutex_pre_lock(&mutex_, __tsan_mutex_try_lock);
      __tsan_mutex_post_lock(&mutex_, __tsan_mutex_try_lock, 0);
#endif
      owner_died(mutex_, true, "pthread_mutex_timedlock", object);
    }
    if (err != ETIMEDOUT && err != EINTR) throw_sys_error(err, "pthread_mutex_timedlock", object);
    throw_if_interrupted("pthread_mutex_timedlock", object);
  }
}

void CondvarWait::Shared::unlock() noexcept { ::pthread_mutex_unlock(&mutex_); }

void CondvarWait::Shared::wait_slice(RingEvent event, const std::string& object) {
  const timespec deadline = slice_deadline(CLOCK_MONOTONIC);  // the conditions' clock
  const int err =
      ::pthread_cond_timedwait(&changed_[static_cast<unsigned>(event)], &mutex_, &deadline);
  if (err == 0 || err == ETIMEDOUT || err == EINTR) return;
  if (err == EOWNERDEAD) owner_died(mutex_, false, "pthread_cond_timedwait", object);
  throw_sys_error(err, "pthread_cond_timedwait", object);  // the mutex is held again (POSIX)
}

void CondvarWait::Shared::signal(RingEvent event) noexcept {
  ::pthread_cond_signal(&changed_[static_cast<unsigned>(event)]);
}

}  // namespace ipcbench
