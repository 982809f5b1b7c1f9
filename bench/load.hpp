// The Load cases: latency under a fixed offered load, without coordinated omission
// (Load/<id>/rate:<n>/bytes:<n>), registered over harness/load.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/options.hpp"

namespace ipcbench {

// The message size every Load case runs at: small, so the rate, not copying, is what is loaded.
inline constexpr std::size_t kLoadBytes = 64;

// The default sweep, as fractions of the transport's stream rate at kLoadBytes (measured first),
// about log-spaced. An echo on a schedule saturates below a one-way stream (each message crosses
// twice, and may cost a wake-up each way and the sender's timer), but how far below varies: on
// the 2-CPU development VM a pipe's knee was near 2% of its stream rate in a debug build and
// above 20% in a release build, shm_futex's near 10% in a release build. So it runs from 0.1% of
// the stream rate, far below any knee, to twice it, past any, and the knee is on the curve.
inline constexpr double kFullSweep[] = {0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.5, 1.0, 2.0};
inline constexpr double kQuickSweep[] = {0.01, 0.1, 1.5};
// The rates of a sweep over `saturation` messages per second: each fraction's, rounded to two
// significant digits, at least 100, at most kMaxRate, without repeats, rising.
[[nodiscard]] std::vector<std::uint64_t> sweep_rates(double saturation, bool quick);

// A case sustains its rate when it replied to all but 0.1% of its messages, at least 98% as fast
// as they were offered.
inline constexpr double kSustainedFraction = 0.98;
inline constexpr double kSustainedLoss = 0.001;

// Registers every Load case of `o` (each transport, placement and rate). Without --rates it first
// measures each transport's saturation with a short Stream at kLoadBytes on the case's CPUs, here
// at registration, so the sweep is known before Google Benchmark (which may interleave cases
// randomly) runs any case; the figure goes into the context ("ipcbench_load_saturation/<id>").
// A transport resolve_load() refuses, or whose calibration fails, is recorded unsupported with
// the reason. --quick without --transports runs pipe, unix_stream, shm_futex and udp only.
void register_load_benchmarks(const BenchOptions& o);

}  // namespace ipcbench
