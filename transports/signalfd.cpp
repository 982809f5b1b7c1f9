// signalfd: realtime signals sent with sigqueue(), each carrying one 8-byte word in its sigval, as
// rt_signal does; but received by read() of signalfd_siginfo records from a signalfd (Linux's
// file-descriptor interface to pending signals) instead of sigwaitinfo(). The signals stay
// blocked, so they wait in the process's queue until read. They queue, never coalesce.
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/types.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "transports/os/rt_queue.hpp"
#include "transports/os/signal_mask.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

static_assert(sizeof(signalfd_siginfo::ssi_ptr) == kWordBytes,
              "the record carries the sigval whole in ssi_ptr");

// One signal number per direction, distinct from rt_signal's SIGRTMIN and SIGRTMIN+1 so that
// neither transport can take the other's.
int down_signal() { return SIGRTMIN + 2; }  // producer -> consumer
int up_signal() { return SIGRTMIN + 3; }    // consumer -> producer

// Records one read() may take. In a round trip one is pending; in a stream the receiver takes
// whatever has queued up to this many with one system call (sigwaitinfo() takes one per call).
constexpr std::size_t kBatch = 16;

sigset_t signal_set(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : signals) sigaddset(&set, sig);
  return set;
}

class SignalfdTransport final : public Transport {
 public:
  // Both signals are blocked here, before fork(), so the child inherits the mask; a signal that is
  // not blocked would be delivered (its default action ends the process) rather than queued for
  // a signalfd.
  SignalfdTransport() : blocked_({down_signal(), up_signal()}, "SIGRTMIN+2/SIGRTMIN+3") {
    require_realtime_signals(up_signal(), "SIGRTMIN+3");
  }

  void attach(Role role, pid_t peer) override {
    assert(peer > 0);  // never a process group
    peer_ = peer;
    const bool producer = role == Role::kProducer;
    out_signal_ = producer ? down_signal() : up_signal();
    name_ = std::string("realtime signals to and from ") + (producer ? "consumer" : "producer") +
            " pid " + std::to_string(peer) + " (signalfd)";
    // Made here, by each side for itself, reading only the signal sent to it: a signalfd made
    // before fork() would be one open file shared by both processes, and its signal set belongs
    // to that file, so narrowing it in one process would narrow it in the other too. A read()
    // returns the signals queued to the process (or thread) that reads.
    const sigset_t wanted = signal_set({producer ? up_signal() : down_signal()});
    fd_.reset(::signalfd(-1, &wanted, SFD_CLOEXEC));  // blocking: read() sleeps until one queues
    if (fd_.get() < 0) throw_sys_error(errno, "signalfd", name_);
  }
  void send(std::span<const std::byte> msg) override {
    check_word_message(msg.size(), "sigqueue", name_);
    queue_word(peer_, out_signal_, msg, name_);
  }
  Received recv(std::span<std::byte> msg) override {
    check_word_message(msg.size(), "read", name_);
    while (true) {
      if (next_ == taken_) refill();
      const signalfd_siginfo& info = records_[next_++];
      // A kill() carries no word, and another process's signal is not our peer's: taken, ignored.
      if (info.ssi_code != SI_QUEUE || static_cast<pid_t>(info.ssi_pid) != peer_) continue;
      std::memcpy(msg.data(), &info.ssi_ptr, kWordBytes);
      return Received::kMessage;
    }
  }

 private:
  // Blocks until at least one signal is queued, then takes up to kBatch records in one read().
  // EINTR (the watchdog's SIGALRM, which is not in the signalfd's set and has a handler without
  // SA_RESTART) throws once interrupted() is set, else reads again.
  void refill() {
    while (true) {
      const ssize_t n = ::read(fd_.get(), records_, sizeof records_);
      if (n > 0) {
        // The kernel returns whole records only.
        assert(static_cast<std::size_t>(n) % sizeof(signalfd_siginfo) == 0);
        next_ = 0;
        taken_ = static_cast<std::size_t>(n) / sizeof(signalfd_siginfo);
        return;
      }
      const int err = n < 0 ? errno : EIO;
      if (err != EINTR) throw_sys_error(err, "read", name_);
      throw_if_interrupted("read", name_);
    }
  }

  BlockedSignals blocked_;
  UniqueFd fd_;
  pid_t peer_ = -1;
  int out_signal_ = 0;
  std::string name_;
  signalfd_siginfo records_[kBatch];  // read, not yet handed out: [next_, taken_)
  std::size_t next_ = 0, taken_ = 0;
};

// "" when this process can make a signalfd, else why not (a seccomp filter or a kernel built
// without CONFIG_SIGNALFD). Asked once.
const std::string& signalfd_unavailable() {
  static const std::string reason = [] {
    sigset_t none;
    sigemptyset(&none);
    const int fd = ::signalfd(-1, &none, SFD_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      return std::string("signalfd() fails here: ") + std::strerror(err);
    }
    ::close(fd);
    return std::string();
  }();
  return reason;
}

}  // namespace

TransportPtr make_signalfd(const TransportOptions&) {
  return std::make_unique<SignalfdTransport>();
}

Capabilities describe_signalfd() {
  return {.payload = Payload::kWord,
          .max_message_bytes = kWordBytes,
          .limit_source = queued_word_limit_source(),
          .waits_by = "read() of signalfd_siginfo records (up to " + std::to_string(kBatch) +
                      " per call) from a signalfd on blocked signals",
          .unavailable = signalfd_unavailable()};
}

TransportForms forms_signalfd() {
  return {.no_fan_in =
              "the fan-in form carries framed byte requests (sequence number, time "
              "stamp, payload) and a realtime signal carries one 8-byte word",
          .no_broadcast = "sigqueue() signals one process: FanOut sends one signal per consumer"};
}

}  // namespace ipcbench
