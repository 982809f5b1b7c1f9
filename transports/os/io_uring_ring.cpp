#include "transports/os/io_uring_ring.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {

std::string io_uring_unavailable_reason(std::optional<long> disabled_sysctl, int setup_errno) {
  const std::string sysctl = std::string(kIoUringDisabledSysctl) + " is ";
  if (disabled_sysctl && *disabled_sysctl == 2) {
    return "io_uring is disabled for every process (" + sysctl + "2)";
  }
  switch (setup_errno) {
    case 0:
      return "";
    case EPERM:
      if (disabled_sysctl && *disabled_sysctl == 1) {
        return "io_uring is limited to the group kernel.io_uring_group and this user is not in "
               "it (" +
               sysctl + "1; io_uring_setup: EPERM)";
      }
      return "io_uring_setup is not permitted here (EPERM: a seccomp filter, as container "
             "runtimes install, or a security module forbids it)";
    case ENOSYS:
      return "this kernel has no io_uring (io_uring_setup: ENOSYS)";
    default:
      return "";
  }
}

const std::string& io_uring_unavailable() {
  static const std::string reason = [] {
    std::optional<long> disabled;
    if (const auto value = read_proc_int(kIoUringDisabledSysctl)) disabled = *value;
    io_uring ring{};
    const int rc = io_uring_queue_init(1, &ring, 0);
    if (rc == 0) io_uring_queue_exit(&ring);
    return io_uring_unavailable_reason(disabled, rc < 0 ? -rc : 0);
  }();
  return reason;
}

IoUringRing::IoUringRing(unsigned entries, std::string object, std::size_t others)
    : object_(std::move(object)) {
  others_.reserve(others);
  const int rc = io_uring_queue_init(entries, &ring_, 0);
  if (rc < 0) {
    const std::string why = io_uring_unavailable_reason(std::nullopt, -rc);
    throw_sys_error(-rc, "io_uring_queue_init", why.empty() ? object_ : object_ + ": " + why);
  }
  owner_ = ::getpid();
}

IoUringRing::~IoUringRing() {
  if (owner_ == ::getpid()) io_uring_queue_exit(&ring_);
}

int IoUringRing::wait_op(const char* call) {
  while (true) {
    __kernel_timespec slice{0, kWaitSliceNs};
    io_uring_cqe* cqe = nullptr;
    // The first call submits the operation and waits in the same io_uring_enter(); the later
    // ones (after a slice ran out or a signal came) only wait.
    const int rc = io_uring_sq_ready(&ring_) > 0
                       ? io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &slice, nullptr)
                       : io_uring_wait_cqe_timeout(&ring_, &cqe, &slice);
    // liburing 2.3 returns the number submitted (>= 0) from the submitting call.
    if (rc >= 0 && cqe != nullptr) {
      const __u64 tag = io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      if (tag == kOpTag) return res;
      keep(tag, res);
      continue;  // another request's: kept for take_other(); keep waiting for ours
    }
    if (rc >= 0) continue;  // submitted, not complete yet
    if (rc == -ETIME || rc == -EINTR) {
      if (interrupted()) {
        abandon();
        throw_if_interrupted(call, object_);
      }
      continue;
    }
    abandon();
    throw_sys_error(-rc, "io_uring_enter", std::string(call) + ", " + object_);
  }
}

void IoUringRing::abandon() noexcept {
  // The operation holds the caller's buffer, which is about to go away: cancel it and wait for it
  // to end (socket operations end at once when cancelled), so the kernel writes nothing there
  // afterwards. Bounded: a process that is being torn down must not hang here.
  if (io_uring_sq_ready(&ring_) > 0) (void)io_uring_submit(&ring_);
  if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
    io_uring_prep_cancel64(sqe, kOpTag, 0);
    io_uring_sqe_set_data64(sqe, kCancelTag);
    (void)io_uring_submit(&ring_);
  }
  bool op_ended = false, cancel_ended = false;
  for (int i = 0; i < 20 && !(op_ended && cancel_ended); ++i) {
    __kernel_timespec slice{0, kWaitSliceNs};
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_wait_cqe_timeout(&ring_, &cqe, &slice);
    if (rc != 0 || cqe == nullptr) continue;  // a slice or a signal: wait again
    const __u64 tag = io_uring_cqe_get_data64(cqe);
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    op_ended = op_ended || tag == kOpTag;
    cancel_ended = cancel_ended || tag == kCancelTag;
    keep(tag, res);
  }
}

io_uring_sqe* IoUringRing::prepare(__u64 tag) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {  // more requests prepared than the ring was made for: a bug
    throw_sys_error(EBUSY, "io_uring_get_sqe", object_ + ": submission queue full");
  }
  io_uring_sqe_set_data64(sqe, tag);
  return sqe;
}

bool IoUringRing::wait_others(int timeout_ms, const char* call) {
  for (int round = 0; round < 2; ++round) {
    __kernel_timespec timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1'000'000L};
    io_uring_cqe* cqe = nullptr;
    const int rc = io_uring_sq_ready(&ring_) > 0
                       ? io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &timeout, nullptr)
                       : io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout);
    const std::size_t before = others_.size() - others_head_;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {  // every one ready now
      const __u64 tag = io_uring_cqe_get_data64(cqe);
      const int res = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      keep(tag, res);
    }
    if (others_.size() - others_head_ > before) return true;
    if (rc == -ETIME) return false;
    if (rc == -EINTR) {
      throw_if_interrupted(call, object_);
      return false;
    }
    if (rc < 0) throw_sys_error(-rc, "io_uring_enter", std::string(call) + ", " + object_);
    // Submitted, nothing complete yet: wait once more.
  }
  return false;
}

bool IoUringRing::take_other(Completion* out) noexcept {
  if (others_head_ == others_.size()) return false;
  *out = others_[others_head_++];
  if (others_head_ == others_.size()) {  // all taken: start again at the front, no allocation
    others_.clear();
    others_head_ = 0;
  }
  return true;
}

void IoUringRing::keep(__u64 tag, int res) noexcept {
  // Only prepare()d requests' completions are kept (the ring's own cancels are not). Within the
  // reserved room: a caller with at most `others` requests in flight never exceeds it.
  if (tag < kFirstUserTag) return;
  if (others_.size() == others_.capacity() && others_head_ > 0) {  // drop the taken ones
    others_.erase(others_.begin(), others_.begin() + static_cast<std::ptrdiff_t>(others_head_));
    others_head_ = 0;
  }
  if (others_.size() < others_.capacity()) others_.push_back({tag, res});
}

}  // namespace ipcbench
