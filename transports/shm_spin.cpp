// shm_spin: the shared memory SPSC ring (transports/shm_ring.hpp), waiting with SpinWait.
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"

namespace ipcbench {

TransportPtr make_shm_spin(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<SpinWait>>(options, "shm_spin");
}

Capabilities describe_shm_spin() {
  return {.limit_source = "none: any size, streamed through the ring in pieces when larger",
          .busy_polls = true,
          .waits_by =
              "busy-polls the ring index with a pause instruction (sched_yield() instead when both "
              "ends share one CPU)"};
}

}  // namespace ipcbench
