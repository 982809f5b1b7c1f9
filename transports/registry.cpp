#include "transports/registry.hpp"

#include <array>

// TRANSITIONAL adapter: builds the one registry from transports.def, fan_in.def and the broadcast
// table in os/shm_broadcast.cpp, until each mechanism file declares all of its forms itself.
namespace ipcbench {

#define IPCBENCH_TRANSPORT(id, family, row, means, description) \
  TransportPtr make_##id(const TransportOptions&);              \
  Capabilities describe_##id();
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT

namespace {


ShmBroadcastPtr broadcast_spin(const TransportOptions& o, std::size_t r) {
  return make_shm_broadcast("shm_spin", o, r);
}
ShmBroadcastPtr broadcast_futex(const TransportOptions& o, std::size_t r) {
  return make_shm_broadcast("shm_futex", o, r);
}
ShmBroadcastPtr broadcast_sem(const TransportOptions& o, std::size_t r) {
  return make_shm_broadcast("shm_sem", o, r);
}
ShmBroadcastPtr broadcast_condvar(const TransportOptions& o, std::size_t r) {
  return make_shm_broadcast("shm_condvar", o, r);
}
constexpr std::string_view kRingDesign = "one broadcast ring, written once";
const BroadcastForm kBroadcast[] = {{kRingDesign, &broadcast_spin},
                                    {kRingDesign, &broadcast_futex},
                                    {kRingDesign, &broadcast_sem},
                                    {kRingDesign, &broadcast_condvar}};

std::array<TransportInfo, 18> build() {
  std::array<TransportInfo, 18> rows{{
#define IPCBENCH_TRANSPORT(id, family, row, means, description) \
  TransportInfo{#id, family, row, means, description, &describe_##id, &make_##id, nullptr, "", nullptr},
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT
  }};
  static std::array<FanInForm, 8> fan_in_forms{};
  std::size_t k = 0;
  for (TransportInfo& row : rows) {
    if (const FanInInfo* f = find_fan_in(row.id)) {
      fan_in_forms[k] = FanInForm{f->description, f->describe, f->make};
      row.fan_in = &fan_in_forms[k++];
    } else {
      row.no_fan_in = "no fan-in form yet";
    }
    if (row.id == "shm_spin") row.broadcast = &kBroadcast[0];
    if (row.id == "shm_futex") row.broadcast = &kBroadcast[1];
    if (row.id == "shm_sem") row.broadcast = &kBroadcast[2];
    if (row.id == "shm_condvar") row.broadcast = &kBroadcast[3];
  }
  return rows;
}

const std::array<TransportInfo, 18>& table() {
  static const std::array<TransportInfo, 18> rows = build();
  return rows;
}

}  // namespace

std::span<const TransportInfo> all_transports() noexcept { return table(); }

const TransportInfo* find_transport(std::string_view id) noexcept {
  for (const TransportInfo& info : table()) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

std::string known_transport_ids() {
  std::string out;
  for (const TransportInfo& info : table()) {
    if (!out.empty()) out += ", ";
    out += info.id;
  }
  return out;
}

}  // namespace ipcbench
