// IoUringRing: one io_uring owned by the process that made it, running one operation at a time
// with bounded waits the watchdog can interrupt; and the probe that says whether this machine
// lets a process make a ring at all.
#pragma once

#include <liburing.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ipcbench {

// Where the kernel says who may use io_uring: 0 everyone, 1 only kernel.io_uring_group (and
// CAP_SYS_ADMIN), 2 nobody. Kernels before 6.6 have no such file: everyone may.
inline constexpr const char* kIoUringDisabledSysctl = "/proc/sys/kernel/io_uring_disabled";

// Why this machine cannot run io_uring, from the sysctl's value (empty: the file is absent) and
// the errno of io_uring_setup() (0: a ring was made); "" when it can. EPERM and ENOSYS mean the
// feature is forbidden or missing; any other errno (ENOMEM, EMFILE) is a failure of the moment,
// not a missing feature, and is left to the transport to report when it makes its ring.
[[nodiscard]] std::string io_uring_unavailable_reason(std::optional<long> disabled_sysctl,
                                                      int setup_errno);

// The same for this process: reads the sysctl and makes (and at once closes) a one-entry ring.
// Probed once and cached; never throws.
[[nodiscard]] const std::string& io_uring_unavailable();

// A ring of a few entries, made after fork() by the process that uses it (a ring's memory is
// mapped shared, so a forked copy would share its queues). Only the creating process tears it
// down. Runs one operation at a time: run() submits it and waits for its completion with one
// io_uring_enter() where the kernel allows (IORING_FEAT_EXT_ARG: the timeout travels with the
// call, no timeout request is queued). Beside it, requests with tags of their own (a fan-in
// server's polls, one per client) may be in flight: their completions are kept, in arrival order,
// for take_other().
class IoUringRing {
 public:
  // A completion of a request prepared with prepare(): its tag and its res.
  struct Completion {
    __u64 tag;
    int res;
  };
  // Tags below this are the ring's own.
  static constexpr __u64 kFirstUserTag = 16;

  // Makes the ring (io_uring_queue_init, no flags: no SQPOLL thread polling the queue, which would
  // be busy-polling, and no IOPOLL, which is for block devices), with room kept for `others`
  // completions of prepare()d requests, so keeping them never allocates. Throws std::system_error
  // naming `object`.
  IoUringRing(unsigned entries, std::string object, std::size_t others = 0);
  IoUringRing(const IoUringRing&) = delete;
  IoUringRing& operator=(const IoUringRing&) = delete;
  ~IoUringRing();

  // Prepares one operation with `prep(sqe)`, submits it and blocks until it completes, waking
  // every kWaitSliceNs to check interrupted(). Returns the completion's res (negative: -errno of
  // the operation, for the caller to judge). When interrupted() is set it cancels the operation,
  // waits (boundedly) for it to end, so the kernel no longer holds the caller's buffer, and throws
  // "<call>(<object>): interrupted by the watchdog". Throws naming `call` if the ring fails.
  template <typename Prep>
  [[nodiscard]] int run(Prep&& prep, const char* call) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);  // one operation at a time: never full
    prep(sqe);
    io_uring_sqe_set_data64(sqe, kOpTag);
    return wait_op(call);
  }

  // An SQE for a request whose completion goes to take_other() with `tag` (>= kFirstUserTag).
  // It is submitted by the next run() or wait_others().
  [[nodiscard]] io_uring_sqe* prepare(__u64 tag);
  // Submits what is prepared and waits up to `timeout_ms` for completions, keeping them for
  // take_other(). False when none came in time or a signal ended the wait (then throws
  // "<call>(<object>): interrupted by the watchdog" when interrupted() is set).
  [[nodiscard]] bool wait_others(int timeout_ms, const char* call);
  // The oldest kept completion, if any.
  [[nodiscard]] bool take_other(Completion* out) noexcept;

  // How long one wait lasts before interrupted() is checked again: a backstop, since the
  // watchdog's SIGALRM ends a wait at once with EINTR.
  static constexpr long kWaitSliceNs = 100'000'000;

 private:
  static constexpr __u64 kOpTag = 1, kCancelTag = 2;

  int wait_op(const char* call);
  void abandon() noexcept;
  void keep(__u64 tag, int res) noexcept;

  io_uring ring_{};
  std::string object_;
  pid_t owner_ = -1;
  std::vector<Completion> others_;  // capacity reserved up front
  std::size_t others_head_ = 0;
};

}  // namespace ipcbench
