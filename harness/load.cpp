#include "harness/load.hpp"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "harness/frame.hpp"
#include "harness/launch.hpp"
#include "harness/loops.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr std::uint64_t kDefaultWarmup = 100;

}  // namespace

LoadPlan load_plan(const LoadConfig& config, const Capabilities& caps) {
  LoadPlan plan;
  plan.bytes = config.message_bytes;
  plan.warmup = config.warmup ? config.warmup : kDefaultWarmup;
  plan.messages = config.messages;
  plan.rate = config.rate;
  plan.lossy = caps.may_lose;
  plan.in_process = caps.in_process;
  plan.deadline_ns = config.deadline_ns;
  plan.late_tolerance_ns = config.late_tolerance_ns;
  return plan;
}

void gather_load_result(LoadResult& result, const LoadTally& t, const LoadConsumerCounts& c) {
  result.corrected = t.corrected;
  result.uncorrected = t.uncorrected;
  result.sent = t.sent;
  result.received = t.corrected.count();
  result.lost = t.lost;
  result.corrupt = t.corrupt + c.corrupt;
  result.reordered = t.reordered + c.reordered;
  result.late_sends = t.late_sends;
  result.max_send_lag_ns = t.max_send_lag_ns;
  result.cut = t.cut;
  result.cpu_seconds = t.cpu_seconds + static_cast<double>(c.cpu_ns) * 1e-9;
  result.context_switches = t.context_switches + c.context_switches;
  if (t.last_reply_ns > t.t0_ns) {
    result.seconds = static_cast<double>(t.last_reply_ns - t.t0_ns) * 1e-9;
    result.achieved_per_second = static_cast<double>(result.received) / result.seconds;
  }
}

LoadResult run_load(const LoadConfig& config) {
  const std::vector<int> placement = load_placement(config.cpus);
  const Resolved resolved = resolve_load(config.transport_id, config.message_bytes, placement);
  resolved.require();
  const std::string id = resolved.id();
  const Capabilities& caps = resolved.caps;
  if (!(config.rate > 0) || config.messages == 0) {
    throw std::invalid_argument(id + ": Load needs a positive rate and at least one message");
  }

  LoadPlan plan = load_plan(config, caps);
  // The receiver's own CPU only where it has one: beside the sender it stays with the process's.
  plan.receiver_cpu = placement[1];
  plan.fault = config.fault;
  require_process_fault(id, config.fault, plan.in_process);

  LoadResult result;
  result.placement = placement;
  result.sharing = resolved.sharing;
  result.checks = checks_applied(caps.payload);
  result.offered_per_second = config.rate;
  try {
    TransportOptions options;
    options.message_bytes = config.message_bytes;
    options.tmp_root = config.tmp_root.empty() ? default_tmp_root() : config.tmp_root;
    options.same_cpu = config.cpus.same();
    if (plan.lossy) options.recv_timeout = kLoadLossyRecvTimeout;
    // One object per direction, each with its own name: down carries the data, up the echoes.
    // Declared before the launcher: its peers are ended before the transports are destroyed.
    options.name = unique_name();
    TransportPtr down = resolved.info->make(options);
    options.name = unique_name();
    TransportPtr up = resolved.info->make(options);
    Framer framer(caps.payload, config.message_bytes);
    SharedRegion<LoadShared> shared;
    shared->last.store(plan.warmup + plan.messages - 1);
    ScopedPin pinned(config.cpus.producer);
    const pid_t parent = ::getpid();
    Launch launch(id, config.watchdog);
    // An in_process consumer is a thread with its own Framer (the sender writes into ours).
    const std::size_t consumer = launch.start(
        "consumer", config.cpus.consumer,
        [&](Peer& peer) {
          std::optional<Framer> own;
          if (plan.in_process) own.emplace(caps.payload, config.message_bytes);
          down->attach(Role::kConsumer, parent);
          up->attach(Role::kConsumer, parent);
          consume_load(*down, *up, plan, own ? *own : framer, *shared);
          up->detach();  // its last echo out of the process (zeromq)
          down->detach();
          peer.finish();
        },
        plan.in_process ? Launch::Kind::kThread : Launch::Kind::kProcess);

    std::atomic<std::uint64_t> progress{0};
    auto tally = std::make_unique<LoadTally>();
    const pid_t peer_pid = launch.pid(consumer);
    const std::string failure = launch.watch(&progress, [&] {
      down->attach(Role::kProducer, peer_pid > 0 ? peer_pid : parent);
      up->attach(Role::kProducer, peer_pid > 0 ? peer_pid : parent);
      produce_load(*down, *up, plan, framer, progress, *tally, *shared);
      shared->stop.store(1, std::memory_order_release);  // a lossy consumer: no more data
    });
    launch.end_after_watch(consumer, failure);
    gather_load_result(result, *tally, LoadConsumerCounts::of(*shared));
  } catch (const std::system_error& e) {
    throw std::runtime_error(id + ": " + e.what());
  }
  return result;
}

}  // namespace ipcbench
