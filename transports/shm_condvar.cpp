// shm_condvar: the shared memory SPSC ring (transports/shm_ring.hpp), waiting with CondvarWait.
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"

namespace ipcbench {

TransportPtr make_shm_condvar(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<CondvarWait>>(options, "shm_condvar");
}

Capabilities describe_shm_condvar() {
  return {.limit_source = "none: any size, streamed through the ring in pieces when larger",
          .busy_polls = false,
          .waits_by =
              "boost::interprocess::interprocess_mutex + interprocess_condition in the segment; "
              "the writer locks and signals after every store"};
}

}  // namespace ipcbench
