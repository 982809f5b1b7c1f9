// shm_futex: the shared memory SPSC ring (transports/shm_ring.hpp), waiting with FutexWait.
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"

namespace ipcbench {

TransportPtr make_shm_futex(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<FutexWait>>(options, "shm_futex");
}

Capabilities describe_shm_futex() {
  return {.limit_source = "none: any size, streamed through the ring in pieces when larger",
          .busy_polls = false,
          .waits_by =
              "spins up to 10 us, then futex(FUTEX_WAIT) on the ring index; the writer calls "
              "FUTEX_WAKE only when the reader sleeps (no spin when both ends share one CPU)"};
}

}  // namespace ipcbench
