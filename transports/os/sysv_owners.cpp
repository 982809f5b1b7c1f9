#include "transports/os/sysv_owners.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdint>

#include "transports/os/sys_error.hpp"

namespace ipcbench {

void sysv_remove(SysvKind kind, int id) noexcept {
  switch (kind) {
    case SysvKind::kMsgQueue:
      ::msgctl(id, IPC_RMID, nullptr);
      break;
    case SysvKind::kSemSet:
      ::semctl(id, 0, IPC_RMID);
      break;
    case SysvKind::kShm:
      ::shmctl(id, IPC_RMID, nullptr);
      break;
  }
}

namespace {

ObjectKind ledger_kind(SysvKind kind) noexcept {
  switch (kind) {
    case SysvKind::kMsgQueue:
      return ObjectKind::kSysvMsg;
    case SysvKind::kSemSet:
      return ObjectKind::kSysvSem;
    case SysvKind::kShm:
      break;
  }
  return ObjectKind::kSysvShm;
}

}  // namespace

SysvCreated sysv_create(SysvKind kind, int (*create)(const void* arg), const void* arg) {
  const int handle = ledger_pending(ledger_kind(kind));
  if (handle < 0) return {create(arg), -1};  // no janitor: nobody would clean up after a kill
  const pid_t helper = ::fork();
  if (helper < 0) {
    const int err = errno;
    ledger_remove(handle);
    errno = err;
    return {-1, -1};
  }
  if (helper == 0) {
    // Only async-signal-safe work here: one system call and stores to the shared ledger.
    const int id = create(arg);
    if (id < 0) {
      const int err = errno;
      ledger_remove(handle);
      ::_exit(err > 0 && err < 256 ? err : EIO);
    }
    ledger_set_id(handle, id);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(helper, &status, 0) < 0) {
    if (errno != EINTR) {
      status = W_EXITCODE(ECHILD, 0);
      break;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    return {static_cast<int>(ledger_id(handle)), handle};
  }
  // Failed (its errno is the exit status) or killed before it could say: an id it recorded is
  // removed with the slot, and the slot is freed either way.
  const long id = ledger_id(handle);
  if (id >= 0) sysv_remove(kind, static_cast<int>(id));
  ledger_remove(handle);
  errno = WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
  return {-1, -1};
}

SysvMsgQueue create_msg_queue(std::string_view what) {
  // IPC_PRIVATE: a fresh queue no other program can find by key (no ftok collisions); 0600.
  const SysvCreated q = sysv_create(
      SysvKind::kMsgQueue,
      [](const void*) { return ::msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600); }, nullptr);
  if (q.id < 0) {
    const int err = errno;
    throw_sys_error(err, "msgget",
                    std::string(what) + (err == ENOSPC ? ": /proc/sys/kernel/msgmni reached" : ""));
  }
  return SysvMsgQueue(q.id, q.ledger);
}

SysvSem create_sem_set(int count, std::string_view what) {
  const SysvCreated created = sysv_create(
      SysvKind::kSemSet,
      [](const void* n) {
        return ::semget(IPC_PRIVATE, *static_cast<const int*>(n), IPC_CREAT | IPC_EXCL | 0600);
      },
      &count);
  if (created.id < 0) throw_sys_error(errno, "semget", what);
  const int id = created.id;
  SysvSem set(id, created.ledger);
  // POSIX leaves new values undefined (Linux zeroes them): set them.
  for (int i = 0; i < count; ++i) set_sem_value(id, i, 0, what);
  return set;
}

void set_sem_value(int set, int num, int value, std::string_view what) {
  union semun {
    int val;
    semid_ds* buf;
    unsigned short* array;
  } arg{};
  arg.val = value;
  if (::semctl(set, num, SETVAL, arg) != 0) throw_sys_error(errno, "semctl(SETVAL)", what);
}

void sem_op(int set, unsigned short num, short delta, std::string_view what) {
  // No SEM_UNDO: these are signalling semaphores (one process's P pairs with the other's V), so
  // undoing a dead process's operations would not release anything a survivor waits on (the
  // watchdog does that); it would only add an undo-list update to every measured operation.
  sembuf op{num, delta, 0};
  while (::semop(set, &op, 1) != 0) {
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "semop", what);
    throw_if_interrupted("semop", what);
  }
}

ShmAttachment& ShmAttachment::operator=(ShmAttachment&& other) noexcept {
  if (this != &other) {
    reset();
    addr_ = std::exchange(other.addr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void ShmAttachment::reset() noexcept {
  if (addr_ != nullptr) ::shmdt(addr_);
  addr_ = nullptr;
  bytes_ = 0;
}

ShmAttachment create_removed_segment(std::size_t bytes, std::string_view what) {
  const SysvCreated created = sysv_create(
      SysvKind::kShm,
      [](const void* n) {
        return ::shmget(IPC_PRIVATE, *static_cast<const std::size_t*>(n),
                        IPC_CREAT | IPC_EXCL | 0600);
      },
      &bytes);
  if (created.id < 0) {
    const int err = errno;
    throw_sys_error(err, "shmget", std::string(what) + ", " + std::to_string(bytes) + " bytes");
  }
  const int id = created.id;
  SysvShm segment(id, created.ledger);
  void* addr = ::shmat(id, nullptr, 0);
  if (addr == reinterpret_cast<void*>(-1)) throw_sys_error(errno, "shmat", what);
  ShmAttachment attached(addr, bytes);
  segment.reset();  // IPC_RMID now: the attachments (ours, and the forked peer's) keep it alive
  return attached;
}

PosixMq create_unlinked_mq(const std::string& name, long depth, long msgsize,
                           std::size_t run_queues) {
  mq_attr attr{};
  attr.mq_maxmsg = depth;
  attr.mq_msgsize = msgsize;
  const NameRecord record(ObjectKind::kPosixMq, name);  // covers a kill before mq_unlink
  const mqd_t mq = ::mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
  if (mq == static_cast<mqd_t>(-1)) {
    const int err = errno;
    std::string what =
        name + ", depth " + std::to_string(depth) + " x " + std::to_string(msgsize) + " bytes";
    if (err == EMFILE || err == ENOMEM) {
      rlimit lim{};
      ::getrlimit(RLIMIT_MSGQUEUE, &lim);
      what += "; RLIMIT_MSGQUEUE is " +
              (lim.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                             : std::to_string(lim.rlim_cur) + " bytes") +
              " per user and this queue needs at least " + std::to_string(depth * msgsize) + " (" +
              std::to_string(run_queues) +
              " queues in this run; EMFILE may also be the open-file limit)";
    } else if (err == ENOSPC) {
      what += "; /proc/sys/fs/mqueue/queues_max reached";
    } else if (err == EINVAL) {
      what += "; above /proc/sys/fs/mqueue/msg_max or msgsize_max?";
    }
    throw_sys_error(err, "mq_open", what);
  }
  PosixMq owned(mq);
  // Unlinked at once: the descriptor is what both sides use (fork() inherits it), so the name is
  // never needed again and a crash cannot leave it in /dev/mqueue.
  if (::mq_unlink(name.c_str()) != 0) throw_sys_error(errno, "mq_unlink", name);
  return owned;
}

}  // namespace ipcbench
