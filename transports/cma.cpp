// cma: cross-memory attach. The sender copies the message with one process_vm_writev() straight
// from its own buffer into the buffer the receiver is waiting with; two pipes (one per direction
// between the processes) carry small records that say where that buffer is and when the copy is
// done. Fan-in and broadcast: none (see forms_cma).
//
// One message, receiver R and sender S:
//   R: write(record {ready, address of its buffer, size, its pid}), then read() until S's
//      record comes;
//   S: read() R's ready record (usually already there), process_vm_writev(R, its message ->
//      R's buffer), write(record {done, size}).
// That is one copy of the payload in all (the kernel's, page by page from S's buffer into R's
// pages), and no staging buffer on either side; plus two 32-byte records through the pipes. The
// price is a rendezvous: the sender waits until the receiver has posted a buffer, so nothing is
// queued, and a stream moves one message per handoff. (A buffer made before fork(), at the same
// address in both processes, would let the sender write without waiting, but the receiver would
// then copy the message out of it: two copies, and an acknowledgement before its reuse.)
//
// Why pipes for the records, rather than an eventfd or a futex word in shared memory: a record
// must carry an address and a size (an eventfd carries one counter, and coalesces); a pipe read
// blocks interruptibly (the watchdog's EINTR), reports a dead peer as end of file at once, and a
// 32-byte record is written atomically (under PIPE_BUF). A futex word would need its own
// dead-peer detection and timeouts.
//
// The receiver's buffer is written through the pid its ready record names (the process at the
// other end of this private pipe, whatever pid attach() was given). It posts a buffer only while
// it waits in recv(), so the copy always lands in a live buffer of the right size; a receiver
// that died in between shows as ESRCH (a consumer is its producer's child, so its pid stays
// reserved until reaped; a producer is reached only while its record is fresh).
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

#include "transports/os/cma_probe.hpp"
#include "transports/os/io.hpp"
#include "transports/os/pipes.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// What travels through the pipes. kReady: process `pid` waits with `bytes` bytes at `address` (in
// its own address space). kDone: the sender has copied `bytes` bytes there.
struct Record {
  std::uint64_t kind = 0;
  std::uint64_t address = 0;
  std::uint64_t bytes = 0;
  std::int64_t pid = 0;
};
static_assert(sizeof(Record) <= 512, "a record is written atomically (PIPE_BUF is at least 512)");
constexpr std::uint64_t kReady = 0x7265616479;  // "ready"
constexpr std::uint64_t kDone = 0x646f6e65;     // "done"

std::string_view kind_name(std::uint64_t kind) {
  return kind == kReady ? "ready" : kind == kDone ? "done" : "unknown";
}

class CmaTransport final : public Transport {
 public:
  explicit CmaTransport(const TransportOptions&)
      : pipes_("cma record pipe") {}
  ~CmaTransport() override {
    if (ptracer_set_) ::prctl(PR_SET_PTRACER, 0, 0, 0, 0);
  }
  CmaTransport(const CmaTransport&) = delete;
  CmaTransport& operator=(const CmaTransport&) = delete;

  void attach(Role role, pid_t peer) override {
    pipes_.keep(role, in_, out_);
    const bool producer = role == Role::kProducer;
    self_ = ::getpid();
    object_ = std::string("cma ") + (producer ? "to consumer" : "to producer");
    // Under Yama's ptrace_scope 1 a process may reach only its descendants: the consumer could
    // not write into its parent. Naming the peer as our ptracer lifts that for this peer only,
    // before any record goes out (so before the peer tries). Without Yama the call fails with
    // EINVAL and nothing is needed. (A process has one such ptracer: a producer with several
    // cma channels under scope 1 lets only the last peer in, and the others' copies fail with
    // EPERM, an error naming the object.)
    ptracer_set_ = ::prctl(PR_SET_PTRACER, static_cast<unsigned long>(peer), 0, 0, 0) == 0;
  }

