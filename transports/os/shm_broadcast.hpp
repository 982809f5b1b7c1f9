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

// The segment holds one RingControl per reader, then the pieces every reader reads. Reader i's
// control holds its published position (`read`, written by reader i only) and its policy state,
// each on its own line. The pieces are the slot ring's (transports/os/shm_ring.hpp): each carries
// its own sequence word, which every reader spins on, so the payload is written once and each
// reader fetches it with its flag. The writer notifies each reader separately, so each (writer,
// reader i) pair waits and wakes exactly as the two sides of one SlotRing do.
template <typename Wait>
class BroadcastRing final : public ShmBroadcast {
  using Control = RingControl<Wait>;

 public:
  BroadcastRing(const TransportOptions& options, const char* id, std::size_t readers,
                const RingGeometry& geometry)
      : segment_(options.name, readers * control_bytes() + geometry.bytes()),
        object_(std::string(id) + " broadcast /dev/shm/" + options.name),
        wait_(options),
        g_(geometry),
        controls_(segment_.data()),
        pieces_(segment_.data() + readers * control_bytes(), geometry),
        readers_(readers),
        views_(readers) {
    for (std::size_t i = 0; i < readers; ++i) {
      new (control(i)) Control{};
      control(i)->geometry = g_;
    }
    pieces_.create(g_);
  }

  [[nodiscard]] std::size_t readers() const noexcept override { return readers_; }
  // The largest message: every piece's payload.
  [[nodiscard]] std::size_t capacity() const noexcept override {
    return std::size_t{g_.pieces} * g_.payload();
  }
  void attach() noexcept override {
    (void)register_membarrier();  // this process takes part in the asymmetric fence
    segment_.touch();
  }

  void write(std::span<const std::byte> msg) override {
    const std::size_t n = g_.pieces_for(msg.size());
    if (n > g_.pieces) {
      throw_sys_error(EMSGSIZE, "write",
                      object_ + ": a message of " + std::to_string(msg.size()) +
                          " bytes does not fit the broadcast ring of " +
                          std::to_string(g_.bytes()) + " bytes (messages are never split)");
    }
    if (written_ + n - slowest_read_ > g_.pieces) {
      wait_for_all([&](std::uint32_t read) { return written_ + n - read <= g_.pieces; });
    }
    const std::uint32_t first = written_;
    for (std::size_t j = 0; j < n; ++j, ++written_) pieces_.put(written_, msg, j);
    for (std::size_t i = 0; i < readers_; ++i) {
      wait_.notify(control(i)->wait, RingEvent::kData, object_, pieces_.published(first, written_));
    }
  }

  void wait_released() override {
    wait_for_all([&](std::uint32_t read) { return read == written_; });
  }

  void read(std::size_t reader, std::span<std::byte> msg) override {
    assert(reader < readers_);
    View& v = views_[reader];
    Control& c = *control(reader);
    PieceHeader& h0 = pieces_.header(v.next);
    const std::uint32_t want = v.next + 1;
    if (h0.seq.load(std::memory_order_acquire) != want) {
      wait_.wait(
          c.wait, RingEvent::kData, h0.seq,
          [&] { return h0.seq.load(std::memory_order_acquire) == want; }, object_, nullptr, 0,
          want);
    }
    if (h0.length != msg.size()) throw_ring_size_mismatch(h0.length, msg.size(), object_);
    const std::size_t n = g_.pieces_for(msg.size());
    for (std::size_t j = 0; j < n; ++j, ++v.next) {
      if (j != 0) await_piece(pieces_.header(v.next), v.next, wait_.same_cpu(), object_);
      pieces_.get(v.next, msg, j);
    }
  }

  void release(std::size_t reader) override {
    assert(reader < readers_);
    Control& c = *control(reader);
    c.read.store(views_[reader].next, std::memory_order_release);
    wait_.notify(c.wait, RingEvent::kSpace, object_, [&c](std::uint32_t) { return &c.read; });
  }

 private:
  static constexpr std::size_t control_bytes() noexcept { return ring_control_bytes<Wait>(); }

  Control* control(std::size_t i) const noexcept {
    return std::launder(reinterpret_cast<Control*>(controls_ + i * control_bytes()));
  }

  // Writer: waits on each reader's position in turn until ready(read) holds for all (positions
  // only move forward, so one that was ready stays ready), and remembers the slowest reader's.
  template <typename Ready>
  void wait_for_all(Ready&& ready) {
    std::uint32_t slowest = written_;
    for (std::size_t i = 0; i < readers_; ++i) {
      Control& c = *control(i);
      std::uint32_t read = c.read.load(std::memory_order_acquire);
      if (!ready(read)) {
        wait_.wait(
            c.wait, RingEvent::kSpace, c.read,
            [&] { return ready(read = c.read.load(std::memory_order_acquire)); }, object_, &c.read);
      }
      if (written_ - read > written_ - slowest) slowest = read;
    }
    slowest_read_ = slowest;
  }

  // A reader's own position; on its own line, since in a thread test every reader and the writer
  // share this object.
  struct alignas(kFalseSharingBytes) View {
    std::uint32_t next = 0;  // the next piece to read (published by release())
  };

  ShmSegment segment_;
  std::string object_;
  Wait wait_;  // constant after construction: shared by the writer and the readers
  RingGeometry g_;
  std::byte* controls_;
  RingPieces pieces_;
  std::size_t readers_;
  std::vector<View> views_;
  alignas(kFalseSharingBytes) std::uint32_t written_ = 0;  // the writer's: pieces ever written
  std::uint32_t slowest_read_ = 0;  // the slowest reader's position when last looked at
};

// What the shm ring transports declare about their broadcast and fan-in forms.
inline constexpr std::string_view kShmBroadcastDesign = "one broadcast ring, written once";
inline constexpr std::string_view kShmRingNoFanIn =
    "not written yet: a ring has one writer, so fan-in needs one ring per client and a server "
    "waiting on all of them at once (a spinner could poll them; the futex, semaphore and "
    "condition policies sleep on one ring's index)";

// The ring for `readers` readers of messages of options.message_bytes: ring_geometry_for, or
// larger to hold one message. Throws std::invalid_argument naming `id` for readers == 0 or
// > kMaxBroadcastReaders, or a ring over the 1 GiB limit.
[[nodiscard]] RingGeometry broadcast_geometry_for(const char* id, std::size_t message_bytes,
                                                  std::size_t readers);

// A broadcast ring for `readers` readers that waits with Wait, sized by broadcast_geometry_for,
// in one POSIX shared memory object named options.name, created 0600 and unlinked before this
// returns; `id` (the mechanism) names it in errors. Throws std::invalid_argument (see above),
// std::system_error naming the object otherwise.
template <typename Wait>
[[nodiscard]] ShmBroadcastPtr make_broadcast_ring(const TransportOptions& options, const char* id,
                                                  std::size_t readers) {
  const RingGeometry geometry = broadcast_geometry_for(id, options.message_bytes, readers);
  return std::make_unique<BroadcastRing<Wait>>(options, id, readers, geometry);
}

}  // namespace ipcbench
