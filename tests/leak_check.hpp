// What IPC objects exist on the machine now: SysV ids, POSIX queues and shared memory, paths.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

namespace ipcbench::test {

struct IpcSnapshot {
  std::set<std::string> objects;  // "sysv shm 1234", "posix mq /ipcb-...", "path /tmp/x/ipcbench-..."
  bool mqueue_visible = false;    // POSIX queues could be listed (an mqueue mount exists or was made)
};

// SysV objects from /proc/sysvipc, POSIX queues (mounting an mqueue file system if none is, when
// root), /dev/shm names starting with "ipcb", and everything directly under `tmp_root`.
[[nodiscard]] IpcSnapshot snapshot_ipc(const std::filesystem::path& tmp_root);
// Objects in `after` that were not in `before`.
[[nodiscard]] std::vector<std::string> new_objects(const IpcSnapshot& before, const IpcSnapshot& after);

// Makes this process the subreaper of its descendants, so orphans (a janitor, a consumer whose
// parent was killed) can be waited for.
void become_subreaper();
// Waits until every child and adopted orphan has exited, at most `seconds`; returns false if some
// are still running then (they are killed).
bool reap_all_descendants(double seconds);

}  // namespace ipcbench::test
