#include "tests/calib_transport.hpp"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "harness/clock.hpp"
#include "harness/frame.hpp"
#include "transports/os/datagram.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench::test {
namespace {

std::atomic<std::uint64_t> drops{0};
std::atomic<std::uint64_t> wakeup_drops{0};

// Busy-waits `ns` on CLOCK_MONOTONIC: the cost is wall time on this CPU, charged to this process's
// CPU time as it runs (a sleep would cost neither the CPU nor, reliably, the time).
void spin_for(std::uint64_t ns) noexcept {
  if (ns == 0) return;
  const std::uint64_t until = now_ns() + ns;
  while (now_ns() < until) {
  }
}

// A socketpair(AF_UNIX, SOCK_SEQPACKET): connected, reliable, ordered, one message per record,
// inherited by the forked consumer, no name anywhere. The sender blocks while the peer's queue is
// full, so the only losses are the ones send() makes.
class CalibTransport final : public DatagramPairTransport {
 public:
  CalibTransport(const TransportOptions& options, bool lossy)
      : DatagramPairTransport(/*may_time_out=*/lossy), lossy_(lossy) {
    const std::string kind = lossy ? "calib_lossy" : "calib";
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
      throw_sys_error(errno, "socketpair(AF_UNIX, SOCK_SEQPACKET)", kind);
    }
    producer_.reset(fds[0]);
    consumer_.reset(fds[1]);
    producer_name_ = kind + " socket pair, producer end";
    consumer_name_ = kind + " socket pair, consumer end";
    if (options.message_bytes > kCalibMaxMessageBytes) {
      throw_sys_error(EMSGSIZE, "send",
                      producer_name_ + ": " + std::to_string(options.message_bytes) +
                          " bytes is more than the stated " +
                          std::to_string(kCalibMaxMessageBytes));
    }
    // A record longer than SO_SNDBUF - 32 fails with EMSGSIZE (as for unix_dgram): check that the
    // stated limit fits this machine's default buffer, which is left as it is.
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    if (::getsockopt(producer_.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) != 0) {
      throw_sys_error(errno, "getsockopt(SO_SNDBUF)", producer_name_);
    }
    if (static_cast<std::size_t>(sndbuf) < kCalibMaxMessageBytes + 32) {
      throw_sys_error(EMSGSIZE, "getsockopt(SO_SNDBUF)",
                      producer_name_ + ": SO_SNDBUF " + std::to_string(sndbuf) +
                          " is too small for the stated largest message");
    }
    if (lossy) {  // only a transport that may lose times out (TransportOptions::recv_timeout)
      set_recv_timeout(producer_.get(), options.recv_timeout, producer_name_);
      set_recv_timeout(consumer_.get(), options.recv_timeout, consumer_name_);
    }
  }

  void attach(Role role, pid_t peer) override {
    spin_ns_ = role == Role::kProducer ? calib_config.producer_send_spin_ns
                                       : calib_config.consumer_send_spin_ns;
    keep_one_in_ = calib_config.keep_one_in == 0 ? 1 : calib_config.keep_one_in;
    if (role == Role::kProducer) {
      stall_at_ = calib_config.producer_stall_at_send;
      stall_ns_ = calib_config.producer_stall_ns;
    }
    DatagramPairTransport::attach(role, peer);
  }

  void send(std::span<const std::byte> msg) override {
    spin_for(spin_ns_);
    if (++stall_sends_ == stall_at_ && stall_ns_ > 0) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(stall_ns_));
    }
    if (lossy_ && sends_++ % keep_one_in_ != 0) {
      drops.fetch_add(1, std::memory_order_relaxed);
      // The harness's wake-ups (kEndFlag in the sequence number) carry no data: counted apart.
      if (msg.size() >= kHeaderBytes && (Framer::seq_of(msg) & kEndFlag) != 0) {
        wakeup_drops.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    DatagramPairTransport::send(msg);
  }

 private:
  bool lossy_;
  std::uint64_t spin_ns_ = 0;
  std::uint64_t keep_one_in_ = 1;
  std::uint64_t sends_ = 0;  // this process's sends on this object
  std::uint64_t stall_at_ = 0, stall_ns_ = 0, stall_sends_ = 0;  // the one stall (producer only)
};

TransportPtr make_calib(const TransportOptions& options) {
  return std::make_unique<CalibTransport>(options, false);
}
TransportPtr make_calib_lossy(const TransportOptions& options) {
  return std::make_unique<CalibTransport>(options, true);
}

constexpr const char* kLimit =
    "stated by the test transport (tests/calib_transport.hpp), well under the default SO_SNDBUF";

Capabilities describe_calib() {
  return {.max_message_bytes = kCalibMaxMessageBytes, .limit_source = kLimit};
}
Capabilities describe_calib_lossy() {
  return {.max_message_bytes = kCalibMaxMessageBytes, .limit_source = kLimit, .may_lose = true};
}

constexpr std::string_view kNoFanIn = "a test transport: pair form only";
constexpr std::string_view kNoBroadcast = "a test transport: pair form only";

}  // namespace

std::uint64_t calib_drops() noexcept { return drops.load(std::memory_order_relaxed); }
std::uint64_t calib_data_drops() noexcept {
  return drops.load(std::memory_order_relaxed) - wakeup_drops.load(std::memory_order_relaxed);
}

void register_calib_transports() {
  register_test_transport({.id = "calib",
                           .family = "test",
                           .lecture_row = "",
                           .lecture_means = false,
                           .description =
                               "tests only: AF_UNIX SOCK_SEQPACKET socket pair, a known busy "
                               "spin before each send",
                           .describe = &describe_calib,
                           .make = &make_calib,
                           .no_fan_in = kNoFanIn,
                           .no_broadcast = kNoBroadcast});
  register_test_transport({.id = "calib_lossy",
                           .family = "test",
                           .lecture_row = "",
                           .lecture_means = false,
                           .description =
                               "tests only: calib that drops all but one in keep_one_in sends "
                               "and times out its receives",
                           .describe = &describe_calib_lossy,
                           .make = &make_calib_lossy,
                           .no_fan_in = kNoFanIn,
                           .no_broadcast = kNoBroadcast});
}

}  // namespace ipcbench::test
