#include "transports/os/shm_broadcast.hpp"

#include <bit>
#include <stdexcept>

namespace ipcbench {

std::size_t broadcast_capacity_for(const char* id, std::size_t message_bytes, std::size_t readers) {
  if (readers == 0 || readers > kMaxBroadcastReaders) {
    throw std::invalid_argument(std::string(id) + " broadcast: readers must be 1.." +
                                std::to_string(kMaxBroadcastReaders) + ", not " +
                                std::to_string(readers));
  }
  const std::size_t capacity =
      std::max(ring_capacity_for(message_bytes), std::bit_ceil(ring_frame_bytes(message_bytes)));
  if (capacity > kMaxRingCapacity) {
    throw std::invalid_argument(std::string(id) + " broadcast: messages of " +
                                std::to_string(message_bytes) +
                                " bytes need a ring over the 1 GiB limit");
  }
  return capacity;
}

}  // namespace ipcbench
