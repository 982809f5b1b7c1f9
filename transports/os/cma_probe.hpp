// Whether this machine lets a process use cross-memory attach (process_vm_readv/writev) on its
// own child, and the refusal text when it does not.
#pragma once

#include <string>

namespace ipcbench {

// Forks a child that waits on a pipe, process_vm_readv()s one word of it, closes the pipe (the
// child then exits) and reaps it. Returns 0 when the read worked, else its errno (EPERM: ptrace
// access denied; ENOSYS: no CONFIG_CROSS_MEMORY_ATTACH or a seccomp filter), or the errno of the
// pipe2/fork that failed. Blocks for the child's life (microseconds). Leaves nothing behind.
[[nodiscard]] int probe_cma() noexcept;
// Why this machine cannot run the cma transport, given probe_cma()'s result: "" for 0. Names the
// errno and, for EPERM, the ptrace policy that decides (Yama's ptrace_scope when present).
[[nodiscard]] std::string cma_refusal(int err);

}  // namespace ipcbench
