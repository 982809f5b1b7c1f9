// BroadcastRing<Wait>: the broadcast form (ShmBroadcast, transports/transport.hpp) of the shm ring
// transports, one ring in POSIX shared memory written once and read by every reader, waiting with
// the mechanism's policy (transports/os/shm_wait.hpp). Each shm_<policy>.cpp instantiates it.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "transports/os/shm_ring.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/transport.hpp"

namespace ipcbench {

// The segment holds one RingControl per reader, then the data every reader reads. RingControl is
// the SPSC ring's: reader i's `head` (written by the writer), its `tail` (written by reader i) and
// the policy's state, each on its own line. The writer publishes the head to every reader
// separately, so each (writer, reader i) pair waits and wakes exactly as the two sides of one
// SpscRing do, with the policy unchanged (one sleeper per word and per SleepFlag); the payload is
// still written once.
template <typename Wait>
class BroadcastRing final : public ShmBroadcast {
  using Control = RingControl<Wait>;

 public:
  BroadcastRing(const TransportOptions& options, const char* id, std::size_t readers,
                std::size_t capacity)
      : segment_(options.name, readers * control_bytes() + capacity),
        object_(std::string(id) + " broadcast /dev/shm/" + options.name),
        wait_(options),
        controls_(reinterpret_cast<Control*>(segment_.data())),
        data_(segment_.data() + readers * control_bytes()),
        readers_(readers),
        capacity_(static_cast<std::uint32_t>(capacity)),
        views_(readers) {
    for (std::size_t i = 0; i < readers; ++i) {
      new (control(i)) Control{};
      control(i)->capacity = capacity_;
    }
  }

  [[nodiscard]] std::size_t readers() const noexcept override { return readers_; }
  [[nodiscard]] std::size_t capacity() const noexcept override { return capacity_; }
  void attach() noexcept override { segment_.touch(); }

  void write(std::span<const std::byte> msg) override {
    const std::uint64_t length = msg.size();
    const std::size_t frame = ring_frame_bytes(msg.size());
    if (frame > capacity_) {
      throw_sys_error(EMSGSIZE, "write",
                      object_ + ": a message of " + std::to_string(msg.size()) +
                          " bytes does not fit the broadcast ring of " + std::to_string(capacity_) +
                          " bytes (frames are never split)");
    }
    if (capacity_ - (head_ - slowest_tail_) < frame) {
      wait_for_all([&](std::uint32_t tail) { return capacity_ - (head_ - tail) >= frame; });
    }
    copy_in(head_, reinterpret_cast<const std::byte*>(&length), kRingFrameHeader);
    copy_in(head_ + kRingFrameHeader, msg.data(), msg.size());
    head_ += static_cast<std::uint32_t>(frame);
    for (std::size_t i = 0; i < readers_; ++i) {
      control(i)->head.store(head_, std::memory_order_release);
      wait_.notify(control(i)->wait, RingEvent::kData, control(i)->head, object_);
    }
  }

  void wait_released() override {
    wait_for_all([&](std::uint32_t tail) { return tail == head_; });
  }

  void read(std::size_t reader, std::span<std::byte> msg) override {
    assert(reader < readers_);
    View& v = views_[reader];
    Control& c = *control(reader);
    if (v.seen_head == v.tail) {
      v.seen_head = c.head.load(std::memory_order_acquire);
      if (v.seen_head == v.tail) {
        v.seen_head = wait_.wait(
            c.wait, RingEvent::kData, c.head, [&](std::uint32_t head) { return head != v.tail; },
            object_);
      }
    }
    // The writer publishes whole frames: one that has begun is all there.
    std::uint64_t length = 0;
    copy_out(v.tail, reinterpret_cast<std::byte*>(&length), kRingFrameHeader);
    if (length != msg.size()) throw_ring_size_mismatch(length, msg.size(), object_);
    copy_out(v.tail + kRingFrameHeader, msg.data(), msg.size());
    v.tail += static_cast<std::uint32_t>(ring_frame_bytes(msg.size()));
  }

