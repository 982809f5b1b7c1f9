#include "bench/peer.hpp"

namespace ipcbench {
namespace {

PeerClient* g_peer = nullptr;

}  // namespace

PeerClient* peer_client() noexcept { return g_peer; }
void set_peer_client(PeerClient* client) noexcept { g_peer = client; }

PairResult run_pair_case(const PairConfig& config) {
  return g_peer != nullptr ? g_peer->run_pair(config) : run_pair(config);
}

LoadResult run_load_case(const LoadConfig& config) {
  return g_peer != nullptr ? g_peer->run_load(config) : run_load(config);
}

std::string across_hosts_unsupported(std::string_view id, std::size_t bytes) {
  return g_peer != nullptr ? peer_unsupported(id, bytes) : "";
}

}  // namespace ipcbench
