// The registry of transports by id, in the order of transports/transports.def.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "transports/transport.hpp"

namespace ipcbench {

struct TransportInfo {
  std::string_view id;
  std::string_view description;
  Capabilities (*describe)();  // reads the mechanism's limits now; creates nothing
  TransportPtr (*make)(const TransportOptions&);
};

// Every transport, in registry order.
[[nodiscard]] std::span<const TransportInfo> all_transports() noexcept;
// The transport with `id`, or nullptr.
[[nodiscard]] const TransportInfo* find_transport(std::string_view id) noexcept;
// "pipe, fifo, ...": the known ids, for error messages.
[[nodiscard]] std::string known_transport_ids();

}  // namespace ipcbench
