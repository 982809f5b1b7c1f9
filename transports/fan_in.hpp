// TRANSITIONAL: the old fan-in registry, answered from the one registry (transports/registry.hpp)
// until harness/ and bench/ use TransportInfo::fan_in. The interface is in transport.hpp.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "transports/transport.hpp"

namespace ipcbench {

struct FanInInfo {
  std::string_view id;           // the same id as the pair transport of the mechanism
  std::string_view description;  // how the server is built
  Capabilities (*describe)(std::size_t clients);  // limits read now; creates nothing
  FanInPtr (*make)(const TransportOptions&, std::size_t clients);
};

// Every fan-in transport, in registry order.
[[nodiscard]] std::span<const FanInInfo> all_fan_in() noexcept;
// The fan-in transport with `id`, or nullptr when the mechanism has none.
[[nodiscard]] const FanInInfo* find_fan_in(std::string_view id) noexcept;
// "pipe, fifo, ...": the ids, for error messages.
[[nodiscard]] std::string known_fan_in_ids();

}  // namespace ipcbench
