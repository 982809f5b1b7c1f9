// shm_spin: the shared memory rings (transports/os/shm_ring.hpp), waiting with SpinWait.
// Pair: one SPSC ring per direction. Broadcast: one ring written once and read by every reader
// (transports/os/shm_broadcast.hpp). Fan-in: none (see forms_shm_spin).
#include "transports/os/shm_broadcast.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

ShmBroadcastPtr make_broadcast(const TransportOptions& options, std::size_t readers) {
  return make_broadcast_ring<SpinWait>(options, "shm_spin", readers);
}

constexpr BroadcastForm kBroadcast{kShmBroadcastDesign, &make_broadcast};

}  // namespace

TransportPtr make_shm_spin(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<SpinWait>>(options, "shm_spin");
}

Capabilities describe_shm_spin() {
  return {.limit_source = "none: any size, streamed through the ring piece by piece when larger",
          .busy_polls = true,
          .waits_by =
              "busy-polls the next piece's own sequence word with a pause instruction "
              "(sched_yield() instead when both ends share one CPU)"};
}

TransportForms forms_shm_spin() { return {.no_fan_in = kShmRingNoFanIn, .broadcast = &kBroadcast}; }

}  // namespace ipcbench
