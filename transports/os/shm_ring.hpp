// SpscRing: a single-producer single-consumer byte ring in shared memory, with the way a side
// waits as a policy (transports/shm_wait.hpp); ShmSegment, the POSIX shared memory that holds it;
// ShmRingTransport, one ring per direction (shm_spin, shm_futex, shm_sem, shm_condvar).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <boost/interprocess/mapped_region.hpp>
#include <cassert>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <string>

#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// Indices written by different processes sit this far apart. 64 is the x86-64 line; 128 also
// keeps them out of one adjacent-line prefetch pair (Intel's L2 fetches lines in pairs).
// std::hardware_destructive_interference_size is not used: g++ 12 warns that it depends on -mtune.
inline constexpr std::size_t kFalseSharingBytes = 128;

// The largest ring: indices count bytes modulo 2^32, so a ring must stay well below that.
inline constexpr std::size_t kMaxRingCapacity = std::size_t{1} << 30;

// One POSIX shared memory object made through Boost.Interprocess: created 0600 with create_only
// (O_EXCL) under `name`, sized, mapped, pre-faulted, and its name removed before the constructor
// returns, so nothing can leak; the mapping is inherited across fork(). Throws std::system_error
// naming "/dev/shm/<name>". Move-only; the destructor unmaps.
class ShmSegment {
 public:
  ShmSegment(const std::string& name, std::size_t bytes);
  [[nodiscard]] std::byte* data() const noexcept {
    return static_cast<std::byte*>(region_.get_address());
  }
  [[nodiscard]] std::size_t size() const noexcept { return region_.get_size(); }
  // Reads one byte per page, so this process (a forked child too) takes its page faults now.
  void touch() const noexcept;

 private:
  boost::interprocess::mapped_region region_;
};

// Which index a side waits on: the reader waits for data (head moves), the writer for space
// (tail moves).
enum class RingEvent : unsigned { kData = 0, kSpace = 1 };

// The shared part of one ring: indices on their own lines, then the wait policy's state, then the
// data. Indices count bytes ever written/read modulo 2^32; the capacity is a power of two, so
// head - tail is the fill level in unsigned arithmetic.
template <typename Wait>
struct RingControl {
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
                "atomics shared between processes must be lock-free");
  alignas(kFalseSharingBytes) std::atomic<std::uint32_t> head{0};  // written by the writer only
  alignas(kFalseSharingBytes) std::atomic<std::uint32_t> tail{0};  // written by the reader only
  alignas(kFalseSharingBytes) typename Wait::Shared wait;
  alignas(kFalseSharingBytes) std::uint32_t capacity = 0;  // constant after create()
};

// Every message is framed as an 8-byte length, the payload, and padding to a multiple of 8: the
// indices stay multiples of 8, so a length is never split by the wrap-around. The reader knows the
// size it expects (its span) and checks it against the length, so a mismatch is an error.
inline constexpr std::size_t kRingFrameHeader = sizeof(std::uint64_t);

// The bytes one message of `message_bytes` takes in a ring: header, payload, padding to 8.
[[nodiscard]] constexpr std::size_t ring_frame_bytes(std::size_t message_bytes) noexcept {
  return kRingFrameHeader + ((message_bytes + 7) & ~std::size_t{7});
}

// The bytes of one RingControl<Wait> in a segment, rounded up so what follows stays aligned.
template <typename Wait>
[[nodiscard]] constexpr std::size_t ring_control_bytes() noexcept {
  return (sizeof(RingControl<Wait>) + kFalseSharingBytes - 1) / kFalseSharingBytes *
         kFalseSharingBytes;
}

// Copy `n` bytes into / out of a ring's data (`capacity` bytes, a power of two) at byte position
// `pos` (any value: it wraps). An empty copy touches nothing: an empty span may have no data
// pointer, and memcpy(nullptr) is undefined.
inline void ring_copy_in(std::byte* data, std::size_t capacity, std::uint32_t pos,
                         const std::byte* src, std::size_t n) noexcept {
  if (n == 0) return;
  const std::size_t at = pos & (capacity - 1);
  const std::size_t first = n < capacity - at ? n : capacity - at;
  std::memcpy(data + at, src, first);
  if (n > first) std::memcpy(data, src + first, n - first);
}
inline void ring_copy_out(const std::byte* data, std::size_t capacity, std::uint32_t pos,
                          std::byte* dst, std::size_t n) noexcept {
  if (n == 0) return;
  const std::size_t at = pos & (capacity - 1);
  const std::size_t first = n < capacity - at ? n : capacity - at;
  std::memcpy(dst, data + at, first);
  if (n > first) std::memcpy(dst + first, data, n - first);
}

