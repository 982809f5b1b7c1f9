// SlotRing: a single-producer single-consumer ring of fixed, line-aligned pieces in shared memory,
// each carrying its own sequence word, with the way a side waits as a policy
// (transports/os/shm_wait.hpp); ShmSegment, the POSIX shared memory that holds it;
// ShmRingTransport, one ring per direction (shm_spin, shm_futex, shm_sem, shm_condvar).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
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

// Which word a side waits on: the reader waits for data (a piece's sequence word), the writer for
// space (the reader's published position).
enum class RingEvent : unsigned { kData = 0, kSpace = 1 };

// The slot ring. Its memory is an array of `pieces` pieces of `piece_bytes` bytes each (a power of
// two, a multiple of the cache line), aligned to the line. Every piece has a header: a sequence
// word and the length of the message it belongs to. A one-line piece starts with it (56 payload
// bytes follow); a larger piece is all payload and its header has a line of its own in an array
// before the pieces. A message takes pieces_for(size) consecutive pieces; the last may be partly
// empty.
//
// The writer fills piece number p (counted from 0 since the ring was made, modulo 2^32; it lives
// at index p mod pieces) and then stores p + 1 in its sequence word with release order. So the
// reader, which knows the number of the piece it wants next, spins on that piece's own sequence
// word and finds the payload on the line it just fetched: a message of up to 56 bytes moves in one
// cache-line transfer, and a stale value from an earlier lap (p + 1 - pieces) never matches.
//
// There is no per-message index: the reader publishes how many pieces it has consumed (`read`,
// on its own line) only once every `publish_every` pieces, and the writer reads it only when its
// own copy says the ring is full. So in a round trip nothing crosses between the CPUs but the
// pieces themselves.
inline constexpr std::size_t kPieceHeader = 8;
inline constexpr std::size_t kCacheLine = 64;

struct RingGeometry {
  std::uint32_t piece_bytes = 0;    // a power of two: 64 (one line), or 4096 to 16384
  std::uint32_t pieces = 0;         // a power of two
  std::uint32_t publish_every = 0;  // pieces between the reader's publications, < pieces
  // One-line pieces carry their header in the line; larger pieces are all payload, and their
  // headers sit in an array of their own, one per line (1/64 of a 4 KiB piece or less), so a
  // message of 4 KiB takes one piece, not two.
  [[nodiscard]] bool inline_header() const noexcept { return piece_bytes == kCacheLine; }
  [[nodiscard]] std::size_t payload() const noexcept {
    return inline_header() ? piece_bytes - kPieceHeader : piece_bytes;
  }
  [[nodiscard]] std::size_t header_bytes() const noexcept {
    return inline_header() ? 0 : std::size_t{kCacheLine} * pieces;
  }
  [[nodiscard]] std::size_t bytes() const noexcept {
    return header_bytes() + std::size_t{piece_bytes} * pieces;
  }
  // Pieces one message of `message_bytes` takes (an empty message still takes one).
  [[nodiscard]] std::size_t pieces_for(std::size_t message_bytes) const noexcept {
    return message_bytes == 0 ? 1 : (message_bytes + payload() - 1) / payload();
  }
};

// Messages up to this size use one-line pieces (a sequence word per line, so the reader can take
// each line as soon as it arrives); larger ones pieces of a quarter of the message, rounded up to
// a power of two, between 4 and 16 KiB, whose payload is copied at memcpy's speed and which the
// reader can take one by one while the writer writes the next. Each piece costs the reader one
// wait for a header line the writer has just written, a cache miss to the other core that no
// prefetch hides: on a 2-CPU AMD EPYC KVM guest whose cores bounced a line in 415-457 ns, five
// interleaved runs of each (median, min-max) streamed 64 KiB messages at 10.2 (9.8-10.7) GB/s in
// 4 KiB pieces and 19.1 (18.3-20.5) GB/s in 16 KiB pieces, and a 64 KiB round trip took 13.9
// (12.4-14.2) us against 7.5 (7.4-8.0) us.
inline constexpr std::size_t kLinePiecesUpTo = 1024;
inline constexpr std::size_t kSmallestPiece = 4096;
inline constexpr std::size_t kLargestPiece = 16384;