  void release(std::size_t reader) override {
    assert(reader < readers_);
    Control& c = *control(reader);
    c.tail.store(views_[reader].tail, std::memory_order_release);
    wait_.notify(c.wait, RingEvent::kSpace, c.tail, object_);
  }

 private:
  static constexpr std::size_t control_bytes() noexcept { return ring_control_bytes<Wait>(); }

  Control* control(std::size_t i) const noexcept {
    return reinterpret_cast<Control*>(reinterpret_cast<std::byte*>(controls_) +
                                      i * control_bytes());
  }

  // Writer: waits on each reader's tail in turn until ready(tail) holds for all (tails only move
  // forward, so one that was ready stays ready), and remembers the slowest reader's tail.
  template <typename Ready>
  void wait_for_all(Ready&& ready) {
    std::uint32_t slowest = head_;
    for (std::size_t i = 0; i < readers_; ++i) {
      Control& c = *control(i);
      std::uint32_t tail = c.tail.load(std::memory_order_acquire);
      if (!ready(tail)) tail = wait_.wait(c.wait, RingEvent::kSpace, c.tail, ready, object_);
      if (head_ - tail > head_ - slowest) slowest = tail;
    }
    slowest_tail_ = slowest;
  }

  void copy_in(std::uint32_t pos, const std::byte* src, std::size_t n) noexcept {
    ring_copy_in(data_, capacity_, pos, src, n);
  }
  void copy_out(std::uint32_t pos, std::byte* dst, std::size_t n) const noexcept {
    ring_copy_out(data_, capacity_, pos, dst, n);
  }

  // A reader's own copies of its indices; on its own line, since in a thread test every reader
  // and the writer share this object.
  struct alignas(kFalseSharingBytes) View {
    std::uint32_t tail = 0;       // read up to here (published by release())
    std::uint32_t seen_head = 0;  // the writer's head when last looked at
  };

  ShmSegment segment_;
  std::string object_;
  Wait wait_;  // constant after construction: shared by the writer and the readers
  Control* controls_;
  std::byte* data_;
  std::size_t readers_;
  std::uint32_t capacity_;
  std::vector<View> views_;
  alignas(kFalseSharingBytes) std::uint32_t head_ = 0;  // the writer's: bytes ever written
  std::uint32_t slowest_tail_ = 0;  // the slowest reader's tail when last looked at
};

// What the shm ring transports declare about their broadcast and fan-in forms.
inline constexpr std::string_view kShmBroadcastDesign = "one broadcast ring, written once";
inline constexpr std::string_view kShmRingNoFanIn =
    "not written yet: a ring has one writer, so fan-in needs one ring per client and a server "
    "waiting on all of them at once (a spinner could poll them; the futex, semaphore and "
    "condition policies sleep on one ring's index)";

// The ring size for `readers` readers of messages of options.message_bytes: ring_capacity_for,
// or larger to hold one frame. Throws std::invalid_argument naming `id` for readers == 0 or
// > kMaxBroadcastReaders, or a ring over the 1 GiB limit.
[[nodiscard]] std::size_t broadcast_capacity_for(const char* id, std::size_t message_bytes,
                                                 std::size_t readers);

// A broadcast ring for `readers` readers that waits with Wait, sized by broadcast_capacity_for,
// in one POSIX shared memory object named options.name, created 0600 and unlinked before this
// returns; `id` (the mechanism) names it in errors. Throws std::invalid_argument (see above),
// std::system_error naming the object otherwise.
template <typename Wait>
[[nodiscard]] ShmBroadcastPtr make_broadcast_ring(const TransportOptions& options, const char* id,
                                                  std::size_t readers) {
  const std::size_t capacity = broadcast_capacity_for(id, options.message_bytes, readers);
  return std::make_unique<BroadcastRing<Wait>>(options, id, readers, capacity);
}

}  // namespace ipcbench
