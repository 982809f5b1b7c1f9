// The machine's own limits as benchmarks (Limit/cacheline_rtt on two CPUs, Limit/yield_pingpong on
// one, Limit/cross_core_copy/bytes:<n> on two CPUs, Limit/same_cpu_copy/bytes:<n> on one,
// Limit/memcpy/bytes:<n>, Limit/syscall), the cache-line and cross-core copy floors measured on
// demand for the transport rows' distance counters, and what the Limit benchmarks measured in this
// run.
#pragma once

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench/options.hpp"
#include "harness/bounce.hpp"
#include "harness/clock.hpp"
#include "harness/cpus.hpp"
#include "harness/launch.hpp"
#include "harness/process.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {

// What the Limit benchmarks measured so far in this run (the last run of each wins, so with
// repetitions it is the latest). Zero or absent: that Limit has not run in this process, and no
// transport row may claim a distance to it.
struct MeasuredLimits {
  std::map<std::size_t, double> memcpy_bytes_per_second;  // Limit/memcpy by size
};
[[nodiscard]] const MeasuredLimits& measured_limits() noexcept;

// The cache-line floor between two CPUs: the round trip of one cache line bounced between two
// processes pinned there, the same bounce as Limit/cacheline_rtt.
struct CachelineFloor {
  bool measured = false;     // false on one CPU (no floor exists there) or when the bounce failed
  double ns_per_bounce = 0;  // p50 over samples of (K bounces' time / K), ns, round trip
  std::uint64_t bounces_per_sample = 0;  // K (kBouncesPerSample) when measured
  std::uint64_t samples = 0;
  std::string why_not;  // when !measured: "one CPU: ..." or what failed
};

// The budget of cacheline_floor_now: ~2000 round trips after the warm-up, as before the bounces
// were sampled K at a time.
inline constexpr std::uint64_t kSamplesNow = 2048 / kBouncesPerSample;

// Measures the cache-line floor on `cpus` now: kSamplesNow samples of kBouncesPerSample bounces
// (after an untimed warm-up), by two forked processes. A RoundTrip row's two-line floor is this,
// measured right after it on its own CPUs (its one-line floor is bounced by the case's own
// processes, between its burst samples: PairConfig::burst_floor). With both ends on one CPU it
// bounces nothing and returns measured=false: there the "bounce" is a sched_yield ping-pong. Blocks
// for the bounce (two forked processes, watched by a watchdog of `watchdog`); never throws: a
// failure is returned in why_not.
// With `two_lines`, the two-line bounce instead (see bounce_line): each process writes only its
// own line, the least a round trip over two one-way channels can cost, where the one-line bounce
// is the least any protocol can.
[[nodiscard]] inline CachelineFloor cacheline_floor_now(const CpuPair& cpus,
                                                        std::chrono::milliseconds watchdog,
                                                        bool two_lines = false);

// Registers the Limit benchmarks, pinned like the transports (the producer's CPU, and the
// consumer's for the second process of the bounce), memcpy at every size of `options`. The bounce
// is Limit/cacheline_rtt on two CPUs and Limit/yield_pingpong on one (never published as a
// cache-line floor there); one iteration is one bounce, timed kBouncesPerSample at a time. Call it
// before registering the transports: Google Benchmark runs benchmarks in registration order, so
// the limits are known when the transport rows are published. With --quick the iteration counts
// are fixed.
void register_limit_benchmarks(const BenchOptions& options);

// The cross-core copy: a stream of n-byte messages from a process pinned to the producer's CPU to
// one pinned to the consumer's, through a ring in shared memory, with the writer and the reader
// overlapping, as in a stream. The writer fills a free slot with a byte that depends on the
// message (plain stores: memset, no source buffer to read) and publishes it with a release store
// of the sequence number into the slot's last 8 bytes; the reader spins until that word holds the
// sequence, sums every other byte (checked: the reads cannot be elided, and a wrong byte fails the
// run) and hands slots back by storing its position, a quarter of the ring at a time, on a line of
// its own. The writer waits only when the ring is full, the reader only when it is empty. A
// message larger than kCopyPieceBytes moves in pieces of that size, each published the same way,
// so the ring stays within kCopyRingBytes and the reader starts on a message before its last
// piece is written. Nothing is moved that a stream of n-byte messages would not also have to move
// (no header, no index per message, no second copy), so its bytes/s is an upper bound for such a
// stream between the two CPUs: the floor. A "handover" is one message of n bytes.

