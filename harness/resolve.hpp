// Resolution: a transport id + a form (pair, fan-in, fan-out, pairs) + a size (+ how many peers)
// into "run" or "unsupported because ...". The only supported-size and eligibility check of the
// code base: bench/ names its cases from it and harness/ drivers refuse what it refuses.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "harness/cpus.hpp"
#include "transports/registry.hpp"

namespace ipcbench {

// The shapes a transport can be measured in. kPair covers RoundTrip and Stream.
enum class Form { kPair, kFanIn, kFanOut, kPairs };
inline constexpr Form kAllForms[] = {Form::kPair, Form::kFanIn, Form::kFanOut, Form::kPairs};
[[nodiscard]] std::string_view form_name(Form form) noexcept;  // "pair", "fan_in", ...

// The most clients (FanIn), consumers (FanOut) or pairs (Pairs) one case may have.
inline constexpr std::size_t kMaxPeers = 64;

// Thrown by a driver for a case resolve() calls unsupported; what() is "<id>: <reason>".
class Unsupported : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Whether a transport offers a form at all, whatever the size: the design (how the form is
// built) when it does, the reason when it does not. Reads limits; creates nothing.
struct FormSupport {
  bool supported = false;
  std::string text;  // the design, or the reason
};
[[nodiscard]] FormSupport form_support(const TransportInfo& info, Form form);

// Why a transport with `caps` cannot carry a message of `bytes`, or nullopt when it can.
[[nodiscard]] std::optional<std::string> unsupported_reason(const Capabilities& caps,
                                                            std::size_t message_bytes);

// How many processes a many-process form runs: 1 + peers (FanIn, FanOut), 2 * peers (Pairs),
// 2 (kPair).
[[nodiscard]] std::size_t form_processes(Form form, std::size_t peers) noexcept;

// The CPU of each process of a many-process form, in the form's order (FanIn: the server, then
// client i; FanOut: the producer, then consumer i; Pairs: pair i's producer, then its consumer),
// spread round-robin over `cpus` (empty: allowed_cpus()): process i on cpus[i % cpus.size()]. So
// no two processes share a CPU while there are CPUs enough. Empty when peers is outside
// 1..kMaxPeers (resolve() says why). Throws std::invalid_argument when there is no CPU.
[[nodiscard]] std::vector<int> pattern_placement(Form form, std::size_t peers,
                                                 std::span<const int> cpus = {});

// Whether a placement (the CPU of each process) puts two or more processes on one CPU.
struct CpuSharing {
  std::size_t processes = 0;
  std::size_t cpus = 0;  // distinct CPUs
  [[nodiscard]] bool shared() const noexcept { return cpus < processes; }
  // "shares CPUs: 3 processes on 2 CPUs", or "" when no two processes share one.
  [[nodiscard]] std::string text() const;
};
[[nodiscard]] CpuSharing cpu_sharing(std::span<const int> placement);

struct Resolved {
  const TransportInfo* info = nullptr;
  Form form = Form::kPair;
  std::vector<int> placement;  // many-process forms: the CPU of each process (pattern_placement)
  CpuSharing sharing;          // of `placement`
  Capabilities caps;           // the form's (fan-in: describe(peers)); the pair's otherwise
  std::string design;          // how the form is built (empty when unsupported)
  std::string unsupported;     // empty: the case runs; else why not (without the id)
  [[nodiscard]] bool runs() const noexcept { return unsupported.empty(); }
  [[nodiscard]] std::string id() const { return std::string(info->id); }
  // Throws Unsupported("<id>: <reason>") when the case does not run.
  void require() const;
};

// Resolves one case. `peers` is the clients, consumers or pairs, and `placement` the CPU of each
// of the form's processes (empty: pattern_placement(form, peers), over every allowed CPU); both
// are ignored for kPair. A transport that busy-polls (Capabilities::busy_polls) is unsupported in
// a placement that puts two of its processes on one CPU: a spinner would burn the CPU its peer
// needs ("spins while it waits: needs 3 CPUs (one per process: server + 2 clients), has 2
// (cpu0,cpu1)"). Throws std::invalid_argument for an unknown id (naming the known ids), peers
// outside 1..kMaxPeers, or a placement whose size is not form_processes(form, peers).
[[nodiscard]] Resolved resolve(std::string_view id, Form form, std::size_t message_bytes,
                               std::size_t peers = 1, std::span<const int> placement = {});

// The Load pattern (harness/load.hpp) runs three threads: the sender and the receiver, two threads
// of the producer process, and the consumer. Their CPUs, in that order: the sender on the pair's
// producer CPU, the consumer on its consumer CPU, and the receiver on an allowed CPU that neither
// uses when there is one (and the pair is not one CPU), else beside the sender.
[[nodiscard]] std::vector<int> load_placement(const CpuPair& cpus);
// "sender cpu0, receiver cpu0, consumer cpu1": a Load placement in words.
[[nodiscard]] std::string load_placement_text(std::span<const int> placement);

// Resolves one Load case: the pair's resolution at `message_bytes`, then Load's own checks. The
// message carries its intended send time, so the transport must carry bytes (a kWord or kNothing
// transport is unsupported, saying so); a transport that busy-polls is unsupported when two of
// the three threads of `placement` (load_placement) share a CPU ("spins while it waits: Load
// needs 3 CPUs (sender, receiver, consumer), has 2 (cpu0,cpu1)"). Throws std::invalid_argument
// for an unknown id or a placement that is not three CPUs.
[[nodiscard]] Resolved resolve_load(std::string_view id, std::size_t message_bytes,
                                    std::span<const int> placement);

// The size a many-process pattern runs a transport at: its one fixed size, else `preferred`.
[[nodiscard]] std::size_t pattern_bytes(const TransportInfo& info, std::size_t preferred);

}  // namespace ipcbench
