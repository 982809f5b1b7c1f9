#include "harness/multi.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "harness/clock.hpp"
#include "harness/frame.hpp"
#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"
#include "transports/os/sys_error.hpp"

namespace ipcbench {
namespace {

constexpr std::size_t kMaxParticipants = 64;

void sleep_briefly() {
  const timespec ts{0, 200'000};  // 0.2 ms: only while waiting on the barrier, never timed
  ::nanosleep(&ts, nullptr);
}

const TransportInfo& lookup(const std::string& id) {
  const TransportInfo* info = find_transport(id);
  if (info == nullptr) {
    throw std::invalid_argument("unknown transport '" + id + "' (known: " + known_transport_ids() +
                                ")");
  }
  return *info;
}

// ---- many pairs ----

struct PairSlot {
  std::atomic<std::uint32_t> finished{0};
  Histogram rtt;
  std::uint64_t round_trips = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t start_ns = 0, end_ns = 0;
  double cpu_seconds = 0;
  std::uint64_t context_switches = 0;
  char error[512] = {};
};

struct PairsShared {
  std::atomic<std::uint32_t> arrived{0};
  std::atomic<std::uint32_t> released{0};
  PairSlot slots[kMaxParticipants];
};

}  // namespace

PairsResult run_pairs(const PairsConfig& config) {
  const TransportInfo& info = lookup(config.transport_id);
  const std::string id(info.id);
  if (auto why = unsupported_reason(info.describe(), config.message_bytes)) {
    throw Unsupported(id + ": " + *why);
  }
  if (config.pairs == 0 || config.pairs > kMaxParticipants) {
    throw std::invalid_argument(id + ": pairs must be 1.." + std::to_string(kMaxParticipants));
  }
  std::vector<CpuPair> cpus = config.cpus;
  if (cpus.empty()) {
    const std::vector<int> allowed = allowed_cpus();
    for (std::size_t i = 0; i < config.pairs; ++i) {
      cpus.push_back({allowed[(2 * i) % allowed.size()], allowed[(2 * i + 1) % allowed.size()]});
    }
  }
  install_signal_handling();
  auto shared = std::make_unique<SharedRegion<PairsShared>>();
  PairsShared& sh = **shared;
  PairsResult result;
  std::vector<std::unique_ptr<ChildProcess>> children;
  for (std::size_t i = 0; i < config.pairs; ++i) {
    const CpuPair where = cpus[i % cpus.size()];
    result.placement.push_back("pair " + std::to_string(i) + ": cpu" +
                               std::to_string(where.producer) + "->cpu" +
                               std::to_string(where.consumer));
    PairSlot& slot = sh.slots[i];
    children.push_back(std::make_unique<ChildProcess>(
        "pair " + std::to_string(i),
        [&, where] {
          PairConfig pc;
          pc.transport_id = id;
          pc.pattern = Pattern::kRoundTrip;
          pc.message_bytes = config.message_bytes;
          pc.iterations = config.iterations;
          pc.cpus = where;
          pc.watchdog = config.watchdog;
          pc.tmp_root = config.tmp_root;
          pc.before_timing = [&] {
            sh.arrived.fetch_add(1);
            const auto deadline = std::chrono::steady_clock::now() + config.watchdog;
            while (sh.released.load() == 0) {
              if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("the start barrier was never released");
              }
              sleep_briefly();
            }
          };
          const PairResult r = run_pair(pc);
          slot.rtt = r.rtt;
          slot.round_trips = r.rtt.count();
          slot.lost = r.lost;
          slot.corrupt = r.corrupt;
          slot.reordered = r.reordered;
          slot.start_ns = r.timed_start_ns;
          slot.end_ns = r.timed_end_ns;
          slot.cpu_seconds = r.cpu_seconds;
          slot.context_switches = r.context_switches;
          slot.finished.store(1);
        },
        slot.error, sizeof slot.error));
  }
  // Release the barrier once every pair still alive has arrived; reap as they end. A pair runs
  // its own watchdog over its consumer, and the barrier wait is bounded, so this loop ends.
  std::vector<bool> reaped(config.pairs, false);
  std::size_t left = config.pairs;
  while (left > 0) {
    for (std::size_t i = 0; i < config.pairs; ++i) {
      if (reaped[i]) continue;
      int status = 0;
      if (!children[i]->try_wait(&status)) continue;
      reaped[i] = true;
      --left;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && sh.slots[i].finished.load();
      if (!ok) {
        ++result.failed;
        std::string why = sh.slots[i].error[0] ? std::string(sh.slots[i].error)
                                               : "pair runner " + describe_wait_status(status);
        result.failures += (result.failures.empty() ? "" : "; ") + ("pair " + std::to_string(i) +
                                                                     ": " + why);
      }
    }
    if (sh.released.load() == 0 && sh.arrived.load() >= config.pairs - result.failed) {
      sh.released.store(1);
    }
    if (left > 0) sleep_briefly();
  }
  std::uint64_t start = UINT64_MAX, end = 0;
  for (std::size_t i = 0; i < config.pairs; ++i) {
    const PairSlot& s = sh.slots[i];
    if (!s.finished.load()) continue;
    result.rtt.merge(s.rtt);
    result.round_trips += s.round_trips;
    result.lost += s.lost;
    result.corrupt += s.corrupt;
    result.reordered += s.reordered;
    result.cpu_seconds += s.cpu_seconds;
    result.context_switches += s.context_switches;
    start = std::min(start, s.start_ns);
    end = std::max(end, s.end_ns);
    const std::uint64_t p99 = s.rtt.percentile(99);
    if (p99 >= result.worst_p99_ns) {
      result.worst_p99_ns = p99;
      result.worst_pair = i;
    }
  }
  if (end > start) result.wall_seconds = static_cast<double>(end - start) * 1e-9;
  return result;
}

// ---- fan-out ----

namespace {

struct ConsumerSlot {
  std::atomic<std::uint32_t> done{0};
  std::atomic<std::uint64_t> receipt_ns{0};  // when the current message arrived
  std::uint64_t delivered = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t cpu_ns = 0, context_switches = 0;
  char error[512] = {};
};

struct FanOutShared {
  ConsumerSlot slots[kMaxParticipants];
};

struct Usage {
  std::uint64_t cpu_ns = 0, switches = 0;
};

Usage usage_self() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000u +
           static_cast<std::uint64_t>(tv.tv_usec) * 1000u;
  };
  return {ns(ru.ru_utime) + ns(ru.ru_stime),
          static_cast<std::uint64_t>(ru.ru_nvcsw) + static_cast<std::uint64_t>(ru.ru_nivcsw)};
}

}  // namespace

