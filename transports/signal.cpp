// signal: standard signals as bare notifications: kill(SIGUSR1) is a message, kill(SIGUSR2) ends a
// stream batch; received with sigwaitinfo() on blocked signals (no signal handler).
#include <signal.h>
#include <sys/types.h>

#include <cassert>
#include <cerrno>
#include <string>

#include "transports/os/signal_mask.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr int kMessageSignal = SIGUSR1;
constexpr int kEndSignal = SIGUSR2;
// sigwaitinfo() takes the lowest-numbered pending standard signal first, so every SIGUSR1 still
// pending is taken before the SIGUSR2 sent after it: the end mark never overtakes a message.
static_assert(kMessageSignal < kEndSignal);

class SignalTransport final : public Transport {
 public:
  // The signals are blocked here, before fork(), so the child inherits the mask.
  SignalTransport() : blocked_({kMessageSignal, kEndSignal}, "SIGUSR1/SIGUSR2") {
    sigemptyset(&wanted_);
    sigaddset(&wanted_, kMessageSignal);
    sigaddset(&wanted_, kEndSignal);
  }

  void attach(Role role, pid_t peer) override {
    assert(peer > 0);  // kill(0, ...) or kill(-1, ...) would signal a whole group
    peer_ = peer;
    name_ = std::string("SIGUSR1/SIGUSR2 to and from ") +
            (role == Role::kProducer ? "consumer" : "producer") + " pid " + std::to_string(peer);
  }
  void send(std::span<const std::byte> msg) override {
    assert(msg.empty());  // a notification carries no bytes
    (void)msg;
    post(kMessageSignal);
  }
  void send_end() override { post(kEndSignal); }
  Received recv(std::span<std::byte> msg) override {
    if (!msg.empty()) {
      throw_sys_error(
          EMSGSIZE, "sigwaitinfo",
          name_ + ": a signal carries no bytes, " + std::to_string(msg.size()) + " were expected");
    }
    siginfo_t info;
    const int sig = wait_signal_from(wanted_, peer_, info, name_);
    return sig == kEndSignal ? Received::kEnd : Received::kMessage;
  }

 private:
  void post(int sig) {
    if (::kill(peer_, sig) != 0) throw_sys_error(errno, "kill", name_);
  }

  BlockedSignals blocked_;
  sigset_t wanted_;
  pid_t peer_ = -1;
  std::string name_;
};

}  // namespace

TransportPtr make_signal(const TransportOptions&) { return std::make_unique<SignalTransport>(); }

Capabilities describe_signal() {
  return {.payload = Payload::kNothing,
          .max_message_bytes = 0,
          .limit_source =
              "a standard signal carries no data (SIGUSR1 = a message, SIGUSR2 = "
              "end of a batch); pending is one bit per signal, so repeats sent before "
              "delivery coalesce and are counted",
          .may_coalesce = true,
          .waits_by = "sigwaitinfo() on blocked signals"};
}

TransportForms forms_signal() {
  return {.no_fan_in =
              "a standard signal carries no data, and the same signal sent by several "
              "clients before delivery coalesces into one, so their requests could be "
              "neither told apart nor counted",
          .no_broadcast = "kill() signals one process: FanOut sends one signal per consumer"};
}

}  // namespace ipcbench
