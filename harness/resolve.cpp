#include "harness/resolve.hpp"

#include "harness/frame.hpp"

namespace ipcbench {
namespace {

constexpr std::string_view kMailboxNeedsBytes =
    "the mailbox pattern needs a reliable transport that carries bytes (every copy is checked "
    "and time-stamped)";
constexpr std::string_view kMailboxForks =
    "the mailbox pattern forks one consumer process per reader; this transport's peer is a "
    "thread of the same process";
constexpr std::string_view kFanInNeedsBytes =
    "fan-in needs a byte payload (the server routes each reply by the request it answers)";

const TransportInfo& lookup(std::string_view id) {
  const TransportInfo* info = find_transport(id);
  if (info == nullptr) {
    throw std::invalid_argument("unknown transport '" + std::string(id) +
                                "' (known: " + known_transport_ids() + ")");
  }
  return *info;
}

}  // namespace

std::string_view form_name(Form form) noexcept {
  switch (form) {
    case Form::kPair:
      return "pair";
    case Form::kFanIn:
      return "fan_in";
    case Form::kFanOut:
      return "fan_out";
    case Form::kPairs:
      return "pairs";
  }
  return "?";
}

std::optional<std::string> unsupported_reason(const Capabilities& caps, std::size_t bytes) {
  switch (caps.payload) {
    case Payload::kWord:
      if (bytes == kWordBytes) return std::nullopt;
      return "carries exactly " + std::to_string(kWordBytes) + " bytes (" + caps.limit_source + ")";
    case Payload::kNothing:
      if (bytes == 0) return std::nullopt;
      return "carries no data, only a notification (" + caps.limit_source + ")";
    case Payload::kBytes:
      break;
  }
  if (bytes < kHeaderBytes) {
    return "smaller than the " + std::to_string(kHeaderBytes) +
           "-byte header (sequence number + time stamp) every checked message carries";
  }
  if (bytes > caps.max_message_bytes) {
    return "larger than its largest message, " + std::to_string(caps.max_message_bytes) +
           " bytes (" + caps.limit_source + ")";
  }
  return std::nullopt;
}

FormSupport form_support(const TransportInfo& info, Form form) {
  switch (form) {
    case Form::kPair:
      return {true, std::string(info.description)};
    case Form::kPairs:
      return {true, "independent pairs at once, each built like the pair form, started together"};
    case Form::kFanIn:
      if (info.fan_in == nullptr) return {false, std::string(info.no_fan_in)};
      return {true, std::string(info.fan_in->design)};
    case Form::kFanOut: {
      const Capabilities caps = info.describe();
      if (caps.may_lose || caps.may_coalesce || caps.payload != Payload::kBytes) {
        return {false, std::string(kMailboxNeedsBytes)};
      }
      if (caps.in_process) return {false, std::string(kMailboxForks)};
      if (info.broadcast != nullptr) return {true, std::string(info.broadcast->design)};
      return {true, "one channel per consumer"};
    }
  }
  return {false, "unknown form"};
}

void Resolved::require() const {
  if (!runs()) throw Unsupported(id() + ": " + unsupported);
}

Resolved resolve(std::string_view id, Form form, std::size_t bytes, std::size_t peers) {
  Resolved r;
  r.info = &lookup(id);
  r.form = form;
  if (form != Form::kPair && (peers == 0 || peers > kMaxPeers)) {
    const char* what = form == Form::kFanIn    ? "clients"
                       : form == Form::kFanOut ? "consumers"
                                               : "pairs";
    throw std::invalid_argument(r.id() + ": " + what + " must be 1.." + std::to_string(kMaxPeers) +
                                ", not " + std::to_string(peers));
  }
  const FormSupport support = form_support(*r.info, form);
  if (!support.supported) {
    r.caps = r.info->describe();
    r.unsupported = support.text;
    return r;
  }
  r.caps = form == Form::kFanIn ? r.info->fan_in->describe(peers) : r.info->describe();
  if (form == Form::kFanIn && r.caps.payload != Payload::kBytes) {
    r.unsupported = std::string(kFanInNeedsBytes);
  } else if (auto why = unsupported_reason(r.caps, bytes)) {
    r.unsupported = *why;
  } else {
    r.design = support.text;
  }
  return r;
}

std::size_t pattern_bytes(const TransportInfo& info, std::size_t preferred) {
  return fixed_message_bytes(info.describe().payload).value_or(preferred);
}

}  // namespace ipcbench
