#include "transports/os/ledger.hpp"

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>

#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

constexpr int kSlots = 1024;

struct Slot {
  std::atomic<unsigned> state{0};  // 0 free, 1 being written, 2 live
  unsigned kind = 0;
  std::atomic<long> id{0};  // kPendingId while a helper creates the SysV object
  char name[240] = {};
};

struct Ledger {
  Slot slots[kSlots];
};

Ledger* g_ledger = nullptr;
pid_t g_janitor = -1;

// Only names this suite makes (unique_name(): "ipcb-...", with or without a leading '/').
bool ours(const char* name) noexcept {
  if (name[0] == '/') ++name;
  return std::strncmp(name, "ipcb-", 5) == 0;
}

void remove_object(const Slot& s) {
  switch (static_cast<ObjectKind>(s.kind)) {
    case ObjectKind::kPath: {
      // Only our own private directories: a corrupt entry must never remove anything else.
      const std::filesystem::path p(s.name);
      if (p.filename().string().rfind("ipcbench-", 0) == 0) {
        std::error_code ignored;
        std::filesystem::remove_all(p, ignored);
      }
      break;
    }
    case ObjectKind::kSysvShm:
      if (s.id >= 0) ::shmctl(static_cast<int>(s.id), IPC_RMID, nullptr);
      break;
    case ObjectKind::kSysvSem:
      if (s.id >= 0) ::semctl(static_cast<int>(s.id), 0, IPC_RMID);
      break;
    case ObjectKind::kSysvMsg:
      if (s.id >= 0) ::msgctl(static_cast<int>(s.id), IPC_RMID, nullptr);
      break;
    case ObjectKind::kPosixMq:
      if (ours(s.name)) ::mq_unlink(s.name);
      break;
    case ObjectKind::kPosixShm:
      if (ours(s.name)) ::shm_unlink(s.name);
      break;
  }
}

[[noreturn]] void janitor_main(pid_t parent) {
  // Ctrl-C or a terminal hang-up reaches the whole process group: the janitor must outlive the
  // run to clean up after it.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM}) ::signal(sig, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, parent, 0));
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
  } else {
    while (::getppid() == parent) ::usleep(50'000);  // no pidfd: poll the parent
  }
  // Give the run's other children a moment to die (they have PR_SET_PDEATHSIG), then remove.
  ::usleep(20'000);
  for (Slot& s : g_ledger->slots) {
    // A creating helper (ledger_pending) outlives the run by microseconds: wait for its id, or
    // for it to free the slot when the call failed. Bounded: a helper never blocks.
    for (int waited_ms = 0; waited_ms < 2'000 && s.state.load(std::memory_order_acquire) == 2 &&
                            s.id.load(std::memory_order_acquire) == kPendingId;
         ++waited_ms) {
      ::usleep(1'000);
    }
    if (s.state.load(std::memory_order_acquire) == 2) remove_object(s);
  }
  ::_exit(0);
}

}  // namespace

void start_janitor() {
  if (g_ledger != nullptr) return;
  void* p = ::mmap(nullptr, sizeof(Ledger), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
  if (p == MAP_FAILED) throw_sys_error(errno, "mmap", "object ledger");
  auto* ledger = new (p) Ledger{};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_sys_error(errno, "fork", "janitor");
  if (pid == 0) {
    g_ledger = ledger;
    // Closing inherited descriptors keeps pipes and sockets of the run from staying open here.
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
    janitor_main(parent);
  }
  g_ledger = ledger;
  g_janitor = pid;
}

int ledger_add(ObjectKind kind, long id, std::string_view name) noexcept {
  if (g_ledger == nullptr) return -1;
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_ledger->slots[i];
    unsigned free = 0;
    if (!s.state.compare_exchange_strong(free, 1, std::memory_order_acquire)) continue;
    s.kind = static_cast<unsigned>(kind);
    s.id.store(id, std::memory_order_relaxed);
    const std::size_t n = std::min(name.size(), sizeof s.name - 1);
    std::memcpy(s.name, name.data(), n);
    s.name[n] = '\0';
    s.state.store(2, std::memory_order_release);
    return i;
  }
  return -1;
}

int ledger_pending(ObjectKind kind) noexcept { return ledger_add(kind, kPendingId, ""); }

void ledger_set_id(int handle, long id) noexcept {
  if (g_ledger == nullptr || handle < 0 || handle >= kSlots) return;
  g_ledger->slots[handle].id.store(id, std::memory_order_release);
}

long ledger_id(int handle) noexcept {
  if (g_ledger == nullptr || handle < 0 || handle >= kSlots) return kPendingId;
  return g_ledger->slots[handle].id.load(std::memory_order_acquire);
}

void ledger_remove(int handle) noexcept {
  if (g_ledger == nullptr || handle < 0 || handle >= kSlots) return;
  g_ledger->slots[handle].state.store(0, std::memory_order_release);
}

std::vector<LedgerEntry> ledger_entries() {
  std::vector<LedgerEntry> out;
  if (g_ledger == nullptr) return out;
  for (const Slot& s : g_ledger->slots) {
    if (s.state.load(std::memory_order_acquire) == 2) {
      out.push_back({static_cast<ObjectKind>(s.kind), s.id.load(std::memory_order_acquire), s.name});
    }
  }
  return out;
}

pid_t janitor_pid() noexcept { return g_janitor; }

}  // namespace ipcbench
