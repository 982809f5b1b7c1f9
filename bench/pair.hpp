// The pair benchmarks: RoundTrip/<id>/bytes:<n> and Stream/<id>/bytes:<n> (+ /placement:<kind>).
#pragma once

#include "bench/options.hpp"

namespace ipcbench {

// Registers RoundTrip and Stream for every selected transport at every size (a notification or
// one-word transport also at the one size it carries), on the --cpus pair or each --placement.
// A size resolve() refuses is recorded as unsupported instead.
void register_pair_benchmarks(const BenchOptions& o);

}  // namespace ipcbench
