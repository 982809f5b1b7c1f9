// memfd_pass: every message is written into a new memfd, sealed, and its descriptor passed over an
// AF_UNIX SOCK_SEQPACKET socket with SCM_RIGHTS; the receiver checks the seals and the size, reads
// the bytes out and closes the descriptor. This is the handoff that zero-copy protocols use
// (Wayland's wl_shm, PipeWire, Android's ashmem): the bytes never pass through the socket, only a
// reference to the file does, and the seals make the file immutable, so the receiver can trust
// what it reads without copying it first. Pair: a socket pair made before fork() (no path). Fan-in:
// the lecture's server (listen in a private 0700 directory, accept one socket per client, one epoll
// loop; SeqpacketFanIn) carrying memfds. Broadcast: none.
//
// What one message of n bytes costs, here:
//   sender:   memfd_create, pwrite (copy 1: user buffer into n/4096 newly allocated shmem pages),
//             fcntl(F_ADD_SEALS), sendmsg (an 8-byte record with one SCM_RIGHTS fd), close;
//   receiver: recvmsg (installs the fd), fcntl(F_GET_SEALS), fstat, pread (copy 2: the shmem pages
//             into the user buffer), close (the last reference: the inode and its pages are freed).
// Ten system calls, two copies, n/4096 page allocations and frees, no page faults (write and read
// touch the pages inside the kernel, and the user buffers are already faulted in). The harness's
// contract (recv fills the caller's buffer) forces copy 2; a real zero-copy receiver would mmap the
// memfd and use the bytes in place, which here would add mmap, munmap (a TLB flush) and one page
// fault per fault-around block (16 pages) and still need the copy into the buffer. So memfd_pass
// copies as much as unix_stream, plus a fixed cost per message (a new inode and file, an fd
// installed and released) and a cost per page (n/4096 fresh pages allocated, charged and freed,
// their cache lines cold), and can win only where one handoff replaces many wake-ups: a message
// far larger than the stream's socket buffer (unix_stream wakes the receiver about once per
// SO_SNDBUF, 208 KiB by default). Whether the wake-ups saved outweigh the pages is what the
// benchmark measures against unix_stream.
//
// A memfd has no name: no other process can open it except through this process's
// /proc/<pid>/fd, which needs the rights to read its memory anyway, so its mode (0666 with
// MFD_NOEXEC_SEAL) is left alone rather than paying an fchmod per message; the seals keep even
// such a reader from changing it.
//
// Nothing leaks on any path: each descriptor is owned (UniqueFd) from the moment it exists, the
// sender closes its memfd once sendmsg() has queued the reference, the receiver owns every fd a
// record brought before checking anything, and fds queued in a socket die with the socket when a
// process is killed (a memfd lives only as long as its last reference; it has no name to remove).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_seqpacket.hpp"
#include "transports/registry.hpp"

// Linux 6.3 added this flag; Debian 12's glibc (2.36) does not define it yet.
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

