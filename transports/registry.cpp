#include "transports/registry.hpp"

#include <array>

namespace ipcbench {

#define IPCBENCH_TRANSPORT(id, description)          \
  TransportPtr make_##id(const TransportOptions&); \
  Capabilities describe_##id();
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT

namespace {
constexpr std::array kTransports = {
#define IPCBENCH_TRANSPORT(id, description) TransportInfo{#id, description, &describe_##id, &make_##id},
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT
};
}  // namespace

std::span<const TransportInfo> all_transports() noexcept { return kTransports; }

const TransportInfo* find_transport(std::string_view id) noexcept {
  for (const TransportInfo& info : kTransports) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

std::string known_transport_ids() {
  std::string out;
  for (const TransportInfo& info : kTransports) {
    if (!out.empty()) out += ", ";
    out += info.id;
  }
  return out;
}

}  // namespace ipcbench