// The ring's size and the largest piece. 256 KiB fits every L2 of the machines this runs on (1 or
// 2 MiB), so the lines travel core to core instead of through memory; 16 pieces of 16 KiB let the
// writer fill one piece while the reader reads others (measured on the 2-CPU guest: 1 MiB messages
// as 16 KiB pieces in 256 KiB moved 12.8 GB/s, as two whole 1 MiB buffers 7.1-7.5 GB/s).
inline constexpr std::size_t kCopyRingBytes = std::size_t{256} << 10;
inline constexpr std::size_t kCopyPieceBytes = std::size_t{16} << 10;
inline constexpr std::size_t kCopyMinSlots = 4;

// Where the messages of one size go in the ring.
struct CopyGeometry {
  std::size_t message_bytes = 0;  // n: what one message counts in bytes/s
  std::size_t padded_bytes = 0;   // n rounded up to 8, at least 8: the sequence word's room
  std::size_t piece_bytes = 0;    // a slot: padded_bytes in whole lines, at most kCopyPieceBytes
  std::size_t pieces_per_message = 0;  // padded_bytes / piece_bytes, rounded up
  std::size_t slots = 0;               // max(kCopyMinSlots, kCopyRingBytes / piece_bytes)
  std::size_t release_every = 0;       // the reader hands back this many slots at once: slots / 4

  [[nodiscard]] constexpr std::size_t ring_bytes() const noexcept { return slots * piece_bytes; }
  // The length of piece `piece` (counted from the first message's first piece): piece_bytes, or
  // what is left of the message for its last piece; a multiple of 8, at least 8.
  [[nodiscard]] constexpr std::size_t piece_length(std::uint64_t piece) const noexcept {
    const std::uint64_t j = piece % pieces_per_message;
    return j + 1 < pieces_per_message ? piece_bytes
                                      : padded_bytes - (pieces_per_message - 1) * piece_bytes;
  }
};

[[nodiscard]] constexpr CopyGeometry copy_geometry(std::size_t bytes) noexcept {
  CopyGeometry g;
  g.message_bytes = bytes;
  g.padded_bytes = std::max<std::size_t>((bytes + 7) / 8 * 8, 8);
  // Whole cache lines: a message of a stream gets lines of its own (as the shm rings give it), so
  // no two messages share a line and the copy is not slowed by writer and reader fighting for one.
  g.piece_bytes = std::min((g.padded_bytes + 63) / 64 * 64, kCopyPieceBytes);
  g.pieces_per_message = (g.padded_bytes + g.piece_bytes - 1) / g.piece_bytes;
  g.slots = std::max(kCopyMinSlots, kCopyRingBytes / g.piece_bytes);
  g.release_every = g.slots / 4;
  return g;
}

// Messages per pair of clock reads at `bytes`: 1 MiB of them (16384 at 64 B, 16 at 64 KiB), at
// least 8. The clock is read by the writer while the stream runs on: a sample must span many
// quarters of the ring, so that the writer's bursts into freed slots average out (in the steady
// state the ring is full and the writer moves at the reader's pace); its two clock reads (~40 ns)
// are then a few parts in 10^4 of it.
[[nodiscard]] constexpr std::uint64_t handovers_per_sample(std::size_t bytes) noexcept {
  return std::clamp<std::uint64_t>((std::uint64_t{1} << 20) / std::max<std::size_t>(bytes, 1), 8,
                                   16384);
}

// One sample of handovers: its time per handover and its rate.
struct CopySample {
  double ns_per_handover = 0;   // (t1 - t0) / k
  double bytes_per_second = 0;  // bytes * k / (t1 - t0), plain bytes/s; 0 when t1 == t0
};

