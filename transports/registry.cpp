#include "transports/registry.hpp"

#include <array>
#include <stdexcept>
#include <string>

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
  info.peer = forms.peer;
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

// Transports the tests register (register_test_transport); a fixed array, so an entry never moves.
struct TestTransports {
  std::array<TransportInfo, kMaxTestTransports> rows{};
  std::size_t count = 0;
};

TestTransports& test_transports() noexcept {
  static TestTransports registered;
  return registered;
}

const TransportInfo* find_built_in(std::string_view id) noexcept {
  for (const TransportInfo& info : table()) {
    if (info.id == id) return &info;
  }
  return nullptr;
}

}  // namespace

std::span<const TransportInfo> all_transports() noexcept { return table(); }

const TransportInfo* find_transport(std::string_view id) noexcept {
  if (const TransportInfo* info = find_built_in(id)) return info;
  const TestTransports& tests = test_transports();
  for (std::size_t i = 0; i < tests.count; ++i) {
    if (tests.rows[i].id == id) return &tests.rows[i];
  }
  return nullptr;
}

void register_test_transport(const TransportInfo& info) {
  if (find_built_in(info.id) != nullptr) {
    throw std::invalid_argument("register_test_transport: '" + std::string(info.id) +
                                "' is a built-in transport");
  }
  TestTransports& tests = test_transports();
  for (std::size_t i = 0; i < tests.count; ++i) {
    if (tests.rows[i].id == info.id) {
      tests.rows[i] = info;
      return;
    }
  }
  if (tests.count == tests.rows.size()) {
    throw std::length_error("register_test_transport: more than " +
                            std::to_string(kMaxTestTransports) + " test transports");
  }
  tests.rows[tests.count++] = info;
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
