// shm_futex: the shared memory rings (transports/os/shm_ring.hpp), waiting with FutexWait.
// Pair: one SPSC ring per direction. Broadcast: one ring written once and read by every reader
// (transports/os/shm_broadcast.hpp). Fan-in: none (see forms_shm_futex).
#include "transports/os/shm_broadcast.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/shm_wait.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

ShmBroadcastPtr make_broadcast(const TransportOptions& options, std::size_t readers) {
  return make_broadcast_ring<FutexWait>(options, "shm_futex", readers);
}

constexpr BroadcastForm kBroadcast{kShmBroadcastDesign, &make_broadcast};

}  // namespace

TransportPtr make_shm_futex(const TransportOptions& options) {
  return std::make_unique<ShmRingTransport<FutexWait>>(options, "shm_futex");
}

Capabilities describe_shm_futex() {
  return {.limit_source = "none: any size, streamed through the ring piece by piece when larger",
          .busy_polls = false,
          .waits_by =
              "spins while the peer moves its words, at least 10 us plus the time a message of "
              "the size in flight takes at 4 B/ns, then futex(FUTEX_WAIT) on the piece's "
              "sequence word; the writer calls FUTEX_WAKE only when the reader sleeps (no spin "
              "when both ends share one CPU)"};
}

TransportForms forms_shm_futex() {
  return {.no_fan_in = kShmRingNoFanIn, .broadcast = &kBroadcast};
}

}  // namespace ipcbench