  void send(std::span<const std::byte> msg) override {
    const Record ready = read_record(kReady);
    if (ready.bytes != msg.size()) {
      throw_sys_error(EMSGSIZE, "process_vm_writev",
                      object_ + ": the receiver waits for " + std::to_string(ready.bytes) +
                          " bytes, the message has " + std::to_string(msg.size()));
    }
    iovec local{const_cast<std::byte*>(msg.data()), msg.size()};
    iovec remote{reinterpret_cast<void*>(static_cast<std::uintptr_t>(ready.address)), msg.size()};
    const auto receiver = static_cast<pid_t>(ready.pid);
    while (local.iov_len > 0) {
      // One copy, by the kernel, from our pages into the receiver's. A transfer is partial only
      // past MAX_RW_COUNT (2 GiB) or at a fault; the rest is copied by the next call.
      const ssize_t n = ::process_vm_writev(receiver, &local, 1, &remote, 1, 0);
      if (n <= 0) {
        const int err = n < 0 ? errno : EFAULT;
        if (err == EINTR) {
          throw_if_interrupted("process_vm_writev", object_);
          continue;
        }
        throw_sys_error(err, "process_vm_writev", object_ + " pid " + std::to_string(receiver));
      }
      const auto done = static_cast<std::size_t>(n);
      local.iov_base = static_cast<std::byte*>(local.iov_base) + done;
      local.iov_len -= done;
      remote.iov_base = static_cast<std::byte*>(remote.iov_base) + done;
      remote.iov_len -= done;
    }
    write_record({kDone, 0, msg.size(), self_});
  }

  Received recv(std::span<std::byte> msg) override {
    write_record({kReady, reinterpret_cast<std::uintptr_t>(msg.data()), msg.size(), self_});
    const Record done = read_record(kDone);
    if (done.bytes != msg.size()) {
      throw_sys_error(EMSGSIZE, "read",
                      object_ + ": the sender reports " + std::to_string(done.bytes) +
                          " bytes copied, not " + std::to_string(msg.size()));
    }
    return Received::kMessage;
  }

 private:
  Record read_record(std::uint64_t want) {
    Record r;
    read_all(in_.get(), std::as_writable_bytes(std::span(&r, 1)), object_);
    if (r.kind != want) {
      // Each side alternates send() and recv() with the other, so a record of the other kind
      // means the two sides disagree about whose turn it is.
      throw_sys_error(EPROTO, "read",
                      object_ + ": expected a " + std::string(kind_name(want)) + " record, got " +
                          std::string(kind_name(r.kind)));
    }
    return r;
  }
  void write_record(const Record& r) {
    write_all(out_.get(), std::as_bytes(std::span(&r, 1)), object_);
  }

  PipePair pipes_;
  UniqueFd in_, out_;
  pid_t self_ = -1;
  bool ptracer_set_ = false;
  std::string object_ = "cma";
};

Capabilities capabilities(int probe_errno) {
  return {.limit_source =
              "none: any size, copied straight into the receiver's own buffer (one iovec "
              "each side; a process_vm_writev() moves at most MAX_RW_COUNT, about 2 GiB, "
              "and the rest follows in further calls)",
          .waits_by =
              "blocking read() on a pipe for the peer's 32-byte record (the receiver's "
              "posted buffer, or the end of the copy): a rendezvous, nothing queued",
          .unavailable = cma_refusal(probe_errno)};
}

}  // namespace

TransportPtr make_cma(const TransportOptions& options) {
  return std::make_unique<CmaTransport>(options);
}

Capabilities describe_cma() {
  // The probe forks a child once per process; its answer does not change.
  static const Capabilities caps = capabilities(probe_cma());
  return caps;
}

TransportForms forms_cma() {
  return {.no_fan_in =
              "the copy needs the receiver's buffer address first: a server waiting for any "
              "client would have to post its one buffer to every client, and several could "
              "then write into it at once; posting it to one client at a time would choose "
              "the order instead of serving requests as they come",
          .no_broadcast =
              "process_vm_writev() writes into one process: a broadcast is still one copy per "
              "reader, which is what FanOut does over one cma pair per consumer"};
}

}  // namespace ipcbench