// Times `samples` samples of `k` back-to-back calls of `handover()` (each moving `bytes`) between
// two calls of `clock()` (ns), as sample_bounces does: the clock is read exactly twice per sample,
// and `on_sample` (untimed) gets the sample's CopySample. k >= 1.
template <typename Handover, typename Clock, typename OnSample>
void sample_handovers(std::uint64_t samples, std::uint64_t k, std::size_t bytes,
                      Handover&& handover, Clock&& clock, OnSample&& on_sample) {
  sample_bounces(samples, k, handover, clock, [&](double ns_per_handover) {
    CopySample s;
    s.ns_per_handover = ns_per_handover;
    if (ns_per_handover > 0)
      s.bytes_per_second = static_cast<double>(bytes) * 1e9 / ns_per_handover;
    on_sample(s);
  });
}

// The cross-core copy floor at one size between two CPUs, as Limit/cross_core_copy measures it.
struct CopyFloor {
  bool measured = false;  // false on one CPU (no line crosses), at 0 bytes, or when it failed
  std::size_t bytes = 0;
  double ns_per_handover = 0;              // p50 over samples of (k messages' time / k)
  double bytes_per_second = 0;             // bytes * 1e9 / ns_per_handover, plain bytes/s
  std::uint64_t handovers_per_sample = 0;  // k = handovers_per_sample(bytes) when measured
  std::uint64_t samples = 0;
  std::string why_not;  // when !measured: "one CPU: ..." or what failed
};

// The budget of cross_core_copy_now: this many samples of handovers_per_sample(bytes), after an
// untimed warm-up of copy_warmup_handovers(bytes) that fills the ring many times (4 MiB, at least
// 16 messages). At 1 MiB: 256 MiB timed, about 20 ms.
inline constexpr std::uint64_t kCopySamplesNow = 32;
[[nodiscard]] constexpr std::uint64_t copy_warmup_handovers(std::size_t bytes) noexcept {
  return std::clamp<std::uint64_t>((std::uint64_t{4} << 20) / std::max<std::size_t>(bytes, 1), 16,
                                   65536);
}

// Measures the cross-core copy floor at `bytes` on `cpus` now (kCopySamplesNow samples). A Stream
// row divides its bytes/s by this, measured right after it on its own CPUs, as a RoundTrip row
// does with cacheline_floor_now. With both ends on one CPU, or at 0 bytes, it copies nothing and
// returns measured=false. Blocks for the copy (two forked processes, watched by a watchdog of
// `watchdog`); never throws: a failure is returned in why_not.
[[nodiscard]] inline CopyFloor cross_core_copy_now(const CpuPair& cpus, std::size_t bytes,
                                                   std::chrono::milliseconds watchdog);

