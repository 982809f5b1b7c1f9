// shm_sem: the shared memory SPSC ring (transports/shm_ring.hpp), waiting with SemWait.
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"

namespace ipcbench {

TransportPtr make_shm_sem(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<SemWait>>(options, "shm_sem");
}

Capabilities describe_shm_sem() {
  return {.limit_source = "none: any size, streamed through the ring in pieces when larger",
          .busy_polls = false,
          .waits_by =
              "boost::interprocess::interprocess_semaphore (process-shared sem_t) in the segment, "
              "posted only when the reader sleeps"};
}

}  // namespace ipcbench
