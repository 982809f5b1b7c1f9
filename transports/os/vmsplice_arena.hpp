// What the vmsplice transport is built from: the pipe capacity read at run time, a probe of
// vmsplice() with its refusal text, and VmspliceWriter, which feeds a pipe with vmsplice() from a
// private page-aligned arena and reuses an arena byte only once the pipe provably no longer
// references it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ipcbench {

// F_GETPIPE_SZ of the pipe `fd`: how many bytes it holds at most (its slots times the page size).
// Throws std::system_error naming `object`.
[[nodiscard]] std::size_t pipe_capacity(int fd, std::string_view object);

// vmsplice()s one byte into a fresh pipe and closes it: 0 when that works, else the errno
// (ENOSYS or EPERM from a seccomp filter, for example). Creates nothing that outlives the call.
[[nodiscard]] int probe_vmsplice() noexcept;
// Why this machine cannot run the vmsplice transport, given probe_vmsplice()'s result: "" for 0.
[[nodiscard]] std::string vmsplice_refusal(int err);

// Writes into one pipe with vmsplice() (no SPLICE_F_GIFT): each piece of a message is copied into
// the arena, and the pipe then references the arena's pages instead of copying them; the reader's
// read() copies them out. The pipe holds at most `pipe_capacity` bytes (each slot holds at most one
// page's worth), so once pipe_capacity bytes have been accepted after some arena byte, that byte
// cannot be in the pipe any more: it has been read and may be overwritten. The arena is
// pipe_capacity + piece bytes used as a circular log (byte i of the stream sits at i mod arena
// size) and a piece is at most `piece` bytes: when a piece is copied in, everything before it has
// been accepted, so the old bytes it overwrites lie at least pipe_capacity accepted bytes back,
// and have been read. No acknowledgement travels back.
// Build it in the process that writes (after fork(): the arena is private memory, mapped and
// faulted in here). Does not own the fd. Move-only; the destructor unmaps the arena (pages the
// pipe still references stay alive in the kernel until read).
class VmspliceWriter {
 public:
  VmspliceWriter() noexcept = default;
  // `pipe_capacity`: the capacity of `fd` (pipe_capacity(fd, ...)); a smaller value breaks the
  // rule above (the tests show that). Pieces are pipe_capacity bytes. Throws std::system_error
  // naming `object` when the arena cannot be mapped.
  VmspliceWriter(int fd, std::size_t pipe_capacity, std::string object);
  VmspliceWriter(VmspliceWriter&& other) noexcept;
  VmspliceWriter& operator=(VmspliceWriter&& other) noexcept;
  VmspliceWriter(const VmspliceWriter&) = delete;
  VmspliceWriter& operator=(const VmspliceWriter&) = delete;
  ~VmspliceWriter();

  // Writes all of `msg`, piece by piece; blocks while the pipe is full. Returns false when the
  // reader is gone (EPIPE). Retries EINTR after checking throw_if_interrupted(). Throws
  // std::system_error naming the object on any other error. Never allocates.
  [[nodiscard]] bool write(std::span<const std::byte> msg);

  [[nodiscard]] std::size_t arena_bytes() const noexcept { return arena_bytes_; }
  [[nodiscard]] std::size_t piece_bytes() const noexcept { return piece_bytes_; }
  // Bytes the pipe has accepted so far (the stream position).
  [[nodiscard]] std::uint64_t accepted() const noexcept { return accepted_; }

 private:
  void unmap() noexcept;

  int fd_ = -1;
  std::byte* arena_ = nullptr;
  std::size_t arena_bytes_ = 0;
  std::size_t piece_bytes_ = 0;
  std::uint64_t accepted_ = 0;
  std::string object_;
};

}  // namespace ipcbench