namespace ipcbench {
namespace {

// The seals every message carries: its size can neither shrink nor grow, its bytes cannot be
// written, and no seal can be removed or added. With them the receiver reads what the sender wrote
// and nothing else, whatever the sender does afterwards.
constexpr int kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
// A record carries one fd; the receive buffer has room for more so that a record carrying several
// is seen (and every fd it brought is closed) instead of cut short by the kernel.
constexpr std::size_t kMaxFds = 4;
// How many records the probe queues at most when counting how many fit in a socket's buffer.
constexpr std::size_t kProbeRecords = 1u << 16;

// What the probe learnt about this machine, once per process.
struct MemfdFacts {
  std::string unavailable;  // non-empty: memfds with seals cannot be made or passed here, and why
  unsigned create_flags = 0;
  std::string create_flags_text;
  std::size_t queued_records = 0;  // one-fd records a new socket pair queues before send blocks
  bool queue_hit_nofile = false;   // the count stopped at ETOOMANYREFS (RLIMIT_NOFILE), not EAGAIN
  std::size_t sndbuf = 0;          // SO_SNDBUF of that socket pair
};

// Creates an empty memfd with `flags`; -1 with errno set on failure.
int create_memfd(const char* label, unsigned flags) noexcept {
  return ::memfd_create(label, flags);
}

// One 8-byte length record with room for `MaxFds` passed fds in its control data, as sendmsg()
// and recvmsg() take it. Not copyable: the header points into the object itself.
template <std::size_t MaxFds>
struct LengthRecord {
  LengthRecord() noexcept { rewind(); }
  LengthRecord(const LengthRecord&) = delete;
  LengthRecord& operator=(const LengthRecord&) = delete;
  // Points the header at the length and the whole control buffer again (recvmsg() shrinks it).
  void rewind() noexcept {
    iov = {&length, sizeof length};
    mh = {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = sizeof control.buf;
  }

  std::uint64_t length = 0;
  iovec iov{};
  struct {
    alignas(cmsghdr) char buf[CMSG_SPACE(sizeof(int) * MaxFds)];
  } control{};
  msghdr mh{};
};

// Sends one 8-byte record carrying `fd` with SCM_RIGHTS; flags as sendmsg's. -1 with errno set.
ssize_t send_fd_record(int sock, int fd, std::uint64_t length, int flags) noexcept {
  LengthRecord<1> rec;
  rec.length = length;
  msghdr& mh = rec.mh;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
}

std::string errno_text(const char* call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

// Makes a sealed memfd and passes it through a socket pair until the pair's buffer is full, then
// receives one back: every call the transport makes, once. A call that fails here (memfd_create
// missing or forbidden by seccomp, sealing refused, SCM_RIGHTS denied by a security module) makes
// the mechanism unavailable on this machine, with the call and the reason.
MemfdFacts probe() {
  MemfdFacts f;
  // MFD_NOEXEC_SEAL (Linux 6.3+) also seals the file non-executable, and is what
  // vm.memfd_noexec = 2 demands; older kernels refuse the flag with EINVAL, and then the classic
  // MFD_CLOEXEC | MFD_ALLOW_SEALING is all there is.
  f.create_flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL;
  f.create_flags_text = "MFD_CLOEXEC|MFD_ALLOW_SEALING|MFD_NOEXEC_SEAL";
  UniqueFd mem(create_memfd("ipcbench-probe", f.create_flags));
  if (!mem.valid() && errno == EINVAL) {
    f.create_flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
    f.create_flags_text = "MFD_CLOEXEC|MFD_ALLOW_SEALING";
    mem.reset(create_memfd("ipcbench-probe", f.create_flags));
  }
  if (!mem.valid()) {
    const int err = errno;  // copied before building the text, which may allocate
    f.unavailable = errno_text(("memfd_create(" + f.create_flags_text + ")").c_str(), err);
    return f;
  }
  const std::byte one{1};
  if (::write(mem.get(), &one, 1) != 1) {
    f.unavailable = errno_text("write(memfd)", errno);
    return f;
  }
  if (::fcntl(mem.get(), F_ADD_SEALS, kSeals) != 0) {
    f.unavailable = errno_text("fcntl(memfd, F_ADD_SEALS)", errno);
    return f;
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    f.unavailable = errno_text("socketpair(AF_UNIX, SOCK_SEQPACKET)", errno);
    return f;
  }
  const UniqueFd a(fds[0]), b(fds[1]);
  int sndbuf = 0;
  socklen_t len = sizeof sndbuf;
  if (::getsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0) {
    f.sndbuf = static_cast<std::size_t>(sndbuf);
  }
  while (f.queued_records < kProbeRecords) {
    if (send_fd_record(a.get(), mem.get(), 1, MSG_DONTWAIT) >= 0) {
      ++f.queued_records;
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) break;
    if (err == ETOOMANYREFS) {
      f.queue_hit_nofile = true;
      break;
    }
    if (err == EINTR) continue;
    f.unavailable = errno_text("sendmsg(SCM_RIGHTS)", err);
    return f;
  }
  // Receiving checks that a security module lets the fd in (it would drop it with MSG_CTRUNC).
  LengthRecord<1> rec;
  const msghdr& mh = rec.mh;
  if (::recvmsg(b.get(), &rec.mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) < 0) {
    f.unavailable = errno_text("recvmsg(SCM_RIGHTS)", errno);
    return f;
  }
  const cmsghdr* c = CMSG_FIRSTHDR(&mh);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS || (mh.msg_flags & MSG_CTRUNC) != 0) {
    f.unavailable = "recvmsg(SCM_RIGHTS): the passed fd was dropped (MSG_CTRUNC)";
    return f;
  }
  int received = -1;
  std::memcpy(&received, CMSG_DATA(c), sizeof received);
  const UniqueFd got(received);
  return f;  // closing the pair releases every reference still queued in it
}

const MemfdFacts& facts() {
  static const MemfdFacts f = probe();
  return f;
}

// Writes `msg` into a new sealed memfd and passes it on `sock`. False when the peer is gone (EPIPE,
// ECONNRESET). Blocks while the socket's buffer is full. Throws naming `object`.
bool send_memfd(int sock, std::span<const std::byte> msg, const char* label, unsigned flags,
                std::string_view object) {
  UniqueFd mem(create_memfd(label, flags));
  if (!mem.valid()) {
    const int err = errno;  // EMFILE: this process is at RLIMIT_NOFILE
    throw_sys_error(err, "memfd_create", std::string(object) + ", the memfd of one message");
  }
  for (std::size_t done = 0; done < msg.size();) {
    const ssize_t n =
        ::pwrite(mem.get(), msg.data() + done, msg.size() - done, static_cast<off_t>(done));
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    const int err = n == 0 ? EIO : errno;
    if (err == EINTR) {
      throw_if_interrupted("write", object);
      continue;
    }
    // ENOSPC/ENOMEM: the memory (or the cgroup's) is full; EFBIG: past RLIMIT_FSIZE.
    throw_sys_error(err, "write",
                    std::string(object) + ", a memfd of " + std::to_string(msg.size()) + " bytes");
  }
  if (::fcntl(mem.get(), F_ADD_SEALS, kSeals) != 0) {
    throw_sys_error(errno, "fcntl(F_ADD_SEALS)", std::string(object) + ", the message's memfd");
  }
  while (send_fd_record(sock, mem.get(), msg.size(), 0) < 0) {
    const int err = errno;
    if (err == EPIPE || err == ECONNRESET) return false;
    if (err == ETOOMANYREFS) {
      throw_sys_error(
          err, "sendmsg(SCM_RIGHTS)",
          std::string(object) + ": this user has more fds in flight than its RLIMIT_NOFILE");
    }
    if (err != EINTR) throw_sys_error(err, "sendmsg(SCM_RIGHTS)", object);
    throw_if_interrupted("sendmsg", object);
  }
  return true;  // `mem` closes here: the queued reference keeps the file until the receiver's close
}

// Receives one record from `sock`, checks that it brought exactly one memfd sealed with kSeals and
// holding exactly msg.size() bytes, and reads the bytes into `msg`. False when the peer closed.
// Every fd the record brought is closed on every path. Throws naming `object` and the fault.
bool recv_memfd(int sock, std::span<std::byte> msg, std::string_view object) {
  LengthRecord<kMaxFds> rec;
  msghdr& mh = rec.mh;
  const std::uint64_t& length = rec.length;
  ssize_t n = -1;
  while (true) {
    rec.rewind();
    // MSG_CMSG_CLOEXEC: the fd is close-on-exec from the start; MSG_TRUNC: a longer record shows
    // its real length instead of being cut to 8 bytes unnoticed.
    n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (n >= 0) break;
    const int err = errno;
    if (err == ECONNRESET) return false;
    if (err != EINTR) throw_sys_error(err, "recvmsg", object);
    throw_if_interrupted("recvmsg", object);
  }
  // Own every fd the record brought before looking at anything, so each error below closes them.
  std::array<UniqueFd, kMaxFds> fds;
  std::size_t count = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < k && count < kMaxFds; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds[count++].reset(fd);
    }
  }
  if (n == 0 && count == 0) return false;  // end of file: the peer closed
  if ((mh.msg_flags & MSG_CTRUNC) != 0) {
    throw_sys_error(EPROTO, "recvmsg",
                    std::string(object) +
                        ": the kernel dropped passed fds (MSG_CTRUNC): this process is at its "
                        "RLIMIT_NOFILE, or a record carried more than " +
                        std::to_string(kMaxFds));
  }
  if (static_cast<std::size_t>(n) != sizeof length) {
    throw_sys_error(EPROTO, "recvmsg",
                    std::string(object) + ": a record of " + std::to_string(n) +
                        " bytes where an 8-byte length was expected");
  }
  if (count != 1) {
    throw_sys_error(EPROTO, "recvmsg",
                    std::string(object) + ": a record with " + std::to_string(count) +
                        " fds where one memfd was expected");
  }
  if (length != msg.size()) {
    throw_sys_error(EMSGSIZE, "recvmsg",
                    std::string(object) + ": a message of " + std::to_string(length) +
                        " bytes announced where " + std::to_string(msg.size()) + " were expected");
  }
  const int mem = fds[0].get();
  const int seals = ::fcntl(mem, F_GET_SEALS);
  if (seals < 0) {
    const int err = errno;  // EINVAL: not a memfd (nor any file that takes seals)
    throw_sys_error(err, "fcntl(F_GET_SEALS)",
                    std::string(object) + ": the passed fd is not a sealable memfd");
  }
  if ((seals & kSeals) != kSeals) {
    char text[96];
    std::snprintf(text, sizeof text, ": the passed memfd is not sealed (seals 0x%x, needs 0x%x)",
                  static_cast<unsigned>(seals), static_cast<unsigned>(kSeals));
    throw_sys_error(EPERM, "fcntl(F_GET_SEALS)", std::string(object) + text);
  }
  struct stat st {};
  if (::fstat(mem, &st) != 0) throw_sys_error(errno, "fstat", std::string(object) + ", memfd");
  if (st.st_size < 0 || static_cast<std::size_t>(st.st_size) != msg.size()) {
    throw_sys_error(EMSGSIZE, "fstat",
                    std::string(object) + ": a memfd of " + std::to_string(st.st_size) +
                        " bytes where " + std::to_string(msg.size()) + " were expected");
  }
  for (std::size_t done = 0; done < msg.size();) {
    const ssize_t r = ::pread(mem, msg.data() + done, msg.size() - done, static_cast<off_t>(done));
    if (r > 0) {
      done += static_cast<std::size_t>(r);
      continue;
    }
    const int err = r == 0 ? EPROTO : errno;  // 0: the sealed size said otherwise
    if (err == EINTR) {
      throw_if_interrupted("read", object);
      continue;
    }
    throw_sys_error(err, "read", std::string(object) + ", memfd");
  }
  return true;  // the memfd closes here, the last reference: its pages are freed
}

class MemfdPassTransport final : public Transport {
 public:
  explicit MemfdPassTransport(const TransportOptions& options)
      : label_(options.name), flags_(facts().create_flags) {
    int fds[2];
    // SOCK_SEQPACKET: each 8-byte record and its fd arrive together and whole.
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw_sys_error(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)", "memfd_pass socket pair");
    }
    producer_.reset(fds[0]);
    consumer_.reset(fds[1]);
  }