// The bounce itself. Defined in this header, not in limits.cpp, so that the tests (which link the
// harness, not the bench binary's sources) can run it.
namespace limits_detail {

// The lines (harness/bounce.hpp) and the value that stops the peer.
using Bounce = BounceLines;
inline constexpr std::uint64_t kStop = kBounceStop;
inline constexpr std::uint64_t kBounceWarmup = 1000;

// Two processes pinned to `cpus` bounce one cache line: the parent stores an odd value, the peer
// sees it and stores value + 1, the parent sees that. With `two_lines` the peer answers on a line
// of its own (`back`) instead, so each process only writes its own line and only reads the
// other's, as the two directions of a pair of one-way channels do. After kBounceWarmup untimed
// bounces, `samples` samples of `k` bounces are timed by sample_bounces with now_ns (the
// transports' clock) and each sample's ns per bounce goes to `on_sample`. With both ends on one CPU
// the spinners yield: a sched_yield ping-pong. `what` names the run in failures. Returns "" or what
// failed; never throws.
inline std::string bounce_line(const CpuPair& cpus, std::chrono::milliseconds watchdog,
                               const char* what, std::uint64_t samples, std::uint64_t k,
                               const std::function<void(double)>& on_sample,
                               bool two_lines = false) {
  const bool yield = cpus.same();
  std::string failure;
  try {
    SharedRegion<Bounce> bounce;
    ScopedPin pinned(cpus.producer);
    Launch launch(what, watchdog);
    launch.start("bounce peer", cpus.consumer, [&](Peer& peer) {
      for (std::uint64_t want = 1;; want += 2) {
        if (wait_for_line(bounce->line, want, yield, what) == kStop) break;
        (two_lines ? bounce->back : bounce->line).store(want + 1, std::memory_order_release);
      }
      peer.finish();
    });
    std::atomic<std::uint64_t> progress{0};
    failure = launch.watch(&progress, [&] {
      std::uint64_t value = 1;
      const auto bounce_once = [&] {
        bounce->line.store(value, std::memory_order_release);
        (void)wait_for_line(two_lines ? bounce->back : bounce->line, value + 1, yield, what);
        value += 2;
      };
      for (std::uint64_t i = 0; i < kBounceWarmup; ++i) bounce_once();
      progress.store(1, std::memory_order_relaxed);
      sample_bounces(samples, k, bounce_once, now_ns, [&](double ns_per_bounce) {
        on_sample(ns_per_bounce);
        progress.fetch_add(1, std::memory_order_relaxed);
      });
      bounce->line.store(kStop, std::memory_order_release);
    });
    const std::string ended = launch.end(0, !failure.empty());
    if (failure.empty()) failure = ended;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return failure;
}

// `bytes` in an anonymous MAP_SHARED mapping made before fork() (page-aligned, so line-aligned):
// the buffer of the cross-core copy. Owns the mapping; throws std::system_error when mmap fails.
class SharedBytes {
 public:
  explicit SharedBytes(std::size_t bytes) : bytes_(std::max<std::size_t>(bytes, 1)) {
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_sys_error(errno, "mmap", "cross-core copy buffer");
    data_ = static_cast<unsigned char*>(p);
  }
  SharedBytes(const SharedBytes&) = delete;
  SharedBytes& operator=(const SharedBytes&) = delete;
  ~SharedBytes() { ::munmap(data_, bytes_); }
  [[nodiscard]] unsigned char* data() const noexcept { return data_; }

 private:
  std::size_t bytes_;
  unsigned char* data_ = nullptr;
};

// The byte every position holds in handover h (never 0, changes every handover).
inline unsigned char copy_byte(std::uint64_t h) { return static_cast<unsigned char>(1 + h % 251); }

// The sum the reader computes: the buffer's 8-byte words (mod 2^64), then the tail bytes. Four
// accumulators, so the loads are not one dependency chain.
inline std::uint64_t sum_bytes(const unsigned char* p, std::size_t n) {
  std::uint64_t a = 0, b = 0, c = 0, d = 0;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w[4];
    std::memcpy(w, p + i, sizeof w);
    a += w[0];
    b += w[1];
    c += w[2];
    d += w[3];
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, sizeof w);
    a += w;
  }
  for (; i < n; ++i) a += p[i];
  return a + b + c + d;
}

// What sum_bytes returns for `n` bytes all equal to `v`.
inline std::uint64_t expected_sum(unsigned char v, std::size_t n) {
  return static_cast<std::uint64_t>(n / 8) * (std::uint64_t{v} * 0x0101010101010101ULL) +
         static_cast<std::uint64_t>(n % 8) * v;
}

// The reader's position (pieces read), on a line of its own: the writer reads it only when its
// copy says the ring is full.
struct CopyPosition {
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
  alignas(kFalseSharingBytes) std::atomic<std::uint64_t> read{0};
};

// A fault for the tests: the writer flips `byte` (an offset into the padded message, the sequence
// word included) of message `message` before publishing it. None by default.
struct CopyFault {
  std::uint64_t message = UINT64_MAX;
  std::size_t byte = 0;
};

// The sequence word that publishes piece `piece`: the last 8 bytes of its slot. A piece's other
// length - 8 bytes start at the slot's start; only a message's short last piece (n > 16 KiB and
// not a multiple of it) leaves a gap before the word. Always the same place in a slot, so the
// reader never mistakes a byte of the slot's previous piece for a sequence.
inline std::atomic_ref<std::uint64_t> sequence_word(unsigned char* ring, const CopyGeometry& g,
                                                    std::uint64_t piece) {
  static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= 8);
  unsigned char* slot = ring + (piece % g.slots) * g.piece_bytes;
  // Page-aligned ring, slots multiples of 8: the word is 8-aligned.
  return std::atomic_ref<std::uint64_t>(
      *reinterpret_cast<std::uint64_t*>(slot + g.piece_bytes - 8));
}

