#include "transports/os/cma_probe.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "transports/os/proc.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {

int probe_cma() noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  // The word the parent reads: after fork() it sits at the same address in the child.
  volatile std::uint64_t word = 0x636d612070726f62;
  const pid_t child = ::fork();
  if (child < 0) return errno;
  if (child == 0) {
    // Only async-signal-safe calls here (the parent may have threads): wait for the parent to
    // close its end (or die), then leave.
    ::close(write_end.get());
    char byte;
    while (::read(read_end.get(), &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  std::uint64_t got = 0;
  iovec local{&got, sizeof got};
  iovec remote{const_cast<std::uint64_t*>(&word), sizeof word};
  const ssize_t n = ::process_vm_readv(child, &local, 1, &remote, 1, 0);
  int err = n < 0 ? errno : 0;
  if (err == 0 && (n != sizeof got || got != word)) err = EIO;  // should never happen
  write_end.reset();  // the child's read() returns 0 and it exits
  while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  return err;
}

std::string cma_refusal(int err) {
  if (err == 0) return "";
  const char* name = ::strerrorname_np(err);
  const std::string call = std::string("process_vm_readv() on a forked child failed with ") +
                           (name != nullptr ? name : "error");
  if (err == EPERM || err == EACCES) {
    const auto scope = read_proc_int("/proc/sys/kernel/yama/ptrace_scope");
    const std::string yama = scope ? "Yama ptrace_scope is " + std::to_string(*scope)
                                   : "no Yama (/proc/sys/kernel/yama/ptrace_scope is absent)";
    return call + ": ptrace access to our own child is denied (" + yama +
           "; scope 2 needs CAP_SYS_PTRACE, 3 forbids it; or a seccomp or LSM policy)";
  }
  if (err == ENOSYS) {
    return call +
           ": the kernel lacks CONFIG_CROSS_MEMORY_ATTACH or a seccomp filter blocks the call";
  }
  return call + " (" + std::strerror(err) + ")";
}

}  // namespace ipcbench
