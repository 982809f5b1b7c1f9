#include "transports/os/shm_broadcast.hpp"

#include <bit>
#include <stdexcept>

namespace ipcbench {

RingGeometry broadcast_geometry_for(const char* id, std::size_t message_bytes,
                                    std::size_t readers) {
  if (readers == 0 || readers > kMaxBroadcastReaders) {
    throw std::invalid_argument(std::string(id) + " broadcast: readers must be 1.." +
                                std::to_string(kMaxBroadcastReaders) + ", not " +
                                std::to_string(readers));
  }
  RingGeometry g = ring_geometry_for(message_bytes);
  const std::size_t need = g.pieces_for(message_bytes);
  if (need > g.pieces) {
    const std::size_t pieces = std::bit_ceil(need);
    if (pieces * g.piece_bytes > kMaxRingCapacity) {
      throw std::invalid_argument(std::string(id) + " broadcast: messages of " +
                                  std::to_string(message_bytes) +
                                  " bytes need a ring over the 1 GiB limit");
    }
    g.pieces = static_cast<std::uint32_t>(pieces);
  }
  return g;
}

}  // namespace ipcbench