// A message of at most this many one-line pieces (224 bytes) is claimed before it is written: the
// writer asks for every line of it with write intent (prefetchw) first, so that the transfers of
// the lines' ownership from the reader's core overlap instead of following one another as each
// store reaches its line; and the reader, spinning on the first piece, does not ask for the
// second (it would take the line back while the writer is still writing it). On the 2-CPU AMD
// EPYC KVM guest, two batches of 36 RoundTrip/shm_spin/bytes:64 cases each, interleaved with
// the code before (which asked for the second line while it spun): rtt_x_cacheline median 1.09
// and 1.13 against 1.24 and 1.32. Claiming larger messages the same way slowed a 1 KiB stream
// from 2.2 to 1.3 GB/s (three runs each).
inline constexpr std::size_t kClaimedPiecesUpTo = 4;

// Asks for the line at `p` with intent to write it: a hint, it changes no data.
inline void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__) || defined(__i386__)
  // prefetchw, written out: g++ emits it for __builtin_prefetch(p, 1) only with -mprfchw.
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

// The ring for messages of `message_bytes`: pieces enough for four messages, between 64 KiB and
// 1 MiB (about one core's L2); a larger message streams through the ring piece by piece. The
// reader publishes every 16 KiB of pieces, or every quarter of the ring when that is less.
[[nodiscard]] RingGeometry ring_geometry_for(std::size_t message_bytes) noexcept;
// A ring of `pieces` pieces of `piece_bytes` (tests), publishing every quarter of the ring.
[[nodiscard]] RingGeometry ring_geometry(std::uint32_t piece_bytes, std::uint32_t pieces) noexcept;

// The shared part of one ring, ahead of its pieces: the reader's published position, then the wait
// policy's state, each on its own lines.
template <typename Wait>
struct RingControl {
  static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
                "atomics shared between processes must be lock-free");
  alignas(kFalseSharingBytes) std::atomic<std::uint32_t> read{0};  // pieces consumed, published
  alignas(kFalseSharingBytes) typename Wait::Shared wait;
  alignas(kFalseSharingBytes) RingGeometry geometry;  // constant after create()
  std::uint32_t start = 0;                            // the first piece's number (tests: laps)
};

// The bytes of one RingControl<Wait> in a segment, rounded up so the pieces stay aligned.
template <typename Wait>
[[nodiscard]] constexpr std::size_t ring_control_bytes() noexcept {
  return (sizeof(RingControl<Wait>) + kFalseSharingBytes - 1) / kFalseSharingBytes *
         kFalseSharingBytes;
}

// The header at the start of every piece.
struct PieceHeader {
  std::atomic<std::uint32_t> seq{0};  // p + 1 once piece number p is written (release)
  std::uint32_t length = 0;           // the whole message's length, written before seq
};
static_assert(sizeof(PieceHeader) == kPieceHeader);

// "recv(<object>): message of N bytes where M were expected" (EMSGSIZE).
[[noreturn]] void throw_ring_size_mismatch(std::uint64_t got, std::size_t want,
                                           const std::string& object);

