// Two hosts. `ipcbench --serve=ADDR:PORT` runs the consumer side of every case a client asks for;
// `ipcbench --peer=ADDR:PORT` runs the producer side against it, with the same loops, checks and
// counters as on one host. Only mechanisms with a PeerForm (the IP sockets) cross hosts; RoundTrip,
// Stream and Load are the patterns that do.
//
// The control connection (TCP, to the server's address) carries lines of text, each a word and
// key=value fields with %-escaped values:
//   client: HELLO version=1          server: WELCOME version=1 kernel=... cpu_model=... cpus=...
//                                    (or REFUSE reason=..., naming both versions, and closes)
//   client: CASE transport=tcp pattern=RoundTrip bytes=64 ... port=P [up_port=Q]
//   server: READY port=P' [up_port=Q']  (or REFUSE reason=...)
//   ... the case's data on the data ports; a lossy pair's start, batch ends, acks and stop as
//   ControlChannel messages on this connection; a lossy Load's end as a STOP line ...
//   server: TALLY received=... (what its consumer counted)   or   FAILED reason=...
// A failed case ends its session; the client opens a new one for its next case.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "harness/load.hpp"
#include "harness/pair.hpp"

namespace ipcbench {

// The control protocol's version: a server and a client of different versions refuse each other.
inline constexpr int kPeerProtocolVersion = 1;

// An IPv4 address and port, "A.B.C.D:PORT" (no host names: nothing is looked up).
struct HostPort {
  std::uint32_t address_be = 0;  // network byte order
  std::uint16_t port = 0;
  [[nodiscard]] std::string text() const;  // "A.B.C.D:PORT"
};
// Parses "A.B.C.D:PORT". `flag` names the option in errors ("--peer"); ports are 1..65535, and 0
// too when `any_port` (the server: the kernel picks one, and serve() prints it). Throws
// std::invalid_argument naming the flag and the value.
[[nodiscard]] HostPort parse_host_port(std::string_view text, std::string_view flag, bool any_port);

struct ServeConfig {
  HostPort address;                            // bound, and nothing else
  std::chrono::milliseconds watchdog{10'000};  // the longest any wait of a session lasts
  int cpu = -1;  // where each case's consumer runs (-1: the second allowed CPU, or the only one)
  // Called once the server listens, with its port (the console line, tests).
  std::function<void(std::uint16_t port)> on_listening;
  // Tests: return after this many clients were served (0: until SIGINT or SIGTERM).
  std::uint64_t max_clients = 0;
};

// Listens on config.address and serves one client at a time, each in a forked session that ends
// with its client, its first failure or watchdog time without a request; a client killed mid-case
// ends its session only, and the next client is served. Returns 0 when SIGINT or SIGTERM (or
// max_clients) ends it. Throws std::system_error when it cannot listen.
int serve(const ServeConfig& config);

// What a server says about itself.
struct PeerInfo {
  std::string address;  // as the client reached it, "A.B.C.D:PORT"
  std::string kernel, cpu_model, cpus;
};

// The client's side of the control connection. Opens it, greets the server and reads its
// PeerInfo at construction (throws std::runtime_error naming the address when the server cannot be
// reached within `timeout`, refuses, or speaks another version). A session the server ended is
// opened again before the next case.
class PeerClient {
 public:
  PeerClient(const HostPort& server, std::chrono::milliseconds timeout);
  ~PeerClient();
  PeerClient(const PeerClient&) = delete;
  PeerClient& operator=(const PeerClient&) = delete;
  [[nodiscard]] const PeerInfo& info() const noexcept { return info_; }

  // One case against the server: the producer here, the consumer there. config.tmp_root,
  // before_timing, fault and recv_buffer_bytes are not used; a reliable transport is never cut by
  // config.deadline_ns (the consumer, on the other host, cannot learn of the cut before the
  // message it applies to), a lossy one is. Throws Unsupported for a case that cannot cross hosts,
  // std::runtime_error "<transport>: <what>" when anything fails.
  [[nodiscard]] PairResult run_pair(const PairConfig& config);
  [[nodiscard]] LoadResult run_load(const LoadConfig& config);

 private:
  // Opens the control connection and greets the server (the session's first step, and again
  // after the server ended one).
  void open();

  struct Impl;
  HostPort server_;
  std::chrono::milliseconds timeout_;
  PeerInfo info_;
  std::unique_ptr<Impl> impl_;
};

// Why `id` cannot be measured between two hosts at `bytes` ("" when it can): an unknown id, a
// mechanism without a PeerForm (kOneHostOnly), or a size it refuses.
[[nodiscard]] std::string peer_unsupported(std::string_view id, std::size_t bytes);

}  // namespace ipcbench
