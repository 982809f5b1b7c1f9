// Tests only: `calib` and `calib_lossy`, transports with a known cost, so tests can check that what
// the harness reports (round trip, one-way per direction, CPU per message, losses) is what was put
// in. Never in the ipcbench binary or all_transports(): register_calib_transports() makes them
// findable by find_transport() (and so by run_pair() and resolve()).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ipcbench::test {

// How the calibration transports behave, read on every send(). Set it before run_pair(): the
// forked consumer inherits this process's copy, and changes after fork() do not reach it.
struct CalibConfig {
  // Busy-spun (CLOCK_MONOTONIC, never a sleep) inside every send() of that side, before the
  // message goes out: the consumer's send is its echo (round trip) or ack; the producer's is its
  // data message. Applies to the handshake and warm-up too.
  std::uint64_t consumer_send_spin_ns = 0;
  std::uint64_t producer_send_spin_ns = 0;
  // calib_lossy only: of each process's sends (counted per transport object, from 1), send n goes
  // out when (n - 1) % keep_one_in == 0 and is dropped otherwise; 1 keeps everything, 100 keeps
  // the 1st, the 101st, ... Must be at least 1.
  std::uint64_t keep_one_in = 1;
  // One stall of the producer (Load tests): its send number `producer_stall_at_send` (counted per
  // transport object, from 1; 0: never) first sleeps `producer_stall_ns`, then sends. A sleep, not
  // a spin: the stalled sender's CPU stays free for the other threads, as a real stall (a page
  // fault, a preempted sender, a full buffer) leaves it.
  std::uint64_t producer_stall_at_send = 0;
  std::uint64_t producer_stall_ns = 0;
};
inline CalibConfig calib_config;

// The largest message either transport carries (stated; checked against SO_SNDBUF when made).
inline constexpr std::size_t kCalibMaxMessageBytes = 65536;

// Messages calib_lossy's send() dropped in this process so far (all its transport objects).
[[nodiscard]] std::uint64_t calib_drops() noexcept;
// Of those, the data messages: not the harness's wake-ups (sequence number with kEndFlag), which
// announce what its control channel carries and are no data.
[[nodiscard]] std::uint64_t calib_data_drops() noexcept;

// Registers both ids with register_test_transport(); idempotent. Call before run_pair().
//  calib:       reliable, ordered, boundaries kept (a socketpair(AF_UNIX, SOCK_SEQPACKET)),
//               Payload::kBytes up to kCalibMaxMessageBytes; blocking receives.
//  calib_lossy: the same socket pair with may_lose = true: recv() returns Received::kTimeout after
//               TransportOptions::recv_timeout (SO_RCVTIMEO), and send() drops by keep_one_in.
void register_calib_transports();

// Registers the calibration transports, and restores their settings (calib_config) when a test
// ends, however it ends.
struct CalibReset {
  CalibReset() { register_calib_transports(); }
  ~CalibReset() { calib_config = {}; }
  CalibReset(const CalibReset&) = delete;
  CalibReset& operator=(const CalibReset&) = delete;
};

}  // namespace ipcbench::test
