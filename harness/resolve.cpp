#include "harness/resolve.hpp"

#include <algorithm>

#include "harness/cpus.hpp"
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
constexpr std::string_view kLoadNeedsBytes =
    "Load writes each message's intended send time into it: needs a transport that carries bytes";

// "server + 2 clients": the processes of a many-process form, in words.
std::string processes_in_words(Form form, std::size_t peers) {
  const std::string n = std::to_string(peers);
  const char* s = peers == 1 ? "" : "s";
  switch (form) {
    case Form::kFanIn:
      return "server + " + n + " client" + s;
    case Form::kFanOut:
      return "producer + " + n + " consumer" + s;
    case Form::kPairs:
      return n + " pair" + s + " of producer + consumer";
    case Form::kPair:
      break;
  }
  return "producer + consumer";
}

std::vector<int> distinct_cpus(std::span<const int> placement) {
  std::vector<int> distinct(placement.begin(), placement.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  return distinct;
}

// Why a spinner cannot run in `placement`, or "" when every process has a CPU of its own.
std::string oversubscribed_spinner(Form form, std::size_t peers, std::span<const int> placement) {
  const std::vector<int> distinct = distinct_cpus(placement);
  if (distinct.size() >= placement.size()) return "";
  std::string have;
  for (int cpu : distinct) have += (have.empty() ? "cpu" : ",cpu") + std::to_string(cpu);
  return "spins while it waits: needs " + std::to_string(placement.size()) +
         " CPUs (one per process: " + processes_in_words(form, peers) + "), has " +
         std::to_string(distinct.size()) + " (" + have + ")";
}

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

std::size_t form_processes(Form form, std::size_t peers) noexcept {
  switch (form) {
    case Form::kFanIn:
    case Form::kFanOut:
      return 1 + peers;
    case Form::kPairs:
      return 2 * peers;
    case Form::kPair:
      break;
  }
  return 2;
}

std::vector<int> pattern_placement(Form form, std::size_t peers, std::span<const int> given) {
  if (peers == 0 || peers > kMaxPeers) return {};  // resolve() names the bad count
  const std::vector<int> allowed = given.empty() ? allowed_cpus() : std::vector<int>{};
  const std::span<const int> cpus = given.empty() ? std::span<const int>(allowed) : given;
  if (cpus.empty()) throw std::invalid_argument("no CPU to run on");
  std::vector<int> placement(form_processes(form, peers));
  for (std::size_t i = 0; i < placement.size(); ++i) placement[i] = cpus[i % cpus.size()];
  return placement;
}

std::string CpuSharing::text() const {
  if (!shared()) return "";
  return "shares CPUs: " + std::to_string(processes) + " processes on " + std::to_string(cpus) +
         " CPU" + (cpus == 1 ? "" : "s");
}

CpuSharing cpu_sharing(std::span<const int> placement) {
  return {placement.size(), distinct_cpus(placement).size()};
}

std::optional<std::string> unsupported_reason(const Capabilities& caps, std::size_t bytes) {
  if (!caps.unavailable.empty()) return "unavailable on this machine: " + caps.unavailable;
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

Resolved resolve(std::string_view id, Form form, std::size_t bytes, std::size_t peers,
                 std::span<const int> placement) {
  Resolved r;
  r.info = &lookup(id);
  r.form = form;
  if (form != Form::kPair) {
    if (peers == 0 || peers > kMaxPeers) {
      const char* what = form == Form::kFanIn    ? "clients"
                         : form == Form::kFanOut ? "consumers"
                                                 : "pairs";
      throw std::invalid_argument(r.id() + ": " + what + " must be 1.." +
                                  std::to_string(kMaxPeers) + ", not " + std::to_string(peers));
    }
    if (!placement.empty() && placement.size() != form_processes(form, peers)) {
      throw std::invalid_argument(r.id() + ": a placement of " + std::to_string(placement.size()) +
                                  " CPUs for " + processes_in_words(form, peers) + ", which are " +
                                  std::to_string(form_processes(form, peers)) + " processes");
    }
    r.placement = placement.empty() ? pattern_placement(form, peers)
                                    : std::vector<int>(placement.begin(), placement.end());
    r.sharing = cpu_sharing(r.placement);
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
  } else if (r.caps.busy_polls && r.sharing.shared()) {
    // A spinner keeps its CPU while it waits: a peer pinned to the same CPU runs only when the
    // scheduler takes the spinner off, so the figure would be the scheduler's slice, not the
    // mechanism. (The pair form's one shared CPU is run_pair's: it yields instead.)
    r.unsupported = oversubscribed_spinner(form, peers, r.placement);
  } else {
    r.design = support.text;
  }
  return r;
}

std::vector<int> load_placement(const CpuPair& cpus) {
  int receiver = cpus.producer;
  if (!cpus.same()) {
    for (int cpu : allowed_cpus()) {
      if (cpu != cpus.producer && cpu != cpus.consumer) {
        receiver = cpu;
        break;
      }
    }
  }
  return {cpus.producer, receiver, cpus.consumer};
}

std::string load_placement_text(std::span<const int> placement) {
  if (placement.size() != 3) return "";
  return "sender cpu" + std::to_string(placement[0]) + ", receiver cpu" +
         std::to_string(placement[1]) + ", consumer cpu" + std::to_string(placement[2]);
}

Resolved resolve_load(std::string_view id, std::size_t bytes, std::span<const int> placement) {
  if (placement.size() != 3) {
    throw std::invalid_argument(std::string(id) +
                                ": a Load placement is 3 CPUs (sender, "
                                "receiver, consumer), not " +
                                std::to_string(placement.size()));
  }
  Resolved r = resolve(id, Form::kPair, bytes);
  r.placement.assign(placement.begin(), placement.end());
  r.sharing = cpu_sharing(r.placement);
  // The payload first: for a one-word or notification transport it is the reason at any size.
  if (r.caps.unavailable.empty() && r.caps.payload != Payload::kBytes) {
    r.unsupported = std::string(kLoadNeedsBytes) + " (this one carries " +
                    (r.caps.payload == Payload::kWord ? "one 8-byte word" : "no data") + ")";
  } else if (!r.runs()) {
    return r;
  } else if (r.caps.busy_polls && r.sharing.shared()) {
    // The receiver and the consumer would spin on their CPUs while the sender sleeps until its
    // next message is due: a sender sharing a spinner's CPU wakes only when the scheduler takes
    // the spinner off, so the schedule would be the scheduler's slice, not the rate asked for.
    std::string have;
    for (int cpu : distinct_cpus(placement)) {
      have += (have.empty() ? "cpu" : ",cpu") + std::to_string(cpu);
    }
    r.unsupported = "spins while it waits: Load needs 3 CPUs (sender, receiver, consumer), has " +
                    std::to_string(r.sharing.cpus) + " (" + have + ")";
  }
  if (!r.runs()) r.design.clear();
  return r;
}

std::size_t pattern_bytes(const TransportInfo& info, std::size_t preferred) {
  return fixed_message_bytes(info.describe().payload).value_or(preferred);
}

}  // namespace ipcbench
