// Registration of the many-process patterns: Pairs/<id>/pairs:<n> and FanOut/<id>/consumers:<n>.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bench/options.hpp"

namespace ipcbench {

// Registers the Pairs and FanOut cases of the selected transports. A case a transport cannot run
// is added to `unsupported` (name, reason) instead.
void register_pattern_benchmarks(const BenchOptions& o,
                                 std::vector<std::pair<std::string, std::string>>& unsupported);

}  // namespace ipcbench
