// The many-process patterns: FanIn/<id>/clients:<n>, FanOut/<id>/consumers:<n> and
// Pairs/<id>/pairs:<n>, each /bytes:<size>.
#pragma once

#include "bench/options.hpp"

namespace ipcbench {

// Registers the FanIn, FanOut and Pairs cases of the selected transports. A transport whose
// resolution refuses a pattern is recorded once as unsupported ("FanOut/<id>": why); a size it
// refuses, per case.
void register_pattern_benchmarks(const BenchOptions& o);

}  // namespace ipcbench