  void attach(Role role, pid_t /*peer*/) override {
    // After fork() both processes hold both ends; keep this role's own.
    const bool producer = role == Role::kProducer;
    fd_ = std::move(producer ? producer_ : consumer_);
    name_ =
        producer ? "memfd_pass socket pair, producer end" : "memfd_pass socket pair, consumer end";
    producer_.reset();
    consumer_.reset();
  }
  void send(std::span<const std::byte> msg) override {
    if (!send_memfd(fd_.get(), msg, label_.c_str(), flags_, name_)) {
      throw_sys_error(EPIPE, "sendmsg", name_ + ", the peer is gone");
    }
  }
  Received recv(std::span<std::byte> msg) override {
    if (!recv_memfd(fd_.get(), msg, name_)) {
      throw_sys_error(EPIPE, "recvmsg", name_ + ", peer closed mid-message");
    }
    return Received::kMessage;
  }

 private:
  std::string label_;  // the memfds' name, shown in /proc/<pid>/fd as "/memfd:<label> (deleted)"
  unsigned flags_;
  UniqueFd producer_, consumer_, fd_;
  std::string name_;
};

class MemfdPassFanIn final : public SeqpacketFanIn {
 public:
  MemfdPassFanIn(const TransportOptions& options, std::size_t clients)
      : SeqpacketFanIn(options, clients), label_(options.name), flags_(facts().create_flags) {}

