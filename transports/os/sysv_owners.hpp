// Owners of SysV IPC ids, SysV shared-memory attachments and POSIX message queue descriptors.
// SysV ids are recorded in the run's ledger (transports/ledger.hpp), so the janitor removes them
// if their creator dies without doing so (SysV objects otherwise outlive every process).
#pragma once

#include <mqueue.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "transports/os/ledger.hpp"

namespace ipcbench {

enum class SysvKind { kMsgQueue, kSemSet, kShm };

// IPC_RMID on `id`; failures are ignored (a destructor's job: it may be gone already).
void sysv_remove(SysvKind kind, int id) noexcept;
// Runs `create` (an IPC_PRIVATE msgget, semget or shmget) so that no SIGKILL can leave its object
// unrecorded. Such an id exists only once the call returns, so a kill arriving during the call
// would end this process before it could record the id. When a janitor runs, the call is made by
// a forked helper instead: it writes the id into a ledger slot reserved beforehand and finishes
// even if this process is killed meanwhile. Returns the id and the ledger handle (-1: no
// janitor), or id -1 with errno set by the failed call.
struct SysvCreated {
  int id;
  int ledger;
};
[[nodiscard]] SysvCreated sysv_create(SysvKind kind, int (*create)(const void* arg),
                                      const void* arg);

// Owns one SysV IPC id of kind Kind. Only the process that created it removes it (IPC_RMID) on
// destruction or reset(), then drops it from the ledger; a forked child's copy removes nothing.
// Move-only.
template <SysvKind Kind>
class SysvId {
 public:
  SysvId() noexcept = default;
  // Takes `id`, just created for this process, and its ledger handle (-1: none).
  SysvId(int id, int ledger) noexcept : id_(id), owner_(::getpid()), ledger_(ledger) {}
  SysvId(SysvId&& other) noexcept
      : id_(std::exchange(other.id_, -1)),
        owner_(other.owner_),
        ledger_(std::exchange(other.ledger_, -1)) {}
  SysvId& operator=(SysvId&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, -1);
      owner_ = other.owner_;
      ledger_ = std::exchange(other.ledger_, -1);
    }
    return *this;
  }
  SysvId(const SysvId&) = delete;
  SysvId& operator=(const SysvId&) = delete;
  ~SysvId() { reset(); }

  [[nodiscard]] int get() const noexcept { return id_; }
  [[nodiscard]] bool valid() const noexcept { return id_ >= 0; }
  // Removes the id if this process created it, then holds nothing.
  void reset() noexcept {
    if (id_ >= 0 && owner_ == ::getpid()) {
      sysv_remove(Kind, id_);
      ledger_remove(ledger_);
    }
    id_ = -1;
    ledger_ = -1;
  }

 private:
  int id_ = -1;
  pid_t owner_ = -1;
  int ledger_ = -1;
};

using SysvMsgQueue = SysvId<SysvKind::kMsgQueue>;
using SysvSem = SysvId<SysvKind::kSemSet>;
using SysvShm = SysvId<SysvKind::kShm>;

// msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600), recorded in the ledger (sysv_create). Throws
// naming `what` (and msgmni when the system has no queue left).
[[nodiscard]] SysvMsgQueue create_msg_queue(std::string_view what);
// semget(IPC_PRIVATE, count, IPC_CREAT | IPC_EXCL | 0600), recorded in the ledger, every value set
// to 0 with SETVAL. Throws naming `what`.
[[nodiscard]] SysvSem create_sem_set(int count, std::string_view what);
// semctl(set, num, SETVAL, value). Throws naming `what`.
void set_sem_value(int set, int num, int value, std::string_view what);
// semop() of one operation (delta -1: P, +1: V) without SEM_UNDO; blocks while the value would go
// below 0. Retries EINTR unless the watchdog interrupted the run. Throws naming `what`.
void sem_op(int set, unsigned short num, short delta, std::string_view what);

// One shmat() of a SysV segment in this process, detached (shmdt) on destruction. A forked child
// inherits the attachment; its copy of this object detaches only the child's. Move-only.
class ShmAttachment {
 public:
  ShmAttachment() noexcept = default;
  ShmAttachment(void* addr, std::size_t bytes) noexcept : addr_(addr), bytes_(bytes) {}
  ShmAttachment(ShmAttachment&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  ShmAttachment& operator=(ShmAttachment&& other) noexcept;
  ShmAttachment(const ShmAttachment&) = delete;
  ShmAttachment& operator=(const ShmAttachment&) = delete;
  ~ShmAttachment() { reset(); }

  [[nodiscard]] std::byte* data() const noexcept { return static_cast<std::byte*>(addr_); }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_; }
  void reset() noexcept;

 private:
  void* addr_ = nullptr;
  std::size_t bytes_ = 0;
};

// shmget(IPC_PRIVATE, bytes, IPC_CREAT | IPC_EXCL | 0600), shmat(), then IPC_RMID at once: Linux
// keeps a removed segment while it is attached, and a child forked later inherits the attachment,
// so nothing can leak whatever happens next. `what` names it in errors. Throws.
[[nodiscard]] ShmAttachment create_removed_segment(std::size_t bytes, std::string_view what);

// Owns one POSIX message queue descriptor (mq_close on destruction). Move-only.
class PosixMq {
 public:
  PosixMq() noexcept = default;
  explicit PosixMq(mqd_t mq) noexcept : mq_(mq) {}
  PosixMq(PosixMq&& other) noexcept : mq_(std::exchange(other.mq_, kNone)) {}
  PosixMq& operator=(PosixMq&& other) noexcept {
    reset(std::exchange(other.mq_, kNone));
    return *this;
  }
  PosixMq(const PosixMq&) = delete;
  PosixMq& operator=(const PosixMq&) = delete;
  ~PosixMq() { reset(); }

  [[nodiscard]] mqd_t get() const noexcept { return mq_; }
  void reset(mqd_t mq = kNone) noexcept {
    if (mq_ != kNone) ::mq_close(mq_);
    mq_ = mq;
  }

 private:
  static constexpr mqd_t kNone = static_cast<mqd_t>(-1);
  mqd_t mq_ = kNone;
};

// mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, {depth, msgsize}), then mq_unlink at
// once: the descriptor, inherited across fork(), is all either side uses, so the name never
// outlives this call. The name is in the ledger before mq_open. Throws naming the queue; a refusal
// for lack of memory names RLIMIT_MSGQUEUE, the values involved and `run_queues`, how many queues
// the run makes in all (they share the limit).
[[nodiscard]] PosixMq create_unlinked_mq(const std::string& name, long depth, long msgsize,
                                         std::size_t run_queues);

}  // namespace ipcbench
