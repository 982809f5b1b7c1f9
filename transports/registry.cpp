#include "transports/registry.hpp"

#include <array>
#include <vector>

#include "transports/fan_in.hpp"
#include "transports/os/shm_broadcast.hpp"

namespace ipcbench {

// Each line of transports.def is a transports/<id>.cpp defining these three.
#define IPCBENCH_TRANSPORT(ID, FAMILY, ROW, MEANS, DESCRIPTION) \
  TransportPtr make_##ID(const TransportOptions&);              \
  Capabilities describe_##ID();                                 \
  TransportForms forms_##ID();
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT

namespace {

constexpr std::size_t kCount = 0
#define IPCBENCH_TRANSPORT(ID, FAMILY, ROW, MEANS, DESCRIPTION) +1
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT
    ;

TransportInfo with_forms(TransportInfo info, const TransportForms& forms) {
  info.fan_in = forms.fan_in;
  info.no_fan_in = forms.no_fan_in;
  info.broadcast = forms.broadcast;
  info.no_broadcast = forms.no_broadcast;
  return info;
}

// Built on first use (forms_<id>() live in other files), in the order of transports.def.
const std::array<TransportInfo, kCount>& table() noexcept {
  static const std::array<TransportInfo, kCount> rows{{
#define IPCBENCH_TRANSPORT(ID, FAMILY, ROW, MEANS, DESCRIPTION) \
  with_forms(TransportInfo{.id = #ID,                           \
                           .family = FAMILY,                    \
                           .lecture_row = ROW,                  \
                           .lecture_means = MEANS,              \
                           .description = DESCRIPTION,          \
                           .describe = &describe_##ID,          \
                           .make = &make_##ID},                 \
             forms_##ID()),
#include "transports/transports.def"
#undef IPCBENCH_TRANSPORT
  }};
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

// TRANSITIONAL: the old names, until harness/ and bench/ use the forms in TransportInfo.
std::span<const FanInInfo> all_fan_in() noexcept {
  static const std::vector<FanInInfo> rows = [] {
    std::vector<FanInInfo> out;
    for (const TransportInfo& info : table()) {
      if (info.fan_in != nullptr) {
        out.push_back({info.id, info.fan_in->design, info.fan_in->describe, info.fan_in->make});
      }
    }
    return out;
  }();
  return rows;
}

const FanInInfo* find_fan_in(std::string_view id) noexcept {
  for (const FanInInfo& info : all_fan_in()) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

std::string known_fan_in_ids() {
  std::string out;
  for (const FanInInfo& info : all_fan_in()) {
    if (!out.empty()) out += ", ";
    out += info.id;
  }
  return out;
}

ShmBroadcastPtr make_shm_broadcast(std::string_view id, const TransportOptions& options,
                                   std::size_t readers) {
  const TransportInfo* info = find_transport(id);
  if (info == nullptr || info->broadcast == nullptr) return nullptr;
  return info->broadcast->make(options, readers);
}

}  // namespace ipcbench
