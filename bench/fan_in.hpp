// The FanIn benchmarks: FanIn/<transport>/clients:<n>/bytes:<size>, one server and N clients.
#pragma once

#include "bench/options.hpp"

namespace ipcbench {

// Registers FanIn/<id>/clients:<n>/bytes:<size> for every id in o.transports that has a fan-in
// form (transports/fan_in.def): N = 1, 2, 4, 8, 16 at 64 bytes (--quick: N = 2 and 4, fixed small
// iteration counts). Sizes the transport cannot carry go into the context as "unsupported/<name>".
void register_fan_in_benchmarks(const BenchOptions& o);

}  // namespace ipcbench
