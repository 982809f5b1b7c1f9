// rt_signal: realtime signals sent with sigqueue(), each carrying one 8-byte word in its sigval;
// received with sigwaitinfo() on blocked signals (no signal handler). They queue, never coalesce.
#include <signal.h>
#include <sys/types.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "transports/os/rt_queue.hpp"
#include "transports/os/signal_mask.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// One signal number per direction. Offsets from SIGRTMIN (glibc already keeps its own realtime
// signals below SIGRTMIN); nothing else in the suite uses these two.
int down_signal() { return SIGRTMIN; }    // producer -> consumer
int up_signal() { return SIGRTMIN + 1; }  // consumer -> producer

class RtSignalTransport final : public Transport {
 public:
  // Both signals are blocked here, before fork(), so the child inherits the mask.
  RtSignalTransport() : blocked_({down_signal(), up_signal()}, "SIGRTMIN/SIGRTMIN+1") {
    require_realtime_signals(up_signal(), "SIGRTMIN+1");
  }

  void attach(Role role, pid_t peer) override {
    assert(peer > 0);  // never a process group
    peer_ = peer;
    const bool producer = role == Role::kProducer;
    out_signal_ = producer ? down_signal() : up_signal();
    sigemptyset(&wanted_);
    sigaddset(&wanted_, producer ? up_signal() : down_signal());
    name_ = std::string("realtime signals to and from ") + (producer ? "consumer" : "producer") +
            " pid " + std::to_string(peer);
  }
  void send(std::span<const std::byte> msg) override {
    check_word_message(msg.size(), "sigqueue", name_);
    queue_word(peer_, out_signal_, msg, name_);
  }
  Received recv(std::span<std::byte> msg) override {
    check_word_message(msg.size(), "sigwaitinfo", name_);
    siginfo_t info;
    do {
      (void)wait_signal_from(wanted_, peer_, info, name_);
    } while (info.si_code != SI_QUEUE);  // a kill() carries no word: not one of ours
    std::memcpy(msg.data(), &info.si_value, kWordBytes);
    return Received::kMessage;
  }

 private:
  BlockedSignals blocked_;
  sigset_t wanted_{};
  pid_t peer_ = -1;
  int out_signal_ = 0;
  std::string name_;
};

}  // namespace

TransportPtr make_rt_signal(const TransportOptions&) {
  return std::make_unique<RtSignalTransport>();
}

Capabilities describe_rt_signal() {
  return {.payload = Payload::kWord,
          .max_message_bytes = kWordBytes,
          .limit_source = queued_word_limit_source(),
          .waits_by = "sigwaitinfo() on blocked signals"};
}

TransportForms forms_rt_signal() {
  return {.no_fan_in =
              "the fan-in form carries framed byte requests (sequence number, time "
              "stamp, payload) and a realtime signal carries one 8-byte word",
          .no_broadcast = "sigqueue() signals one process: FanOut sends one signal per consumer"};
}

}  // namespace ipcbench