// The pieces of a ring: where piece number p lives, and its header.
class RingPieces {
 public:
  RingPieces() = default;
  RingPieces(std::byte* base, const RingGeometry& g) noexcept
      : headers_(base),
        data_(base + g.header_bytes()),
        payload_bytes_(g.payload()),
        mask_(g.pieces - 1),
        shift_(std::countr_zero(g.piece_bytes)),
        inline_(g.inline_header()) {}
  // Constructs every piece's header as if written one lap before piece number `start`: piece
  // number q = start + i holds q + 1 - pieces, never the q + 1 its reader waits for (a plain 0
  // would be, for the piece numbered 2^32 - 1). Called once, before fork().
  void create(const RingGeometry& g, std::uint32_t start = 0) const noexcept {
    for (std::uint32_t i = 0; i < g.pieces; ++i) {
      const std::uint32_t q = start + i;
      PieceHeader* h = new (header_at(q)) PieceHeader{};
      h->seq.store(q + 1 - g.pieces, std::memory_order_relaxed);
    }
  }
  // The first line of piece p's payload.
  [[nodiscard]] std::byte* at(std::uint32_t p) const noexcept {
    return data_ + (static_cast<std::size_t>(p & mask_) << shift_);
  }
  [[nodiscard]] PieceHeader& header(std::uint32_t p) const noexcept {
    return *std::launder(reinterpret_cast<PieceHeader*>(header_at(p)));
  }
  [[nodiscard]] std::byte* payload(std::uint32_t p) const noexcept {
    return inline_ ? at(p) + kPieceHeader : at(p);
  }
  // Writer: writes piece j of `msg` (j < pieces_for(msg.size())) as piece number p, then
  // publishes it: its sequence word becomes p + 1, with release order.
  void put(std::uint32_t p, std::span<const std::byte> msg, std::size_t j) const noexcept {
    const std::size_t from = j * payload_bytes_;
    const std::size_t take = std::min(msg.size() - from, payload_bytes_);
    if (take != 0) std::memcpy(payload(p), msg.data() + from, take);
    PieceHeader& h = header(p);
    h.length = static_cast<std::uint32_t>(msg.size());
    h.seq.store(p + 1, std::memory_order_release);
  }
  // For a notify after pieces [first, end) were published: the sequence word to wake for a sleeper
  // that waits for sequence value `token` (piece token - 1), when that piece is one of them.
  [[nodiscard]] auto published(std::uint32_t first, std::uint32_t end) const noexcept {
    return [this, first, end](std::uint32_t token) -> const std::atomic<std::uint32_t>* {
      const std::uint32_t p = token - 1;
      return p - first < end - first ? &header(p).seq : nullptr;
    };
  }
  // Reader: copies piece number p (published) out as piece j of `msg`.
  void get(std::uint32_t p, std::span<std::byte> msg, std::size_t j) const noexcept {
    const std::size_t from = j * payload_bytes_;
    const std::size_t take = std::min(msg.size() - from, payload_bytes_);
    if (take != 0) std::memcpy(msg.data() + from, payload(p), take);
  }

 private:
  [[nodiscard]] std::byte* header_at(std::uint32_t p) const noexcept {
    return inline_ ? at(p) : headers_ + static_cast<std::size_t>(p & mask_) * kCacheLine;
  }

  std::byte* headers_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t payload_bytes_ = 0;
  std::uint32_t mask_ = 0;
  int shift_ = 0;
  bool inline_ = true;
};

// Busy-waits until piece number p is written; a piece after the first of a message, which the
// writer is writing right now (it never stops inside a message: it reserves nothing, and the ring
// cannot be full while the reader waits on the piece the writer is to write next). Yields instead
// of pausing when both ends share one CPU.
void spin_for_piece(const PieceHeader& header, std::uint32_t p, bool yield,
                    const std::string& object);
// Returns at once when piece p is there, else spin_for_piece().
inline void await_piece(const PieceHeader& header, std::uint32_t p, bool yield,
                        const std::string& object) {
  if (header.seq.load(std::memory_order_acquire) != p + 1) spin_for_piece(header, p, yield, object);
}

// Registers this process for the wait policies' asymmetric fence (transports/os/shm_wait.hpp).
bool register_membarrier() noexcept;

// A view of one ring in shared memory from one process or thread. One view may be used by one
// writer and one reader (in a thread test both); send() and recv() block through the policy and
// throw std::system_error naming the object when interrupted() is set or a wait fails. They never
// allocate.
template <typename Wait>
class SlotRing {
 public:
  using Control = RingControl<Wait>;

