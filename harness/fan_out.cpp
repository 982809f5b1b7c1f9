#include "harness/fan_out.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>

#include "harness/clock.hpp"
#include "harness/frame.hpp"
#include "harness/launch.hpp"
#include "harness/loops.hpp"
#include "harness/pair.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// What one consumer reports (receipt_ns as it goes, the counts when it finishes).
struct ConsumerReport {
  std::atomic<std::uint64_t> receipt_ns{0};  // when the current message arrived
  std::uint64_t delivered = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t cpu_ns = 0, context_switches = 0;
};

struct FanOutShared {
  ConsumerReport consumers[kMaxPeers];
};

}  // namespace

FanOutResult run_fan_out(const FanOutConfig& config) {
  const std::size_t n = config.consumers;
  const Resolved resolved = resolve(config.transport_id, Form::kFanOut, config.message_bytes, n,
                                    pattern_placement(Form::kFanOut, n, config.cpus));
  resolved.require();
  const TransportInfo& info = *resolved.info;
  const std::string id = resolved.id();
  const std::uint64_t warmup = default_warmup(config.message_bytes);
  const std::vector<int>& where = resolved.placement;  // the producer, then consumer i
  FanOutResult result;
  result.design = resolved.design;
  result.placement = where;
  result.sharing = resolved.sharing;
  try {
    TransportOptions options;
    options.message_bytes = config.message_bytes;
    options.tmp_root = config.tmp_root.empty() ? default_tmp_root() : config.tmp_root;
    // A waiter that spins before it sleeps (shm_futex) must not spin while a process of the
    // pattern needs its CPU. (A pure spinner never gets here sharing: resolve() refuses that.)
    options.same_cpu = resolved.sharing.shared();
    // A broadcast form is one ring that every consumer reads, each message written once, the
    // consumers' ring tails as the acks. Other mechanisms get one pair channel per consumer.
    ShmBroadcastPtr mailbox;
    std::vector<TransportPtr> channels;
    if (info.broadcast != nullptr) {
      options.name = unique_name();
      mailbox = info.broadcast->make(options, n);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        options.name = unique_name();
        channels.push_back(info.make(options));
      }
    }
    auto shared = std::make_unique<SharedRegion<FanOutShared>>();
    FanOutShared& sh = **shared;
    Framer framer(Payload::kBytes, config.message_bytes);
    const pid_t parent = ::getpid();
    Launch launch(id, config.watchdog);
    for (std::size_t i = 0; i < n; ++i) {
      launch.start("consumer " + std::to_string(i), where[i + 1], [&, i](Peer& peer) {
        ConsumerReport& out = sh.consumers[i];
        for (std::size_t j = 0; j < channels.size(); ++j) {
          if (j != i) channels[j].reset();  // keep only this consumer's channel
        }
        if (mailbox) {
          mailbox->attach();
        } else {
          channels[i]->attach(Role::kConsumer, parent);
        }
        std::vector<std::byte> buf(config.message_bytes);
        FanOutChecks checks;
        Usage start{};
        for (std::uint64_t k = 0; k < warmup + config.iterations; ++k) {
          // This thread only (RUSAGE_THREAD), over the timed messages.
          if (k == warmup) start = usage_now(true);
          if (mailbox) {
            mailbox->read(i, buf);
          } else {
            (void)channels[i]->recv(buf);
          }
          out.receipt_ns.store(now_ns(), std::memory_order_release);
          const std::uint64_t seq = Framer::seq_of(buf);
          if (mailbox) {
            mailbox->release(i);  // the ack; it publishes receipt_ns too (release order)
          } else {
            channels[i]->send(framer.control(kAckFlag | seq, 0, kHeaderBytes));
          }
          checks.see(framer, buf, k >= warmup);
        }
        const Usage end = usage_now(true);
        const FanOutCounts counts = checks.counts(warmup + config.iterations);
        out.delivered = counts.delivered;
        out.lost = counts.lost;
        out.corrupt = counts.corrupt;
        out.reordered = counts.reordered;
        out.cpu_ns = end.cpu_ns - start.cpu_ns;
        out.context_switches = end.switches - start.switches;
        if (!mailbox) channels[i]->detach();  // its last ack out of the process (zeromq)
        peer.finish();
      });
    }
    ScopedPin pinned(where[0]);
    std::atomic<std::uint64_t> progress{0};
    std::string failure = launch.watch(&progress, [&] {
      if (mailbox) mailbox->attach();
      // Channel i's peer is consumer i (a transport may act on its peer's pid: cma writes into it).
      for (std::size_t i = 0; i < channels.size(); ++i) {
        channels[i]->attach(Role::kProducer, launch.pid(i));
      }
      std::vector<std::byte> ack(kHeaderBytes);
      result.iteration_seconds.reserve(config.iterations);
      Usage start{};
      for (std::uint64_t k = 0; k < warmup + config.iterations; ++k) {
        // This thread only (RUSAGE_THREAD): not the launcher's watchdog thread.
        if (k == warmup) start = usage_now(true);
        const std::uint64_t t0 = now_ns();
        const auto msg = framer.data(k, t0);
        if (mailbox) {
          mailbox->write(msg);
          mailbox->wait_released();  // every consumer's tail passed message k
        }
        for (auto& c : channels) c->send(msg);
        for (auto& c : channels) {
          (void)c->recv(ack);
          if (Framer::seq_of(ack) != (kAckFlag | k)) throw_sys_error(EPROTO, "recv", "ack");
        }
        const std::uint64_t t1 = now_ns();
        std::uint64_t last = 0;
        for (std::size_t i = 0; i < n; ++i) {
          last = std::max(last, sh.consumers[i].receipt_ns.load(std::memory_order_acquire));
        }
        if (k >= warmup) {
          result.round.record(t1 - t0);
          result.delivery.record(last - t0);
          result.iteration_seconds.push_back(static_cast<double>(t1 - t0) * 1e-9);
        }
        progress.store(k + 1, std::memory_order_relaxed);
      }
      const Usage end = usage_now(true);
      result.cpu_seconds = static_cast<double>(end.cpu_ns - start.cpu_ns) * 1e-9;
      result.context_switches = end.switches - start.switches;
    });
    // Consumer i's words ("consumer 2[123] exited with status 3: ...") after the producer's.
    const std::string ended = launch.end_all(!failure.empty());
    if (!ended.empty()) failure += (failure.empty() ? "" : "; ") + ended;
    if (!failure.empty()) launch.fail(failure);
    for (std::size_t i = 0; i < n; ++i) {
      const ConsumerReport& s = sh.consumers[i];
      result.delivered += s.delivered;
      result.lost += s.lost;
      result.corrupt += s.corrupt;
      result.reordered += s.reordered;
      result.cpu_seconds += static_cast<double>(s.cpu_ns) * 1e-9;
      result.context_switches += s.context_switches;
    }
  } catch (const std::system_error& e) {
    throw std::runtime_error(id + ": " + e.what());
  }
  for (double s : result.iteration_seconds) result.timed_seconds += s;
  return result;
}

}  // namespace ipcbench