// "recv(<object>): message of N bytes where M were expected" (EMSGSIZE).
[[noreturn]] void throw_ring_size_mismatch(std::uint64_t got, std::size_t want,
                                           const std::string& object);

// A view of one ring in shared memory from one process or thread. A view keeps its own copies of
// the indices (only the writer writes head, only the reader writes tail), so a side reads the
// other's line only when its copy says the ring is full or empty. One view may be used by one
// writer and one reader; send() and recv() block through the policy and throw std::system_error
// naming the object when interrupted() is set or a wait fails. They never allocate.
template <typename Wait>
class SpscRing {
 public:
  using Control = RingControl<Wait>;
  static constexpr std::size_t kMinCapacity = kFalseSharingBytes;  // keeps rings aligned
  static constexpr std::size_t kMaxCapacity = kMaxRingCapacity;

  // Bytes of shared memory one ring of `capacity` needs (control block plus data).
  [[nodiscard]] static constexpr std::size_t bytes_for(std::size_t capacity) noexcept {
    return control_bytes() + capacity;
  }
  // Constructs an empty ring in `memory` (bytes_for(capacity) bytes aligned to
  // kFalseSharingBytes). `capacity`: a power of two in [kMinCapacity, kMaxCapacity]. Called once,
  // before fork(). The policy's objects are never destroyed: they hold no kernel resource, and
  // glibc's pthread_cond_destroy waits for waiters that a killed peer would never release.
  static void create(void* memory, std::size_t capacity) {
    assert(std::has_single_bit(capacity) && capacity >= kMinCapacity && capacity <= kMaxCapacity);
    auto* control = new (memory) Control{};
    control->capacity = static_cast<std::uint32_t>(capacity);
  }

  SpscRing(void* memory, Wait wait, std::string object)
      : control_(static_cast<Control*>(memory)),
        data_(static_cast<std::byte*>(memory) + control_bytes()),
        capacity_(control_->capacity),
        mask_(capacity_ - 1),
        chunk_(capacity_ / 4),
        wait_(wait),
        object_(std::move(object)),
        head_(control_->head.load(std::memory_order_relaxed)),
        tail_(control_->tail.load(std::memory_order_relaxed)),
        seen_head_(head_),
        seen_tail_(tail_) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // Writer: copies the whole message in, in pieces when it is larger than the free space.
  void send(std::span<const std::byte> msg) {
    const std::uint64_t length = msg.size();
    const std::size_t frame = ring_frame_bytes(msg.size());
    std::size_t done = 0;
    while (done < frame) {
      const std::size_t left = frame - done;
      // Wait for a quarter of the ring (or the rest of the frame) rather than for any 8 bytes, so
      // a large message moves in few pieces and few index updates cross between the CPUs.
      const std::size_t want = left < chunk_ ? left : chunk_;
      std::size_t free = capacity_ - (head_ - seen_tail_);
      if (free < want) {
        seen_tail_ = wait_.wait(
            control_->wait, RingEvent::kSpace, control_->tail,
            [&](std::uint32_t tail) { return capacity_ - (head_ - tail) >= want; }, object_);
        free = capacity_ - (head_ - seen_tail_);
      }
      const std::size_t step = free < left ? free : left;
      put_frame_part(done, step, length, msg);
      head_ += static_cast<std::uint32_t>(step);
      done += step;
      control_->head.store(head_, std::memory_order_release);
      wait_.notify(control_->wait, RingEvent::kData, control_->head, object_);
    }
  }

  // Reader: copies one whole message out; its length must be msg.size().
  void recv(std::span<std::byte> msg) {
    std::size_t avail = seen_head_ - tail_;
    if (avail < kRingFrameHeader) avail = wait_for_data();
    std::uint64_t length = 0;
    std::memcpy(&length, data_ + (tail_ & mask_), sizeof length);
    if (length != msg.size()) throw_ring_size_mismatch(length, msg.size(), object_);
    const std::size_t frame = ring_frame_bytes(msg.size());
    std::size_t done = 0;
    while (true) {
      const std::size_t left = frame - done;
      const std::size_t step = avail < left ? avail : left;
      get_frame_part(done, step, msg);
      tail_ += static_cast<std::uint32_t>(step);
      done += step;
      control_->tail.store(tail_, std::memory_order_release);
      wait_.notify(control_->wait, RingEvent::kSpace, control_->tail, object_);
      if (done == frame) return;
      avail = seen_head_ - tail_;
      if (avail == 0) avail = wait_for_data();
    }
  }

 private:
  static constexpr std::size_t control_bytes() noexcept { return ring_control_bytes<Wait>(); }

