// --peer: the cases run against an `ipcbench --serve` on another host (harness/peer.hpp), with the
// same names, counters and checks as on one host. The drivers call run_pair_case/run_load_case,
// which run here or there.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "harness/load.hpp"
#include "harness/pair.hpp"
#include "harness/peer.hpp"

namespace ipcbench {

// The --peer server's client, or nullptr (one host). Set once by main() before any case registers.
[[nodiscard]] PeerClient* peer_client() noexcept;
void set_peer_client(PeerClient* client) noexcept;

// run_pair / run_load on this host, or against the --peer server.
[[nodiscard]] PairResult run_pair_case(const PairConfig& config);
[[nodiscard]] LoadResult run_load_case(const LoadConfig& config);

// With --peer: why `id` at `bytes` is not measured between the two hosts ("" when it is).
// Without: "".
[[nodiscard]] std::string across_hosts_unsupported(std::string_view id, std::size_t bytes);

}  // namespace ipcbench
