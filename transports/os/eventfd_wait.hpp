// EventfdWait: a wait policy for the slot ring (transports/os/shm_ring.hpp, interface described at
// the top of transports/os/shm_wait.hpp) that sleeps in read() on an eventfd, woken by the other
// side's write() of 1 after every publication; EventfdCounts, what those reads took.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "transports/os/shm_ring.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// What the read()s of one eventfd took in this process. An eventfd without EFD_SEMAPHORE hands its
// whole counter to one read() and resets it, so notifications posted before the reader got to it
// coalesce into one wake-up: `merged()` counts them. With EFD_SEMAPHORE every read() takes one and
// nothing merges. Each counter is written by the one side that waits on that eventfd.
struct EventfdCounts {
  std::uint64_t reads = 0;          // read()s that returned a value
  std::uint64_t notifications = 0;  // the values they returned, summed: notifications taken
  // Notifications that arrived folded into a read() that already took one.
  [[nodiscard]] std::uint64_t merged() const noexcept { return notifications - reads; }
};

// The counts of one process, by what it waited for: data in the ring it reads, space in the ring
// it writes.
struct EventfdStats {
  EventfdCounts data;
  EventfdCounts space;
};

// Waits by reading an eventfd; notifies by writing 1 to it. One eventfd per event of a ring: the
// writer writes the data eventfd after every message (and when the ring fills in the middle of
// one), the reader writes the space eventfd each time it publishes its position. The notifier
// always writes: no flag in the segment decides whether the other side sleeps, so notifications
// that the reader did not need (it found the message already there) pile up in the counter and are
// taken, merged, by its next read().
// No lost wake-up: the notifier publishes (a release store) before it write()s, and the waiter
// looks at the ring again after every read(); a write() that lands after the waiter last looked
// leaves the counter above 0, so the read() returns at once. A read() that took only stale
// notifications finds the ring still empty and reads again.
// Interruption: the read() blocks without a time limit (one system call per wake-up, as the
// mechanism is meant to be used). The harness's watchdog interrupts it with SIGALRM, repeated
// until the waiter stops, and installed without SA_RESTART (harness/process.cpp), so read() returns
// EINTR and the loop throws through throw_if_interrupted(); a dead peer process is killed by the
// watchdog or dies with its parent.
// Copyable (the ring keeps a copy): it holds the descriptors' numbers, not the descriptors, which
// the transport owns; a forked child uses the same numbers.
class EventfdWait {
 public:
  struct Shared {};  // nothing in the segment: the kernel's counters are the shared state
  // `data_fd`: the eventfd the ring's reader sleeps on; `space_fd`: the one its writer sleeps on.
  // `stats` (may be null): where this process counts its reads; it must outlive the policy.
  EventfdWait(int data_fd, int space_fd, bool same_cpu, EventfdStats* stats) noexcept
      : fds_{data_fd, space_fd}, same_cpu_(same_cpu), stats_(stats) {}
  [[nodiscard]] bool same_cpu() const noexcept { return same_cpu_; }

  template <typename Ready>
  void wait(Shared&, RingEvent event, const std::atomic<std::uint32_t>&, Ready&& ready,
            const std::string& object, const std::atomic<std::uint32_t>* = nullptr, std::size_t = 0,
            std::uint32_t = 0) {
    if (ready()) return;
    do {
      take(event, object);
    } while (!ready());
  }

  // Every waiter on the event is woken by the one counter, whatever `token` it waits for.
  template <typename WordFor>
  void notify(Shared&, RingEvent event, const std::string& object, WordFor&&) {
    post(event, object);
  }

  // Unknown: the notifier does not look; it writes every time.
  [[nodiscard]] static bool sleeping(const Shared&, RingEvent) noexcept { return false; }

  // One read() of `event`'s eventfd (blocks until its counter is above 0), counted. EINTR: throws
  // once interrupted() is set, else reads again. Throws std::system_error naming `object`.
  void take(RingEvent event, const std::string& object);
  // One write() of 1 to `event`'s eventfd. Throws std::system_error naming `object`.
  void post(RingEvent event, const std::string& object);

 private:
  [[nodiscard]] int fd(RingEvent event) const noexcept {
    return fds_[static_cast<unsigned>(event)];
  }

  int fds_[2];  // by RingEvent
  bool same_cpu_;
  EventfdStats* stats_;
};

}  // namespace ipcbench
