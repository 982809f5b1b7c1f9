// shm_sem: the shared memory rings (transports/os/shm_ring.hpp), waiting with SemWait.
// Pair: one SPSC ring per direction. Broadcast: one ring written once and read by every reader
// (transports/os/shm_broadcast.hpp). Fan-in: none (see forms_shm_sem).
#include "transports/os/shm_broadcast.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

ShmBroadcastPtr make_broadcast(const TransportOptions& options, std::size_t readers) {
  return make_broadcast_ring<SemWait>(options, "shm_sem", readers);
}

constexpr BroadcastForm kBroadcast{kShmBroadcastDesign, &make_broadcast};

}  // namespace

TransportPtr make_shm_sem(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<SemWait>>(options, "shm_sem");
}

Capabilities describe_shm_sem() {
  return {.limit_source = "none: any size, streamed through the ring piece by piece when larger",
          .busy_polls = false,
          .waits_by =
              "boost::interprocess::interprocess_semaphore (process-shared sem_t) in the segment, "
              "posted only when the reader sleeps"};
}

TransportForms forms_shm_sem() { return {.no_fan_in = kShmRingNoFanIn, .broadcast = &kBroadcast}; }

}  // namespace ipcbench