  // Bytes of shared memory one ring needs (control block plus pieces).
  [[nodiscard]] static constexpr std::size_t bytes_for(const RingGeometry& g) noexcept {
    return ring_control_bytes<Wait>() + g.bytes();
  }
  // Constructs an empty ring in `memory` (bytes_for(g) bytes aligned to kFalseSharingBytes).
  // `start`: the number of the first piece (0; tests start near 2^32 to cross the wrap).
  // Called once, before fork(). The policy's objects are never destroyed: they hold no kernel
  // resource, and glibc's pthread_cond_destroy waits for waiters a killed peer would never release.
  static void create(void* memory, const RingGeometry& g, std::uint32_t start = 0) {
    assert(std::has_single_bit(g.piece_bytes) && g.piece_bytes % kCacheLine == 0);
    assert(std::has_single_bit(g.pieces) && g.publish_every >= 1 && g.publish_every < g.pieces);
    assert(g.bytes() <= kMaxRingCapacity);
    auto* control = new (memory) Control{};
    control->geometry = g;
    control->start = start;
    control->read.store(start, std::memory_order_relaxed);
    RingPieces(static_cast<std::byte*>(memory) + ring_control_bytes<Wait>(), g).create(g, start);
  }

  SlotRing(void* memory, Wait wait, std::string object)
      : control_(static_cast<Control*>(memory)),
        g_(control_->geometry),
        pieces_(static_cast<std::byte*>(memory) + ring_control_bytes<Wait>(), g_),
        wait_(wait),
        object_(std::move(object)),
        yield_(wait_.same_cpu()),
        written_(control_->start),
        seen_read_(control_->start),
        next_(control_->start),
        published_(control_->start) {}

  [[nodiscard]] const RingGeometry& geometry() const noexcept { return g_; }
  // The reader's published position: it moves while the reader copies a long message out, so a
  // waiting peer can tell that this side is busy (FutexWait spins on while it moves).
  [[nodiscard]] const std::atomic<std::uint32_t>& reader_progress() const noexcept {
    return control_->read;
  }
  // The other side's progress word, watched while this side waits (see FutexWait).
  void watch_while_waiting(const std::atomic<std::uint32_t>* activity) noexcept {
    activity_ = activity;
  }

  // Writer: copies the whole message in, piece by piece, each published as soon as it is written
  // (a small one claimed first: kClaimedPiecesUpTo).
  void send(std::span<const std::byte> msg) {
    const std::uint32_t first = written_;
    const std::size_t n = g_.pieces_for(msg.size());
    if (g_.inline_header() && n <= kClaimedPiecesUpTo) {
      for (std::uint32_t j = 0; j < n; ++j) prefetch_for_write(pieces_.at(first + j));
    }
    for (std::size_t j = 0; j < n; ++j, ++written_) {
      if (written_ - seen_read_ >= g_.pieces) wait_for_space(msg.size(), first, j);
      pieces_.put(written_, msg, j);
    }
    wait_.notify(control_->wait, RingEvent::kData, object_, pieces_.published(first, written_));
  }

  // Reader: copies one whole message out; its length must be msg.size().
  void recv(std::span<std::byte> msg) {
    const std::size_t n = g_.pieces_for(msg.size());
    PieceHeader& h0 = pieces_.header(next_);
    const std::uint32_t want = next_ + 1;
    if (h0.seq.load(std::memory_order_acquire) != want) {
      // While spinning on a large piece's header, also ask for its first payload line, so they
      // arrive together rather than one after another. Not a one-line piece's successor: see
      // kClaimedPiecesUpTo.
      const std::byte* second = g_.inline_header() ? nullptr : pieces_.at(next_);
      wait_.wait(
          control_->wait, RingEvent::kData, h0.seq,
          [&] {
            if (second != nullptr) __builtin_prefetch(second);
            return h0.seq.load(std::memory_order_acquire) == want;
          },
          object_, activity_, msg.size(), want);
    }
    if (h0.length != msg.size()) throw_ring_size_mismatch(h0.length, msg.size(), object_);
    for (std::size_t j = 0; j < n; ++j) {
      if (j != 0) await_piece(pieces_.header(next_), next_, yield_, object_);
      pieces_.get(next_, msg, j);
      ++next_;
      if (next_ - published_ >= g_.publish_every) publish();
    }
    // A writer that sleeps for space is told at once rather than at the next publication.
    if (next_ != published_ && Wait::sleeping(control_->wait, RingEvent::kSpace)) publish();
  }

