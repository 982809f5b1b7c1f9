#include "transports/sysv_owners.hpp"

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

#include "transports/sys_error.hpp"

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

// What the creator tells its guard: one fixed-size record per write (atomic on a pipe).
struct ReaperRecord {
  std::int32_t op;  // kWatch, kForget or kDone
  std::int32_t kind;
  std::int32_t id;
};
constexpr std::int32_t kWatch = 1, kForget = 2, kDone = 3;
constexpr int kMaxWatched = 16;

// The guard's whole life, after fork(): only async-signal-safe calls (the parent may have had
// other threads). Never returns.
[[noreturn]] void run_guard(int channel) {
  // Ctrl-C or a SIGTERM to the process group must not take the guard down with its creator.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::signal(sig, SIG_IGN);
  // Hold nothing of the parent's: another pipe's write end kept open here would hide its EOF.
  if (channel > 0) ::close_range(0, static_cast<unsigned>(channel) - 1, 0);
  ::close_range(static_cast<unsigned>(channel) + 1, ~0u, 0);
  ReaperRecord watched[kMaxWatched];
  int count = 0;
  while (true) {
    ReaperRecord r{};
    const ssize_t n = ::read(channel, &r, sizeof r);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof r)) break;  // end of file: the creator is gone
    if (r.op == kDone) ::_exit(0);
    if (r.op == kWatch && count < kMaxWatched) watched[count++] = r;
    if (r.op == kForget) {
      for (int i = 0; i < count; ++i) {
        if (watched[i].kind == r.kind && watched[i].id == r.id) watched[i] = watched[--count];
      }
    }
  }
  for (int i = 0; i < count; ++i)
    sysv_remove(static_cast<SysvKind>(watched[i].kind), watched[i].id);
  ::_exit(0);
}

}  // namespace

SysvReaper::SysvReaper() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw_sys_error(errno, "pipe2", "SysV reaper channel");
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw_sys_error(err, "fork", "SysV reaper");
  }
  if (pid == 0) run_guard(fds[0]);
  ::close(fds[0]);
  fd_ = fds[1];
  guard_ = pid;
  owner_ = ::getpid();
}

SysvReaper::~SysvReaper() {
  if (owner_ != ::getpid()) {  // a forked copy: it must neither say "done" nor reap
    release();
    return;
  }
  if (fd_ >= 0) {
    const ReaperRecord done{kDone, 0, 0};
    (void)!::write(fd_, &done, sizeof done);
    release();
  }
  if (guard_ > 0) {
    int status = 0;
    while (::waitpid(guard_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void SysvReaper::send(int op, SysvKind kind, int id) {
  const ReaperRecord r{op, static_cast<std::int32_t>(kind), id};
  while (::write(fd_, &r, sizeof r) != static_cast<ssize_t>(sizeof r)) {
    const int err = errno;
    if (err != EINTR) throw_sys_error(err, "write", "SysV reaper channel");
  }
}

void SysvReaper::watch(SysvKind kind, int id) { send(kWatch, kind, id); }
void SysvReaper::forget(SysvKind kind, int id) { send(kForget, kind, id); }

void SysvReaper::release() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

SysvMsgQueue create_msg_queue(SysvReaper& reaper, std::string_view what) {
  // IPC_PRIVATE: a fresh queue no other program can find by key (no ftok collisions); 0600.
  const int id = ::msgget(IPC_PRIVATE, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) throw_sys_error(errno, "msgget", what);
  SysvMsgQueue queue(id);
  reaper.watch(SysvKind::kMsgQueue, id);
  return queue;
}

SysvSem create_sem_set(SysvReaper& reaper, int count, std::string_view what) {
  const int id = ::semget(IPC_PRIVATE, count, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) throw_sys_error(errno, "semget", what);
  SysvSem set(id);
  reaper.watch(SysvKind::kSemSet, id);
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

ShmAttachment create_removed_segment(SysvReaper& reaper, std::size_t bytes, std::string_view what) {
  const int id = ::shmget(IPC_PRIVATE, bytes, IPC_CREAT | IPC_EXCL | 0600);
  if (id < 0) {
    const int err = errno;
    throw_sys_error(err, "shmget", std::string(what) + ", " + std::to_string(bytes) + " bytes");
  }
  SysvShm segment(id);
  reaper.watch(SysvKind::kShm, id);
  void* addr = ::shmat(id, nullptr, 0);
  if (addr == reinterpret_cast<void*>(-1)) throw_sys_error(errno, "shmat", what);
  ShmAttachment attached(addr, bytes);
  segment.reset();  // IPC_RMID now: the attachments (ours, and the forked peer's) keep it alive
  reaper.forget(SysvKind::kShm, id);
  return attached;
}

PosixMq create_unlinked_mq(const std::string& name, long depth, long msgsize) {
  mq_attr attr{};
  attr.mq_maxmsg = depth;
  attr.mq_msgsize = msgsize;
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
              " per user and this queue needs at least " + std::to_string(depth * msgsize) +
              " (two queues per run; EMFILE may also be the open-file limit)";
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
