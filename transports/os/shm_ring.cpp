#include "transports/os/shm_ring.hpp"

#include <linux/membarrier.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/permissions.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include "transports/os/boost_ipc.hpp"
#include "transports/os/ledger.hpp"
#include "transports/os/shm_wait.hpp"

namespace ipcbench {

namespace bip = boost::interprocess;

RingGeometry ring_geometry(std::uint32_t piece_bytes, std::uint32_t pieces) noexcept {
  return {.piece_bytes = piece_bytes, .pieces = pieces, .publish_every = std::max(1u, pieces / 4)};
}

RingGeometry ring_geometry_for(std::size_t message_bytes) noexcept {
  RingGeometry g{.piece_bytes = 64u};
  if (message_bytes > kLinePiecesUpTo) {
    g.piece_bytes = static_cast<std::uint32_t>(
        std::clamp<std::size_t>(std::bit_ceil(message_bytes) / 4, kSmallestPiece, kLargestPiece));
  }
  const std::size_t two = 4 * g.pieces_for(message_bytes) * g.piece_bytes;
  const std::size_t bytes =
      std::clamp<std::size_t>(std::bit_ceil(two), std::size_t{64} << 10, std::size_t{1} << 20);
  g.pieces = static_cast<std::uint32_t>(bytes / g.piece_bytes);
  g.publish_every = std::max<std::uint32_t>(
      1, std::min<std::uint32_t>(g.pieces / 4, (16u << 10) / g.piece_bytes));
  return g;
}

void spin_for_piece(const PieceHeader& header, std::uint32_t p, bool yield,
                    const std::string& object) {
  for (std::uint32_t i = 1; header.seq.load(std::memory_order_acquire) != p + 1; ++i) {
    if (yield) {
      ::sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#elif defined(__aarch64__)
      asm volatile("yield" ::: "memory");
#endif
    }
    if (i % 256 == 0) throw_if_interrupted("spin", object);
  }
}

bool membarrier_available() noexcept {
  static const bool available = [] {
    const long commands = ::syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    return commands > 0 && (commands & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0 &&
           (commands & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) != 0;
  }();
  return available;
}

bool register_membarrier() noexcept {
  if (!membarrier_available()) return false;
  // Registration belongs to the process (its mm): a forked child registers again when it attaches.
  return ::syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
}

void heavy_fence(bool asymmetric) noexcept {
  if (asymmetric && ::syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0) return;
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void throw_ring_size_mismatch(std::uint64_t got, std::size_t want, const std::string& object) {
  throw_sys_error(EMSGSIZE, "recv",
                  object + ": message of " + std::to_string(got) + " bytes where " +
                      std::to_string(want) + " were expected");
}

ShmSegment::ShmSegment(const std::string& name, std::size_t bytes) {
  const std::string object = "/dev/shm/" + name;
  const NameRecord record(ObjectKind::kPosixShm, name);  // covers a kill before the name's removal
  // The name is removed on every way out of the constructor once we created it: the memory lives
  // as long as a mapping of it does (ours, and a forked child's), so no one needs the name.
  struct RemoveName {
    const std::string& name;
    bool created = false;
    ~RemoveName() {
      if (created) bip::shared_memory_object::remove(name.c_str());
    }
  } remove_name{name};
  const char* call = "shm_open";
  try {
    bip::permissions only_us;
    only_us.set_permissions(0600);
    // create_only is O_CREAT | O_EXCL: a name that exists is an error, never someone else's object.
    bip::shared_memory_object shm(bip::create_only, name.c_str(), bip::read_write, only_us);
    remove_name.created = true;
    call = "ftruncate";
    shm.truncate(static_cast<bip::offset_t>(bytes));
    call = "mmap";
    region_ = bip::mapped_region(shm, bip::read_write, 0, bytes);
    // shm (its descriptor) closes here; the mapping keeps the memory.
  } catch (const bip::interprocess_exception& e) {
    rethrow_interprocess(e, call, object);
  }
  // Pre-fault: allocate every page now, not during the first timed messages.
  std::memset(data(), 0, size());
}

void ShmSegment::touch() const noexcept {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  for (std::size_t at = 0; at < size(); at += page) {
    (void)*static_cast<volatile const std::byte*>(data() + at);
  }
}

}  // namespace ipcbench
