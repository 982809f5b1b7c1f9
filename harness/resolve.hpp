// Resolution: a transport id + a form (pair, fan-in, fan-out, pairs) + a size (+ how many peers)
// into "run" or "unsupported because ...". The only supported-size and eligibility check of the
// code base: bench/ names its cases from it and harness/ drivers refuse what it refuses.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

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

struct Resolved {
  const TransportInfo* info = nullptr;
  Form form = Form::kPair;
  Capabilities caps;        // the form's (fan-in: describe(peers)); the pair's otherwise
  std::string design;       // how the form is built (empty when unsupported)
  std::string unsupported;  // empty: the case runs; else why not (without the id)
  [[nodiscard]] bool runs() const noexcept { return unsupported.empty(); }
  [[nodiscard]] std::string id() const { return std::string(info->id); }
  // Throws Unsupported("<id>: <reason>") when the case does not run.
  void require() const;
};

// Resolves one case. `peers` is the clients, consumers or pairs (ignored for kPair). Throws
// std::invalid_argument for an unknown id (naming the known ids) or peers outside 1..kMaxPeers.
[[nodiscard]] Resolved resolve(std::string_view id, Form form, std::size_t message_bytes,
                               std::size_t peers = 1);

// The size a many-process pattern runs a transport at: its one fixed size, else `preferred`.
[[nodiscard]] std::size_t pattern_bytes(const TransportInfo& info, std::size_t preferred);

}  // namespace ipcbench
