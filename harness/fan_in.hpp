// run_fan_in: one server and N clients over one transport's fan-in form, a short driver over the
// launcher (harness/launch.hpp): forked, pinned, started by the barrier, watched and measured;
// each client does round trips at the same time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "harness/histogram.hpp"
#include "harness/loops.hpp"
#include "harness/resolve.hpp"

namespace ipcbench {

inline constexpr std::size_t kMaxFanInClients = kMaxPeers;

// A fault client `client` injects into itself after `fault.after_messages` timed round trips.
struct ClientFault {
  std::size_t client = SIZE_MAX;  // none
  Fault fault;
};

struct FanInConfig {
  std::string transport_id;
  std::size_t message_bytes = 64;
  std::size_t clients = 1;          // 1 .. kMaxFanInClients
  std::uint64_t iterations = 1000;  // timed round trips per client
  std::uint64_t warmup = 0;         // untimed round trips per client; 0: default_warmup(size)
  std::vector<int> cpus;            // empty: allowed_cpus(); server on cpus[0], client i on
                                    // cpus[(i + 1) % cpus.size()] (pattern_placement)
  std::chrono::milliseconds watchdog{10'000};  // a process without progress this long is killed
  std::filesystem::path tmp_root;              // empty: $TMPDIR or /tmp
  ClientFault fault;
};

struct FanInClientResult {
  int cpu = -1;
  bool failed = false;
  std::string failure;            // why, when failed ("client 2 [pid 123] killed by signal 9 ...")
  std::uint64_t round_trips = 0;  // timed round trips whose reply came back (finished clients)
  std::uint64_t lost = 0;         // timed out (may_lose), or a request gap the server saw
  std::uint64_t corrupt = 0;      // wrong sequence number or payload in the echoed reply
  std::uint64_t reordered = 0;    // an older sequence number after a newer one
  double seconds = 0;             // barrier release to this client's last reply
  Histogram rtt;                  // round trip, ns (finished clients)
};

struct FanInResult {
  std::string placement;  // "server=cpu0 client0=cpu1 client1=cpu0 ..."
  CpuSharing sharing;     // whether two of the processes are pinned to one CPU
  std::vector<FanInClientResult> per_client;
  Histogram rtt;                  // round trip, ns, merged over the clients that finished
  std::uint64_t round_trips = 0;  // timed round trips of the clients that finished
  std::uint64_t lost = 0, corrupt = 0, reordered = 0;  // sums over every client
  double wall_seconds = 0;            // barrier release to the end of the last client that finished
  double round_trips_per_second = 0;  // round_trips / wall_seconds
  std::uint64_t worst_client_p99_ns = 0;
  std::size_t worst_client = 0;
  std::vector<std::size_t> failed_clients;  // indices, ascending
  std::string failures;                     // every failed client's reason, "; "-joined
  std::uint64_t disconnects = 0;  // failed clients the server saw close their end (stream/pipe)
  std::string checks;
  // User + system CPU time and context switches of each process's working thread over its own
  // timed part: each finished client over its timed round trips, the server from its first timed
  // request to its reply to the last client's last one (to its stop when a last request never
  // came: a lost or failed client). They move 2 * round_trips messages.
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
};

// Forks the server and `clients` clients from the calling process (which only watches), pins
// each, attaches, handshakes and warms up every client, releases them together from a barrier,
// then waits for all. A client that dies or hangs (no progress for `watchdog`) after the release
// is killed, reaped and reported in the result; the others finish. Throws Unsupported for a case
// resolve() refuses (no fan-in form, or a size it cannot carry), std::invalid_argument for bad
// input, and std::runtime_error
// "<transport>: <what>" when the server fails or any process fails before the release; every
// child is always reaped.
[[nodiscard]] FanInResult run_fan_in(const FanInConfig& config);

// Where run_fan_in puts each process for `cpus` (empty: allowed_cpus()), pattern_placement in
// words: "server=cpu0 client0=cpu1 client1=cpu0 ...".
[[nodiscard]] std::string fan_in_placement(const std::vector<int>& cpus, std::size_t clients);

}  // namespace ipcbench
