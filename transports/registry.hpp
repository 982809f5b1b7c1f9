// The registry: every mechanism by id, in the order of transports/transports.def, with every form
// it offers (pair, fan-in, broadcast) and, for a form it lacks, the reason.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "transports/transport.hpp"

namespace ipcbench {

// The fan-in form: one server and N clients over this mechanism.
struct FanInForm {
  std::string_view design;                        // how the server is built
  Capabilities (*describe)(std::size_t clients);  // limits read now; creates nothing
  FanInPtr (*make)(const TransportOptions&, std::size_t clients);
};

// The broadcast form: one ring written once and read by every consumer (the FanOut mailbox).
// A mechanism without one fans out over one pair channel per consumer.
struct BroadcastForm {
  std::string_view design;
  // Throws std::invalid_argument for readers == 0 or > kMaxBroadcastReaders.
  ShmBroadcastPtr (*make)(const TransportOptions&, std::size_t readers);
};

// The two-host form (sockets only): an end built on each host (PeerEnd), the consumer's on the
// --serve host and the producer's on the --peer host, each bound to `local` (its port 0).
struct PeerForm {
  std::string_view design;
  PeerEndPtr (*make)(const TransportOptions&, Role role, std::uint32_t local_address_be);
};

// Why a mechanism without a PeerForm is not measured between two hosts.
inline constexpr std::string_view kOneHostOnly =
    "one host only: the mechanism lives in one kernel, and only sockets reach another host";

struct TransportInfo {
  std::string_view id;
  std::string_view family;       // "pipes", "sockets", ...: how the report groups mechanisms
  std::string_view lecture_row;  // the row of the lecture's table this mechanism belongs to, or ""
  bool lecture_means = false;    // true: the mechanism the lecture means by that row; false: a
                                 // variant or modern form shown beside it
  std::string_view description;
  Capabilities (*describe)();  // reads the mechanism's limits now; creates nothing
  TransportPtr (*make)(const TransportOptions&);
  const FanInForm* fan_in = nullptr;         // nullptr: no fan-in form, see no_fan_in
  std::string_view no_fan_in{};              // why there is no fan-in form
  const BroadcastForm* broadcast = nullptr;  // nullptr: FanOut uses one pair channel per consumer
  std::string_view no_broadcast{};           // why there is no broadcast form
  const PeerForm* peer = nullptr;            // nullptr: one host only (kOneHostOnly)
};

// What transports/<id>.cpp declares beside its pair form (make_<id>, describe_<id>): each other
// form it offers, and for each it lacks the reason. Its `TransportForms forms_<id>()` returns it;
// the registry copies it into the mechanism's TransportInfo.
struct TransportForms {
  const FanInForm* fan_in = nullptr;
  std::string_view no_fan_in{};
  const BroadcastForm* broadcast = nullptr;
  std::string_view no_broadcast{};
  const PeerForm* peer = nullptr;
};

// The `make` of a fan-in form whose class T is built from (options, clients).
template <typename T>
[[nodiscard]] FanInPtr make_fan_in_of(const TransportOptions& options, std::size_t clients) {
  return std::make_unique<T>(options, clients);
}

// Every transport, in registry order.
[[nodiscard]] std::span<const TransportInfo> all_transports() noexcept;
// The transport with `id`, or nullptr: the built-in table first, then those registered with
// register_test_transport().
[[nodiscard]] const TransportInfo* find_transport(std::string_view id) noexcept;
// Tests only: makes `info` findable by find_transport() (so run_pair() and resolve() accept it),
// never listed by all_transports() or known_transport_ids(), so the CLI, the benchmarks and the
// conformance suites do not see it. Registering an id again replaces its entry in place (pointers
// from find_transport stay valid). The string_views must outlive the process (use literals). Call
// before fork() (a forked child inherits the registration) and before other threads look ids up:
// not thread-safe. Throws std::invalid_argument for a built-in id, std::length_error beyond
// kMaxTestTransports ids.
inline constexpr std::size_t kMaxTestTransports = 8;
void register_test_transport(const TransportInfo& info);
// "pipe, fifo, ...": the known ids, for error messages.
[[nodiscard]] std::string known_transport_ids();

}  // namespace ipcbench