  std::size_t wait_for_data() {
    seen_head_ = control_->head.load(std::memory_order_acquire);
    if (seen_head_ == tail_) {
      seen_head_ = wait_.wait(
          control_->wait, RingEvent::kData, control_->head,
          [&](std::uint32_t head) { return head != tail_; }, object_);
    }
    return seen_head_ - tail_;
  }

  void copy_in(std::uint32_t pos, const std::byte* src, std::size_t n) noexcept {
    ring_copy_in(data_, capacity_, pos, src, n);
  }
  void copy_out(std::uint32_t pos, std::byte* dst, std::size_t n) const noexcept {
    ring_copy_out(data_, capacity_, pos, dst, n);
  }

  // Writes bytes [from, from + n) of the frame (length, payload, padding) at head_.
  void put_frame_part(std::size_t from, std::size_t n, std::uint64_t length,
                      std::span<const std::byte> msg) noexcept {
    std::uint32_t pos = head_;
    if (from == 0) {  // n >= 8: the indices and the space are multiples of 8
      copy_in(pos, reinterpret_cast<const std::byte*>(&length), kRingFrameHeader);
      pos += kRingFrameHeader;
      from = kRingFrameHeader;
      n -= kRingFrameHeader;
    }
    const std::size_t offset = from - kRingFrameHeader;
    if (offset < msg.size()) {
      const std::size_t payload = n < msg.size() - offset ? n : msg.size() - offset;
      copy_in(pos, msg.data() + offset, payload);
    }
  }
  // Reads bytes [from, from + n) of the frame at tail_ into msg (the length was read already).
  void get_frame_part(std::size_t from, std::size_t n, std::span<std::byte> msg) const noexcept {
    std::uint32_t pos = tail_;
    if (from == 0) {
      pos += kRingFrameHeader;
      from = kRingFrameHeader;
      n -= kRingFrameHeader;
    }
    const std::size_t offset = from - kRingFrameHeader;
    if (offset < msg.size()) {
      const std::size_t payload = n < msg.size() - offset ? n : msg.size() - offset;
      copy_out(pos, msg.data() + offset, payload);
    }
  }

  Control* control_;
  std::byte* data_;
  std::uint32_t capacity_, mask_, chunk_;
  Wait wait_;
  std::string object_;
  // Writer side: head_ is ours, seen_tail_ the reader's last known tail. Reader side: the mirror.
  // Each on its own line: in a thread test the writer and the reader share one view.
  alignas(kFalseSharingBytes) std::uint32_t head_;
  alignas(kFalseSharingBytes) std::uint32_t tail_;
  alignas(kFalseSharingBytes) std::uint32_t seen_head_;
  alignas(kFalseSharingBytes) std::uint32_t seen_tail_;
};

// The ring size for messages of `message_bytes`: two frames, so the writer fills one while the
// reader drains the other, between 64 KiB and 1 MiB (about one core's L2); larger messages are
// streamed through in pieces.
[[nodiscard]] std::size_t ring_capacity_for(std::size_t message_bytes) noexcept;

// Two rings in one segment: producer -> consumer ("down") and consumer -> producer ("up").
// Wait must be constructible from the TransportOptions.
template <typename Wait>
class ShmRingTransport final : public Transport {
  using Ring = SpscRing<Wait>;

 public:
  ShmRingTransport(const TransportOptions& options, const char* id)
      : capacity_(ring_capacity_for(options.message_bytes)),
        segment_(options.name, 2 * Ring::bytes_for(capacity_)),
        object_(std::string(id) + " /dev/shm/" + options.name) {
    Ring::create(segment_.data(), capacity_);
    Ring::create(segment_.data() + Ring::bytes_for(capacity_), capacity_);
    down_.emplace(segment_.data(), Wait(options), object_ + " (down ring)");
    up_.emplace(segment_.data() + Ring::bytes_for(capacity_), Wait(options),
                object_ + " (up ring)");
  }

  void attach(Role role, pid_t /*peer*/) override {
    producer_ = role == Role::kProducer;
    segment_.touch();  // a forked child faults the pages in now, not in the timed part
  }
  void send(std::span<const std::byte> msg) override { (producer_ ? *down_ : *up_).send(msg); }
  Received recv(std::span<std::byte> msg) override {
    (producer_ ? *up_ : *down_).recv(msg);
    return Received::kMessage;
  }

 private:
  std::size_t capacity_;
  ShmSegment segment_;
  std::string object_;
  std::optional<Ring> down_, up_;  // built once the segment is mapped
  bool producer_ = true;
};

}  // namespace ipcbench