// Spins (pause, or sched_yield on one CPU) until `ready()`, checking for a peer's death.
template <typename Ready>
void spin_until(Ready&& ready, bool yield, const char* what) {
  for (std::uint32_t i = 1; !ready(); ++i) {
    if (yield) {
      ::sched_yield();
    } else {
      cpu_relax();
    }
    if (i % 1024 == 0) throw_if_interrupted("spin", what);
  }
}

// Two processes pinned to `cpus` stream messages of `bytes` through the cross-core copy's ring
// (copy_geometry): the parent writes, the peer reads and checks every byte (a wrong sequence word
// or byte sum ends the run with a message naming the message). After `warmup` untimed messages,
// `samples` samples of `k` messages are timed by sample_handovers with now_ns, on the writer, while
// the stream runs on, and each goes to `on_sample`. `fault` corrupts one message (tests). On one
// CPU the spinners yield. `what` names the run in failures. Returns "" or what failed; never
// throws.
inline std::string copy_lines(const CpuPair& cpus, std::chrono::milliseconds watchdog,
                              const char* what, std::size_t bytes, std::uint64_t warmup,
                              std::uint64_t samples, std::uint64_t k,
                              const std::function<void(const CopySample&)>& on_sample,
                              CopyFault fault = {}) {
  const bool yield = cpus.same();
  const CopyGeometry g = copy_geometry(bytes);
  const std::uint64_t messages = warmup + samples * k;
  const std::uint64_t pieces = messages * g.pieces_per_message;
  std::string failure;
  try {
    SharedRegion<CopyPosition> position;
    SharedBytes buffer(g.ring_bytes());
    unsigned char* const ring = buffer.data();
    std::memset(ring, 0, g.ring_bytes());  // every page present before fork(), no sequence set
    ScopedPin pinned(cpus.producer);
    Launch launch(what, watchdog);
    launch.start("copy reader", cpus.consumer, [&](Peer& peer) {
      for (std::uint64_t p = 0; p < pieces; ++p) {
        // The slot held piece p - slots before (nothing on the first lap): wait for a change.
        const std::uint64_t before = p >= g.slots ? p + 1 - g.slots : 0;
        const std::atomic_ref<std::uint64_t> word = sequence_word(ring, g, p);
        std::uint64_t seq = before;
        spin_until([&] { return (seq = word.load(std::memory_order_acquire)) != before; }, yield,
                   what);
        const std::uint64_t message = p / g.pieces_per_message;
        if (seq != p + 1) {
          throw std::runtime_error(std::string(what) + ": message " + std::to_string(message) +
                                   " published sequence " + std::to_string(seq) + ", expected " +
                                   std::to_string(p + 1));
        }
        const std::size_t data = g.piece_length(p) - 8;
        const unsigned char* slot = ring + (p % g.slots) * g.piece_bytes;
        const std::uint64_t sum = sum_bytes(slot, data);
        if (sum != expected_sum(copy_byte(p), data)) {
          throw std::runtime_error(std::string(what) + ": message " + std::to_string(message) +
                                   " read a sum of " + std::to_string(sum) + ", expected " +
                                   std::to_string(expected_sum(copy_byte(p), data)));
        }
        // Release: the writer refills these slots only after the reads above.
        if ((p + 1) % g.release_every == 0 || p + 1 == pieces) {
          position->read.store(p + 1, std::memory_order_release);
        }
      }
      peer.finish();
    });
    std::atomic<std::uint64_t> progress{0};
    failure = launch.watch(&progress, [&] {
      std::uint64_t p = 0;     // the next piece to write
      std::uint64_t read = 0;  // the reader's position as last seen
      std::uint64_t m = 0;     // the next message
      const auto handover = [&] {
        for (std::size_t j = 0; j < g.pieces_per_message; ++j, ++p) {
          if (p - read >= g.slots) {
            spin_until(
                [&] {
                  return p - (read = position->read.load(std::memory_order_acquire)) < g.slots;
                },
                yield, what);
          }
          const std::size_t length = g.piece_length(p);
          unsigned char* slot = ring + (p % g.slots) * g.piece_bytes;
          std::memset(slot, copy_byte(p), length - 8);
          std::uint64_t seq = p + 1;
          if (m == fault.message) {
            const std::size_t at = j * g.piece_bytes;  // this piece's offset in the message
            if (fault.byte >= at && fault.byte < at + length - 8) {
              slot[fault.byte - at] = static_cast<unsigned char>(~copy_byte(p));
            } else if (fault.byte >= at + length - 8 && fault.byte < at + length) {
              seq ^= std::uint64_t{0xff} << (8 * (fault.byte - (at + length - 8)));
            }
          }
          sequence_word(ring, g, p).store(seq, std::memory_order_release);
        }
        ++m;
      };
      for (std::uint64_t i = 0; i < warmup; ++i) {
        handover();
        if (i % 64 == 63) progress.fetch_add(1, std::memory_order_relaxed);
      }
      progress.fetch_add(1, std::memory_order_relaxed);
      sample_handovers(samples, k, bytes, handover, now_ns, [&](const CopySample& s) {
        on_sample(s);
        progress.fetch_add(1, std::memory_order_relaxed);
      });
      // Untimed: the reader drains the ring and ends.
      spin_until([&] { return position->read.load(std::memory_order_acquire) == pieces; }, yield,
                 what);
    });
    const std::string ended = launch.end(0, !failure.empty());
    // The watchdog says that the reader died; end() adds why (a wrong byte names the message).
    if (failure.empty()) {
      failure = ended;
    } else if (!ended.empty()) {
      failure += "; " + ended;
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  return failure;
}

// The value of nearest rank ceil(n / 2) of `v` (reordered), exact; 0 when empty.
inline double median_of(std::vector<double>& v) {
  if (v.empty()) return 0;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>((v.size() + 1) / 2 - 1);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

}  // namespace limits_detail

inline CopyFloor cross_core_copy_now(const CpuPair& cpus, std::size_t bytes,
                                     std::chrono::milliseconds watchdog) {
  CopyFloor floor;
  floor.bytes = bytes;
  if (cpus.same()) {
    floor.why_not = "one CPU: both ends on cpu" + std::to_string(cpus.producer) +
                    ": no line crosses between two cores, not a cross-core copy floor";
    return floor;
  }
  if (bytes == 0) {
    floor.why_not = "0 bytes: nothing to copy";
    return floor;
  }
  const std::uint64_t k = handovers_per_sample(bytes);
  std::vector<double> ns;
  ns.reserve(kCopySamplesNow);
  floor.why_not = limits_detail::copy_lines(
      cpus, watchdog, "cross-core copy floor", bytes, copy_warmup_handovers(bytes), kCopySamplesNow,
      k, [&](const CopySample& s) { ns.push_back(s.ns_per_handover); });
  if (!floor.why_not.empty()) return floor;
  const double p50 = limits_detail::median_of(ns);
  if (p50 <= 0) {
    floor.why_not = "cross-core copy floor: no sample";
    return floor;
  }
  floor.measured = true;
  floor.ns_per_handover = p50;
  floor.bytes_per_second = static_cast<double>(bytes) * 1e9 / p50;
  floor.handovers_per_sample = k;
  floor.samples = ns.size();
  return floor;
}

inline CachelineFloor cacheline_floor_now(const CpuPair& cpus, std::chrono::milliseconds watchdog,
                                          bool two_lines) {
  CachelineFloor floor;
  if (cpus.same()) {
    floor.why_not = "one CPU: both ends on cpu" + std::to_string(cpus.producer) +
                    ": a sched_yield ping-pong, not a cache-line floor";
    return floor;
  }
  std::vector<double> ns;
  ns.reserve(kSamplesNow);
  floor.why_not = limits_detail::bounce_line(
      cpus, watchdog, two_lines ? "two-line floor" : "cache-line floor", kSamplesNow,
      kBouncesPerSample, [&](double v) { ns.push_back(v); }, two_lines);
  if (!floor.why_not.empty()) return floor;
  if (ns.empty()) {
    floor.why_not = "cache-line floor: no sample";
    return floor;
  }
  // The sample of nearest rank ceil(n / 2), exact (no histogram bucket).
  const auto mid = ns.begin() + static_cast<std::ptrdiff_t>((ns.size() + 1) / 2 - 1);
  std::nth_element(ns.begin(), mid, ns.end());
  floor.measured = true;
  floor.ns_per_bounce = *mid;
  floor.bounces_per_sample = kBouncesPerSample;
  floor.samples = ns.size();
  return floor;
}

}  // namespace ipcbench
