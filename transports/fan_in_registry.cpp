#include <array>

#include "transports/fan_in.hpp"

namespace ipcbench {

#define IPCBENCH_FAN_IN(id, description)                                   \
  FanInPtr make_fan_in_##id(const TransportOptions&, std::size_t clients); \
  Capabilities describe_fan_in_##id(std::size_t clients);
#include "transports/fan_in.def"
#undef IPCBENCH_FAN_IN

namespace {
constexpr std::array kFanIn = {
#define IPCBENCH_FAN_IN(id, description) \
  FanInInfo{#id, description, &describe_fan_in_##id, &make_fan_in_##id},
#include "transports/fan_in.def"
#undef IPCBENCH_FAN_IN
};
}  // namespace

std::span<const FanInInfo> all_fan_in() noexcept { return kFanIn; }

const FanInInfo* find_fan_in(std::string_view id) noexcept {
  for (const FanInInfo& info : kFanIn) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

std::string known_fan_in_ids() {
  std::string out;
  for (const FanInInfo& info : kFanIn) {
    if (!out.empty()) out += ", ";
    out += info.id;
  }
  return out;
}

}  // namespace ipcbench