FanOutResult run_fan_out(const FanOutConfig& config) {
  const TransportInfo& info = lookup(config.transport_id);
  const std::string id(info.id);
  const Capabilities caps = info.describe();
  if (auto why = unsupported_reason(caps, config.message_bytes)) throw Unsupported(id + ": " + *why);
  if (caps.may_lose || caps.may_coalesce || caps.payload != Payload::kBytes) {
    throw Unsupported(id + ": the mailbox pattern needs a reliable transport that carries bytes "
                           "(it checks and time-stamps every copy)");
  }
  if (caps.in_process) {
    throw Unsupported(id + ": the mailbox pattern forks one consumer process per reader; this "
                           "transport's peer is a thread of the same process");
  }
  if (config.consumers == 0 || config.consumers > kMaxParticipants) {
    throw std::invalid_argument(id + ": consumers must be 1.." + std::to_string(kMaxParticipants));
  }
  install_signal_handling();
  set_interrupted(false);
  const std::size_t n = config.consumers;
  const std::uint64_t warmup = default_warmup(config.message_bytes);
  FanOutResult result;
  try {
    std::vector<int> ccpus = config.consumer_cpus;
    if (ccpus.empty()) ccpus = allowed_cpus();
    TransportOptions options;
    options.message_bytes = config.message_bytes;
    options.tmp_root = config.tmp_root.empty() ? default_tmp_root() : config.tmp_root;
    // A spinning waiter must give its CPU up when another process of the pattern runs there.
    std::vector<int> used = {config.producer_cpu};
    for (std::size_t i = 0; i < n; ++i) used.push_back(ccpus[i % ccpus.size()]);
    std::sort(used.begin(), used.end());
    options.same_cpu = std::adjacent_find(used.begin(), used.end()) != used.end();
    // Shared memory has a real broadcast: one ring that every consumer reads, each message written
    // once, the consumers' ring tails as the acks. Kernel mechanisms get one channel per consumer.
    options.name = unique_name();
    ShmBroadcastPtr mailbox = info.broadcast ? info.broadcast->make(options, n) : nullptr;
    std::vector<TransportPtr> channels;
    for (std::size_t i = 0; i < n && !mailbox; ++i) {
      options.name = unique_name();
      channels.push_back(info.make(options));
    }
    result.design = mailbox ? "one broadcast ring, written once" : "one channel per consumer";
    auto shared = std::make_unique<SharedRegion<FanOutShared>>();
    FanOutShared& sh = **shared;
    Framer framer(Payload::kBytes, config.message_bytes);
    const pid_t parent = ::getpid();
    std::vector<std::unique_ptr<ChildProcess>> children;
    for (std::size_t i = 0; i < n; ++i) {
      ConsumerSlot& slot = sh.slots[i];
      const int cpu = ccpus[i % ccpus.size()];
      children.push_back(std::make_unique<ChildProcess>(
          "consumer " + std::to_string(i),
          [&, i, cpu] {
            pin_to_cpu(cpu);
            for (std::size_t j = 0; j < channels.size(); ++j) {
              if (j != i) channels[j].reset();  // keep only this consumer's channel
            }
            if (mailbox) {
              mailbox->attach();
            } else {
              channels[i]->attach(Role::kConsumer, parent);
            }
            std::vector<std::byte> buf(config.message_bytes);
            const std::uint64_t total = warmup + config.iterations;
            std::uint64_t expected = 0;
            Usage start{};
            for (std::uint64_t k = 0; k < total; ++k) {
              if (k == warmup) start = usage_self();
              if (mailbox) {
                mailbox->read(i, buf);
              } else {
                (void)channels[i]->recv(buf);
              }
              slot.receipt_ns.store(now_ns(), std::memory_order_release);
              const std::uint64_t seq = Framer::seq_of(buf);
              if (mailbox) {
                mailbox->release(i);  // the ack; it publishes receipt_ns too (release order)
              } else {
                channels[i]->send(framer.control(kAckFlag | seq, 0, kHeaderBytes));
              }
              if (seq != expected) ++slot.reordered;
              expected = seq + 1;
              if (!framer.payload_ok(buf, seq)) ++slot.corrupt;
              if (k >= warmup) ++slot.delivered;
            }
            const Usage end = usage_self();
            slot.cpu_ns = end.cpu_ns - start.cpu_ns;
            slot.context_switches = end.switches - start.switches;
            slot.done.store(1);
          },
          slot.error, sizeof slot.error));
    }
    ScopedPin pinned(config.producer_cpu);
    std::atomic<std::uint64_t> progress{0};
    std::vector<Watched> watched;
    for (std::size_t i = 0; i < n; ++i) {
      watched.push_back({children[i]->pid(), "consumer " + std::to_string(i), &sh.slots[i].done});
    }
    std::string failure;
    {
      Watchdog watchdog(watched, config.watchdog, &progress);
      try {
        if (mailbox) mailbox->attach();
        for (auto& c : channels) c->attach(Role::kProducer, children[0]->pid());
        std::vector<std::byte> ack(kHeaderBytes);
        result.iteration_seconds.reserve(config.iterations);
        Usage start{};
        for (std::uint64_t k = 0; k < warmup + config.iterations; ++k) {
          const bool timed = k >= warmup;
          if (k == warmup) start = usage_self();
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
            last = std::max(last, sh.slots[i].receipt_ns.load(std::memory_order_acquire));
          }
          if (timed) {
            result.round.record(t1 - t0);
            result.delivery.record(last - t0);
            result.iteration_seconds.push_back(static_cast<double>(t1 - t0) * 1e-9);
          }
          progress.store(k + 1, std::memory_order_relaxed);
        }
        const Usage end = usage_self();
        result.cpu_seconds = static_cast<double>(end.cpu_ns - start.cpu_ns) * 1e-9;
        result.context_switches = end.switches - start.switches;
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (watchdog.fired()) failure = watchdog.reason() + " (producer: " + failure + ")";
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (!failure.empty()) children[i]->kill();
      bool ok = false;
      const std::string status = children[i]->wait(&ok);
      if (!ok && failure.empty()) failure = "consumer " + std::to_string(i) + " " + status;
      if (sh.slots[i].error[0] != '\0') {
        failure += "; consumer " + std::to_string(i) + ": " + sh.slots[i].error;
      }
    }
    if (!failure.empty()) throw std::runtime_error(id + ": " + failure);
    for (std::size_t i = 0; i < n; ++i) {
      const ConsumerSlot& s = sh.slots[i];
      result.delivered += s.delivered;
      result.corrupt += s.corrupt;
      result.reordered += s.reordered;
      result.cpu_seconds += static_cast<double>(s.cpu_ns) * 1e-9;
      result.context_switches += s.context_switches;
    }
  } catch (const std::system_error& e) {
    set_interrupted(false);
    throw std::runtime_error(id + ": " + e.what());
  }
  set_interrupted(false);
  for (double s : result.iteration_seconds) result.timed_seconds += s;
  return result;
}

}  // namespace ipcbench
