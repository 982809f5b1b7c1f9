// sysv_shm: one SysV shared memory segment (shmget, shmat, shmdt, shmctl) with one slot per
// direction, handed over with SysV semaphores (semget, semop P and V, semctl): the lecture's pair.
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/sysv_owners.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr const char* kShmmaxPath = "/proc/sys/kernel/shmmax";
// The segment is allocated whole in the constructor (two slots of the message size) and the
// harness holds several buffers of that size, so this transport stops at 64 MiB, the largest
// size ipcbench measures, even where shmmax allows far more.
constexpr std::size_t kCapBytes = std::size_t{64} << 20;
constexpr std::size_t kMinCapacity = 64;      // acks and control marks are 16 bytes
constexpr std::size_t kSlotHeaderBytes = 64;  // a slot's length word, alone on its cache line

// Semaphores of the set: each slot has "empty" (the sender may write) and "full" (the receiver
// may read), so a slot is never written while read.
constexpr unsigned short kDownEmpty = 0, kDownFull = 1, kUpEmpty = 2, kUpFull = 3;
constexpr int kSemCount = 4;

// shmmax defaults to ULONG_MAX - 2^24, beyond read_proc_int()'s int64.
std::optional<std::uint64_t> read_proc_uint(const char* path) {
  const auto line = read_proc_line(path);
  if (!line) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(line->data(), line->data() + line->size(), value);
  if (ec != std::errc() || end == line->data()) return std::nullopt;
  return value;
}

std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

struct Slot {
  std::byte* base = nullptr;  // the length word, then the message
  unsigned short empty = 0, full = 0;
};

class SysvShmTransport final : public Transport {
 public:
  explicit SysvShmTransport(const TransportOptions& options)
      : capacity_(std::max(options.message_bytes, kMinCapacity)),
        stride_(kSlotHeaderBytes + round_up(capacity_, 64)),
        sems_(create_sem_set(kSemCount, "SysV semaphore set")),
        segment_(create_removed_segment(2 * stride_, "SysV shm segment")),
        name_("SysV shm segment + semaphore set " + std::to_string(sems_.get())) {
    // Both slots start empty.
    set_sem_value(sems_.get(), kDownEmpty, 1, name_);
    set_sem_value(sems_.get(), kUpEmpty, 1, name_);
    // Fault every page in now, so first-touch costs stay out of the timed part.
    std::memset(segment_.data(), 0, segment_.size());
  }

  void attach(Role role, pid_t /*peer*/) override {
    // The attachment was inherited across fork() and the segment is already IPC_RMID'd.
    const bool producer = role == Role::kProducer;
    const Slot down{segment_.data(), kDownEmpty, kDownFull};
    const Slot up{segment_.data() + stride_, kUpEmpty, kUpFull};
    out_ = producer ? down : up;
    in_ = producer ? up : down;
  }

  void send(std::span<const std::byte> msg) override {
    if (msg.size() > capacity_) throw_sys_error(EMSGSIZE, "send", name_);
    sem_op(sems_.get(), out_.empty, -1, name_);  // P: wait until the receiver emptied the slot
    const std::uint64_t length = msg.size();
    std::memcpy(out_.base, &length, sizeof length);
    std::memcpy(out_.base + kSlotHeaderBytes, msg.data(), msg.size());
    sem_op(sems_.get(), out_.full, +1, name_);  // V: semop() orders the copy before the wake-up
  }

  Received recv(std::span<std::byte> msg) override {
    sem_op(sems_.get(), in_.full, -1, name_);
    std::uint64_t length = 0;
    std::memcpy(&length, in_.base, sizeof length);
    if (length != msg.size()) {
      throw_sys_error(EBADMSG, "recv",
                      name_ + ": a message of " + std::to_string(length) + " bytes, expected " +
                          std::to_string(msg.size()));
    }
    std::memcpy(msg.data(), in_.base + kSlotHeaderBytes, msg.size());
    sem_op(sems_.get(), in_.empty, +1, name_);
    return Received::kMessage;
  }

 private:
  std::size_t capacity_, stride_;
  SysvSem sems_;
  ShmAttachment segment_;
  std::string name_;
  Slot out_, in_;
};

}  // namespace

TransportPtr make_sysv_shm(const TransportOptions& options) {
  return std::make_unique<SysvShmTransport>(options);
}

Capabilities describe_sysv_shm() {
  Capabilities caps;
  const auto shmmax = read_proc_uint(kShmmaxPath);
  if (!shmmax || *shmmax == 0) {
    caps.max_message_bytes = 0;
    caps.limit_source = std::string(kShmmaxPath) + " unreadable: no SysV shared memory here";
    return caps;
  }
  const std::uint64_t per_slot = *shmmax / 2;
  const std::uint64_t by_shmmax =
      per_slot > 2 * kSlotHeaderBytes ? per_slot - 2 * kSlotHeaderBytes : 0;
  caps.max_message_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(by_shmmax, kCapBytes));
  caps.limit_source = std::string(kShmmaxPath) + " = " + std::to_string(*shmmax) +
                      " (one segment, one slot per direction), capped at " +
                      std::to_string(kCapBytes >> 20) +
                      " MiB by this transport; messages are copied whole, not chunked";
  return caps;
}

TransportForms forms_sysv_shm() {
  return {.no_fan_in =
              "not written yet: one slot per direction is handed over by semaphores; "
              "fan-in needs a slot per client and a way for the server to learn which "
              "slot is full (semop waits on one semaphore, not on any of N)",
          .no_broadcast =
              "a slot is emptied by one receiver's semaphore P: FanOut uses one "
              "segment per consumer (the shared-memory broadcast is the shm ring's)"};
}

}  // namespace ipcbench
