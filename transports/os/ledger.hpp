// The ledger of IPC objects this run created, and the janitor that removes what a killed run left.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace ipcbench {

enum class ObjectKind : unsigned {
  kPath = 1,   // a private directory (removed with what is inside)
  kSysvShm,    // SysV shared memory id
  kSysvSem,    // SysV semaphore set id
  kSysvMsg,    // SysV message queue id
  kPosixMq,    // POSIX message queue name ("/ipcb-...")
  kPosixShm,   // POSIX shared memory name ("ipcb-..." or "/ipcb-...")
};

// Starts the janitor of this process: a child that waits (on a pidfd) for this process to end,
// however it ends (SIGKILL included), then removes every object still in the ledger. The ledger
// is a shared mapping, so objects recorded by forked children are covered too. Idempotent;
// without it the ledger records nothing. Throws std::system_error if it cannot start.
void start_janitor();

// Records an object so the janitor removes it if nobody else does. `id` is the SysV id (or 0),
// `name` the path or POSIX name. Returns a handle for ledger_remove(), or -1 (no janitor or a full
// ledger: the object is then only removed by its owner). Never throws, never blocks.
int ledger_add(ObjectKind kind, long id, std::string_view name) noexcept;
// Forgets an object its owner has removed.
void ledger_remove(int handle) noexcept;

// A SysV object about to be created by a helper process (sysv_owners.cpp): the id is kPendingId
// until ledger_set_id(). The janitor waits (boundedly) for a pending id to be set or its slot to
// be freed before it removes anything. Returns a handle, or -1 (no janitor or a full ledger).
inline constexpr long kPendingId = -1;
int ledger_pending(ObjectKind kind) noexcept;
void ledger_set_id(int handle, long id) noexcept;
// The id recorded in `handle`'s slot (kPendingId for an invalid handle).
[[nodiscard]] long ledger_id(int handle) noexcept;

// Records a POSIX name for as long as it exists: made *before* the mq_open/shm_open that creates
// it and dropped after its owner unlinked it, so a SIGKILL between create and unlink leaves the
// janitor a name to remove (removing a name that was never created is harmless). Scoped to the
// creating call: it must not be alive across fork(), or the child's copy would drop the record.
class NameRecord {
 public:
  NameRecord(ObjectKind kind, std::string_view name) noexcept : handle_(ledger_add(kind, 0, name)) {}
  NameRecord(const NameRecord&) = delete;
  NameRecord& operator=(const NameRecord&) = delete;
  ~NameRecord() { ledger_remove(handle_); }

 private:
  int handle_;
};

struct LedgerEntry {
  ObjectKind kind;
  long id;
  std::string name;
};
// The objects recorded now and not yet removed by their owners (tests).
[[nodiscard]] std::vector<LedgerEntry> ledger_entries();

// The janitor's pid, or -1 (tests).
[[nodiscard]] pid_t janitor_pid() noexcept;

}  // namespace ipcbench