 private:
  // Before piece j of a message whose first piece is number `first`: when the ring is really full
  // in the middle of a message, the reader may be asleep on its first piece, to be woken only
  // after the last: it is told now, or both would wait until a wait slice ends.
  void wait_for_space(std::size_t message_bytes, std::uint32_t first, std::size_t j) {
    seen_read_ = control_->read.load(std::memory_order_acquire);
    if (written_ - seen_read_ < g_.pieces) return;
    if (j != 0) {
      wait_.notify(control_->wait, RingEvent::kData, object_, pieces_.published(first, written_));
    }
    wait_.wait(
        control_->wait, RingEvent::kSpace, control_->read,
        [&] {
          seen_read_ = control_->read.load(std::memory_order_acquire);
          return written_ - seen_read_ < g_.pieces;
        },
        object_, &control_->read, message_bytes);
  }
  void publish() {
    published_ = next_;
    control_->read.store(next_, std::memory_order_release);
    wait_.notify(control_->wait, RingEvent::kSpace, object_,
                 [this](std::uint32_t) { return &control_->read; });
  }

  Control* control_;
  RingGeometry g_;
  RingPieces pieces_;
  Wait wait_;
  std::string object_;
  bool yield_;
  const std::atomic<std::uint32_t>* activity_ = nullptr;
  // Writer side: the next piece to write, and the reader's position when last looked at. Reader
  // side: the next piece to read, and the position it last published. Each side on its own line:
  // in a thread test the writer and the reader share one view.
  alignas(kFalseSharingBytes) std::uint32_t written_;
  std::uint32_t seen_read_;
  alignas(kFalseSharingBytes) std::uint32_t next_;
  std::uint32_t published_;
};

// Two rings in one segment: producer -> consumer ("down") and consumer -> producer ("up").
// Wait must be constructible from the TransportOptions.
template <typename Wait>
class ShmRingTransport final : public Transport {
  using Ring = SlotRing<Wait>;

 public:
  ShmRingTransport(const TransportOptions& options, const char* id)
      : geometry_(ring_geometry_for(options.message_bytes)),
        segment_(options.name, 2 * Ring::bytes_for(geometry_)),
        object_(std::string(id) + " /dev/shm/" + options.name) {
    Ring::create(segment_.data(), geometry_);
    Ring::create(segment_.data() + Ring::bytes_for(geometry_), geometry_);
    down_.emplace(segment_.data(), Wait(options), object_ + " (down ring)");
    up_.emplace(segment_.data() + Ring::bytes_for(geometry_), Wait(options),
                object_ + " (up ring)");
    // A side waiting for the other's reply watches the other copy out what it sent: the producer,
    // waiting on the up ring, watches the down ring's reader, and the other way round.
    up_->watch_while_waiting(&down_->reader_progress());
    down_->watch_while_waiting(&up_->reader_progress());
  }

  void attach(Role role, pid_t /*peer*/) override {
    producer_ = role == Role::kProducer;
    (void)register_membarrier();  // this process takes part in the asymmetric fence (shm_wait.hpp)
    segment_.touch();             // a forked child faults the pages in now, not in the timed part
  }
  void send(std::span<const std::byte> msg) override { (producer_ ? *down_ : *up_).send(msg); }
  Received recv(std::span<std::byte> msg) override {
    (producer_ ? *up_ : *down_).recv(msg);
    return Received::kMessage;
  }

 private:
  RingGeometry geometry_;
  ShmSegment segment_;
  std::string object_;
  std::optional<Ring> down_, up_;  // built once the segment is mapped
  bool producer_ = true;
};

}  // namespace ipcbench
