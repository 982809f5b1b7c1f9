// shm_condvar: the shared memory rings (transports/os/shm_ring.hpp), waiting with CondvarWait.
// Pair: one SPSC ring per direction. Broadcast: one ring written once and read by every reader
// (transports/os/shm_broadcast.hpp). Fan-in: none (see forms_shm_condvar).
#include "transports/os/shm_broadcast.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

ShmBroadcastPtr make_broadcast(const TransportOptions& options, std::size_t readers) {
  return make_broadcast_ring<CondvarWait>(options, "shm_condvar", readers);
}

constexpr BroadcastForm kBroadcast{kShmBroadcastDesign, &make_broadcast};

}  // namespace

TransportPtr make_shm_condvar(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<CondvarWait>>(options, "shm_condvar");
}

Capabilities describe_shm_condvar() {
  return {.limit_source = "none: any size, streamed through the ring piece by piece when larger",
          .busy_polls = false,
          .waits_by =
              "a robust process-shared pthread mutex + pthread conditions in the segment; "
              "the writer locks and signals after every store"};
}

TransportForms forms_shm_condvar() {
  return {.no_fan_in = kShmRingNoFanIn, .broadcast = &kBroadcast};
}

}  // namespace ipcbench
