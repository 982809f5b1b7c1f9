#include "transports/os/vmsplice_arena.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"

namespace ipcbench {

std::size_t pipe_capacity(int fd, std::string_view object) {
  const int bytes = ::fcntl(fd, F_GETPIPE_SZ);
  if (bytes <= 0) throw_sys_error(bytes < 0 ? errno : EINVAL, "fcntl(F_GETPIPE_SZ)", object);
  return static_cast<std::size_t>(bytes);
}

int probe_vmsplice() noexcept {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  const UniqueFd read_end(fds[0]), write_end(fds[1]);
  char byte = 'v';
  iovec iov{&byte, 1};
  // The pipe is empty, so this never blocks; the byte's page is referenced until the close.
  return ::vmsplice(write_end.get(), &iov, 1, SPLICE_F_NONBLOCK) == 1 ? 0 : errno;
}

std::string vmsplice_refusal(int err) {
  if (err == 0) return "";
  const std::string name = ::strerrorname_np(err) != nullptr ? ::strerrorname_np(err) : "error";
  if (err == ENOSYS || err == EPERM) {
    return "vmsplice() into a fresh pipe failed with " + name +
           ": the system call is blocked here (a seccomp filter) or missing from the kernel";
  }
  return "vmsplice() into a fresh pipe failed with " + name + " (" + std::strerror(err) + ")";
}

VmspliceWriter::VmspliceWriter(int fd, std::size_t pipe_capacity, std::string object)
    : fd_(fd), object_(std::move(object)) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  // Pieces of the pipe's capacity: one vmsplice() can never place more than that anyway.
  piece_bytes_ = (std::max<std::size_t>(pipe_capacity, 1) + page - 1) / page * page;
  arena_bytes_ = pipe_capacity + piece_bytes_;
  arena_bytes_ = (arena_bytes_ + page - 1) / page * page;
  // Private memory of this process, faulted in now (MAP_POPULATE) so the timed part takes no page
  // fault; page-aligned so a piece whose size is a multiple of the page size fills whole slots.
  void* p = ::mmap(nullptr, arena_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw_sys_error(errno, "mmap", object_ + " arena");
  arena_ = static_cast<std::byte*>(p);
}

VmspliceWriter::VmspliceWriter(VmspliceWriter&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      arena_(std::exchange(other.arena_, nullptr)),
      arena_bytes_(std::exchange(other.arena_bytes_, 0)),
      piece_bytes_(std::exchange(other.piece_bytes_, 0)),
      accepted_(std::exchange(other.accepted_, 0)),
      object_(std::move(other.object_)) {}

VmspliceWriter& VmspliceWriter::operator=(VmspliceWriter&& other) noexcept {
  if (this != &other) {
    unmap();
    fd_ = std::exchange(other.fd_, -1);
    arena_ = std::exchange(other.arena_, nullptr);
    arena_bytes_ = std::exchange(other.arena_bytes_, 0);
    piece_bytes_ = std::exchange(other.piece_bytes_, 0);
    accepted_ = std::exchange(other.accepted_, 0);
    object_ = std::move(other.object_);
  }
  return *this;
}

VmspliceWriter::~VmspliceWriter() { unmap(); }

void VmspliceWriter::unmap() noexcept {
  if (arena_ != nullptr) ::munmap(arena_, arena_bytes_);
  arena_ = nullptr;
}

bool VmspliceWriter::write(std::span<const std::byte> msg) {
  while (!msg.empty()) {
    // The piece goes where the stream position falls in the arena, never across its end, and is
    // copied only when every earlier byte has been accepted (the loop below ends that way).
    const std::size_t offset = static_cast<std::size_t>(accepted_ % arena_bytes_);
    const std::size_t n = std::min({msg.size(), piece_bytes_, arena_bytes_ - offset});
    std::memcpy(arena_ + offset, msg.data(), n);
    iovec iov{arena_ + offset, n};
    while (iov.iov_len > 0) {
      // Blocking, without SPLICE_F_GIFT: the pages stay ours and the pipe only references them.
      const ssize_t got = ::vmsplice(fd_, &iov, 1, 0);
      if (got < 0) {
        const int err = errno;
        if (err == EINTR) {
          throw_if_interrupted("vmsplice", object_);
          continue;
        }
        if (err == EPIPE) return false;
        throw_sys_error(err, "vmsplice", object_);
      }
      const auto done = static_cast<std::size_t>(got);
      iov.iov_base = static_cast<std::byte*>(iov.iov_base) + done;
      iov.iov_len -= done;
      accepted_ += done;
    }
    msg = msg.subspan(n);
  }
  return true;
}

}  // namespace ipcbench