 protected:
  bool put(int fd, std::span<const std::byte> msg) override {
    return send_memfd(fd, msg, label_.c_str(), flags_, object());
  }
  bool take(int fd, std::span<std::byte> msg) override { return recv_memfd(fd, msg, object()); }

 private:
  std::string label_;
  unsigned flags_;
};

Capabilities describe_memfds(std::size_t /*clients*/ = 1) {
  const MemfdFacts& f = facts();
  Capabilities caps;
  caps.waits_by =
      "blocking recvmsg() on a SOCK_SEQPACKET socket; per message 10 system calls "
      "(memfd_create, pwrite, F_ADD_SEALS, sendmsg, close; recvmsg, F_GET_SEALS, fstat, pread, "
      "close), 2 copies, n/4096 shmem page allocations, no page faults";
  if (!f.unavailable.empty()) {
    caps.max_message_bytes = 0;
    caps.limit_source = "memfd with seals unavailable";
    caps.unavailable = f.unavailable;
    return caps;
  }
  rlimit fsize{};
  const bool fsize_known = ::getrlimit(RLIMIT_FSIZE, &fsize) == 0;
  const bool fsize_finite = fsize_known && fsize.rlim_cur != RLIM_INFINITY;
  caps.max_message_bytes = fsize_finite ? static_cast<std::size_t>(fsize.rlim_cur) : SIZE_MAX;
  rlimit nofile{};
  const std::string nofile_text =
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0
          ? (nofile.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(nofile.rlim_cur))
          : "unreadable";
  struct sysinfo si {};
  const std::string ram_text =
      ::sysinfo(&si) == 0
          ? std::to_string(static_cast<std::uint64_t>(si.totalram) * si.mem_unit >> 20) + " MiB"
          : "unreadable";
  caps.limit_source =
      std::string(fsize_finite ? "RLIMIT_FSIZE " + std::to_string(fsize.rlim_cur) + " B"
                               : "no record limit (RLIMIT_FSIZE unlimited)") +
      ": one sealed memfd per message (" + f.create_flags_text +
      "), its pages held until the receiver closes it, bounded by memory (RAM " + ram_text +
      "); a connection queues at most " + std::to_string(f.queued_records) +
      " messages (measured: SO_SNDBUF " + std::to_string(f.sndbuf) + " B of 8-byte records" +
      (f.queue_hit_nofile ? ", stopped by RLIMIT_NOFILE" : "") +
      "), their fds counted against the sender's RLIMIT_NOFILE " + nofile_text +
      " (ETOOMANYREFS beyond); each end needs one free fd per message in hand";
  return caps;
}

Capabilities describe_fan_in(std::size_t clients) { return describe_memfds(clients); }

constexpr FanInForm kFanIn{
    "listen + accept one SOCK_SEQPACKET socket per client, one epoll loop; each message a sealed "
    "memfd passed with SCM_RIGHTS",
    &describe_fan_in, &make_fan_in_of<MemfdPassFanIn>};

}  // namespace

TransportPtr make_memfd_pass(const TransportOptions& options) {
  return std::make_unique<MemfdPassTransport>(options);
}

Capabilities describe_memfd_pass() { return describe_memfds(); }

TransportForms forms_memfd_pass() {
  return {.fan_in = &kFanIn,
          .no_broadcast =
              "a passed fd reaches the one socket it is sent on (a memfd could be sent to each "
              "reader, but that is one handoff per consumer): FanOut uses one pair per consumer"};
}

}  // namespace ipcbench
