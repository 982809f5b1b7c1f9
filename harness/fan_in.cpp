#include "harness/fan_in.hpp"

#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <memory>
#include <optional>
#include <stdexcept>

#include "harness/clock.hpp"
#include "harness/cpus.hpp"
#include "harness/frame.hpp"
#include "harness/process.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kHandshakeTries = 50;  // times recv_timeout: how long a lossy handshake is retried
constexpr auto kPoll = std::chrono::milliseconds(10);  // how often the parent looks at children

// One client's report, written by that client (counts at its end; progress as it goes).
struct ClientSlot {
  std::atomic<std::uint64_t> progress{0};  // timed round trips done
  std::atomic<std::uint32_t> ready{0};     // handshaken and warmed up
  std::atomic<std::uint32_t> done{0};      // set just before a normal exit
  std::uint64_t end_ns = 0;
  std::uint64_t round_trips = 0, lost = 0, corrupt = 0, reordered = 0;
  Histogram rtt;
  char error[256] = {};
};

// What the server reports per client (its checks of the requests).
struct ServerCounts {
  std::uint64_t lost = 0, corrupt = 0, reordered = 0;
  std::uint32_t disconnected = 0;
};

// The harness's shared memory: barrier words, stop flag, reports. Never message data.
struct FanInShared {
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  std::atomic<std::uint32_t> attached{0};  // processes done with attach (server + clients)
  std::atomic<std::uint32_t> ready{0};     // clients handshaken and warmed up
  std::atomic<std::uint32_t> go{0};        // the barrier's release
  std::atomic<std::uint32_t> finished{0};  // clients done with their round trips
  std::atomic<std::uint32_t> stop{0};      // the server may leave
  std::uint64_t release_ns = 0;
  char server_error[512] = {};
  ServerCounts server[kMaxFanInClients];
  ClientSlot clients[kMaxFanInClients];
};

// A bounded futex wait: returns on a wake, a change of `word` from `expected`, a signal or
// `timeout`. The word lives in a MAP_SHARED mapping, so the futex is not process-private.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::chrono::milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, &ts, nullptr,
            0);
}
void futex_wake_all(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, INT_MAX, nullptr,
            nullptr, 0);
}
void bump_and_wake(std::atomic<std::uint32_t>& word) {
  word.fetch_add(1);
  futex_wake_all(word);
}

void inject_fault(const Fault& fault) {
  switch (fault.kind) {
    case Fault::Kind::kKill:
      ::raise(SIGKILL);
      break;
    case Fault::Kind::kStop:
      ::raise(SIGSTOP);
      break;
    case Fault::Kind::kExit:
      ::_exit(7);
    case Fault::Kind::kDropReply:  // pair-pattern faults: not used by fan-in
    case Fault::Kind::kHang:
    case Fault::Kind::kNone:
      break;
  }
}

struct Plan {
  std::size_t bytes;
  std::size_t clients;
  std::uint64_t iterations, warmup;
  bool lossy;
  std::chrono::milliseconds watchdog;
};

// ---- a client (child) ----

class Client {
 public:
  Client(FanInTransport& t, const Plan& plan, std::size_t index, FanInShared& sh)
      : t_(t),
        plan_(plan),
        index_(index),
        sh_(sh),
        slot_(sh.clients[index]),
        framer_(Payload::kBytes, plan.bytes),
        in_(plan.bytes),
        rtt_(std::make_unique<Histogram>()) {}

  void run(const ClientFault& fault) {
    // Handshake, then warm-up: untimed, every reply still checked.
    std::uint64_t seq = 0;
    for (std::uint64_t i = 0; i < 1 + plan_.warmup; ++i) {
      int tries = 0;
      while (!round_trip(seq++, nullptr)) {
        if (++tries > kHandshakeTries) throw_sys_error(ETIMEDOUT, "recv", "handshake reply");
      }
    }
    rtt_->clear();  // pre-faulted by the warm-up, so timing touches no new page
    lost_ = reordered_ = 0;
    slot_.ready.store(1);
    bump_and_wake(sh_.ready);
    wait_for_release();
    for (std::uint64_t i = 0; i < plan_.iterations; ++i, ++seq) {
      std::uint64_t rtt = 0;
      if (round_trip(seq, &rtt)) {
        rtt_->record(rtt);
        ++round_trips_;
      } else {
        ++lost_;
      }
      slot_.progress.store(i + 1, std::memory_order_relaxed);
      if (index_ == fault.client && i + 1 == fault.fault.after_messages) inject_fault(fault.fault);
    }
    slot_.end_ns = now_ns();
    slot_.rtt = *rtt_;
    slot_.round_trips = round_trips_;
    slot_.lost = lost_;
    slot_.corrupt = corrupt_;
    slot_.reordered = reordered_;
    slot_.done.store(1);
    bump_and_wake(sh_.finished);
  }

 private:
  // Bounded: the parent releases everyone or kills us; a lost parent must not leave us waiting.
  void wait_for_release() {
    const auto deadline = Clock::now() + plan_.watchdog;
    while (sh_.go.load(std::memory_order_acquire) == 0) {
      if (Clock::now() > deadline) {
        throw std::runtime_error("start barrier not released within " +
                                 std::to_string(plan_.watchdog.count()) + " ms");
      }
      futex_wait(sh_.go, 0, kPoll);
    }
  }

  // One round trip with the checks of harness/frame.hpp; false if the reply was lost (lossy).
  bool round_trip(std::uint64_t seq, std::uint64_t* rtt_ns) {
    const std::uint64_t t0 = now_ns();
    t_.client_send(framer_.data(seq, t0));
    while (true) {
      const Received got = t_.client_recv(in_);
      const std::uint64_t t1 = now_ns();
      if (got == Received::kTimeout) return false;
      const std::uint64_t reply = Framer::seq_of(in_);
      if (reply < seq) {  // a late reply to a round trip already counted lost
        if (!plan_.lossy) ++reordered_;
        continue;
      }
      if (reply != seq || !framer_.payload_ok(in_, seq)) ++corrupt_;
      if (rtt_ns != nullptr) *rtt_ns = t1 - t0;
      return true;
    }
  }

  FanInTransport& t_;
  const Plan& plan_;
  std::size_t index_;
  FanInShared& sh_;
  ClientSlot& slot_;
  Framer framer_;
  std::vector<std::byte> in_;
  std::unique_ptr<Histogram> rtt_;  // local until the end: a page fault never lands in timing
  std::uint64_t round_trips_ = 0, lost_ = 0, corrupt_ = 0, reordered_ = 0;
};

// ---- the server (child) ----

void serve(FanInTransport& t, const Plan& plan, FanInShared& sh) {
  const Framer framer(Payload::kBytes, plan.bytes);
  std::vector<std::byte> buf(plan.bytes);
  std::vector<std::uint64_t> next(plan.clients, 0);  // the sequence number expected per client
  while (true) {
    const FanInEvent ev = t.server_recv(buf);
    if (ev.kind == FanInEvent::Kind::kIdle) {
      if (sh.stop.load(std::memory_order_acquire) != 0) return;
      continue;
    }
    ServerCounts& counts = sh.server[ev.client];
    if (ev.kind == FanInEvent::Kind::kDisconnected) {
      counts.disconnected = 1;
      continue;
    }
    if (!t.server_send(ev.client, buf)) counts.disconnected = 1;
    // Checked after the reply is on its way, so the check overlaps the client's own.
    const std::uint64_t seq = Framer::seq_of(buf);
    if (seq < next[ev.client]) {
      ++counts.reordered;
    } else {
      // A request that never came. Lossy transports leave it to the client, whose timeout
      // already counts that round trip once.
      if (!plan.lossy) counts.lost += seq - next[ev.client];
      next[ev.client] = seq + 1;
    }
    if (!framer.payload_ok(buf, seq)) ++counts.corrupt;
  }
}

// ---- the parent, which only watches ----

bool has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return true;
  return info.si_pid == pid;
}

std::string client_label(std::size_t i, pid_t pid) {
  return "client " + std::to_string(i) + " [pid " + std::to_string(pid) + "]";
}

std::string with_error(std::string what, const char* error) {
  if (error[0] != '\0') what += ": " + std::string(error);
  return what;
}

}  // namespace

std::string fan_in_placement(const std::vector<int>& given, std::size_t clients) {
  const std::vector<int> cpus = given.empty() ? allowed_cpus() : given;
  if (cpus.empty()) return "no CPU";
  std::string out = "server=cpu" + std::to_string(cpus[0]);
  for (std::size_t i = 0; i < clients; ++i) {
    out += " client" + std::to_string(i) + "=cpu" + std::to_string(cpus[(i + 1) % cpus.size()]);
  }
  return out;
}

FanInResult run_fan_in(const FanInConfig& config) {
  install_signal_handling();
  set_interrupted(false);
  const TransportInfo* mechanism = find_transport(config.transport_id);
  if (mechanism == nullptr || mechanism->fan_in == nullptr) {
    const std::string why = mechanism != nullptr ? std::string(mechanism->no_fan_in)
                                                 : "known transports: " + known_transport_ids();
    throw std::invalid_argument("transport '" + config.transport_id + "' has no fan-in form (" +
                                why + ")");
  }
  const FanInForm* info = mechanism->fan_in;
  const std::string id(mechanism->id);
  const std::size_t n = config.clients;
  if (n == 0 || n > kMaxFanInClients) {
    throw std::invalid_argument(id + ": clients must be 1.." + std::to_string(kMaxFanInClients) +
                                ", not " + std::to_string(n));
  }
  if (config.iterations == 0) throw std::invalid_argument(id + ": iterations must be at least 1");
  const Capabilities caps = info->describe(n);
  if (caps.payload != Payload::kBytes) throw Unsupported(id + ": fan-in needs a byte payload");
  if (auto why = unsupported_reason(caps, config.message_bytes))
    throw Unsupported(id + ": " + *why);
  const std::vector<int> cpus = config.cpus.empty() ? allowed_cpus() : config.cpus;
  if (cpus.empty()) throw std::invalid_argument(id + ": no CPU to run on");

  const Plan plan{
      config.message_bytes, n,
      config.iterations,    config.warmup ? config.warmup : default_warmup(config.message_bytes),
      caps.may_lose,        config.watchdog};
  FanInResult result;
  result.checks = checks_applied(Payload::kBytes);
  result.per_client.resize(n);
  const int server_cpu = cpus[0];
  result.placement = fan_in_placement(cpus, n);
  for (std::size_t i = 0; i < n; ++i) result.per_client[i].cpu = cpus[(i + 1) % cpus.size()];

  try {
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = config.message_bytes;
    options.tmp_root = config.tmp_root.empty() ? default_tmp_root() : config.tmp_root;
    options.same_cpu = cpus.size() == 1;
    // Declared before the children: on any exit they are killed and reaped before the
    // transport's destructor removes what the parent made.
    FanInPtr transport = info->make(options, n);
    SharedRegion<FanInShared> shared;
    FanInShared& sh = *shared;

    ChildProcess server(
        "fan-in server",
        [&] {
          pin_to_cpu(server_cpu);
          transport->attach_server();
          bump_and_wake(sh.attached);
          serve(*transport, plan, sh);
        },
        sh.server_error, sizeof sh.server_error);
    std::vector<std::unique_ptr<ChildProcess>> clients;
    for (std::size_t i = 0; i < n; ++i) {
      const int cpu = result.per_client[i].cpu;
      clients.push_back(std::make_unique<ChildProcess>(
          "fan-in client" + std::to_string(i),
          [&, i, cpu] {
            pin_to_cpu(cpu);
            transport->attach_client(i);
            bump_and_wake(sh.attached);
            Client(*transport, plan, i, sh).run(config.fault);
          },
          sh.clients[i].error, sizeof sh.clients[i].error));
    }
    auto fail = [&](const std::string& what) {
      server.kill();
      for (auto& c : clients) c->kill();
      throw std::runtime_error(id + ": " + what);
    };
    auto check_server = [&] {
      if (!has_exited(server.pid())) return;
      bool ok = false;
      const pid_t pid = server.pid();
      const std::string status = server.wait(&ok);
      fail(with_error("server [pid " + std::to_string(pid) + "] " + status, sh.server_error));
    };

    // The start barrier: every process attached, every client handshaken and warmed up. Any
    // death here, or no step forward for `watchdog`, ends the run with an error.
    bool detached = false;
    std::uint32_t last_steps = 0;
    auto last_change = Clock::now();
    while (true) {
      const std::uint32_t ready = sh.ready.load();
      if (!detached && sh.attached.load() == n + 1) {
        transport->after_attach();  // drop the parent's ends, remove names no longer needed
        detached = true;
      }
      if (detached && ready == n) break;
      check_server();
      for (std::size_t i = 0; i < n; ++i) {
        if (!has_exited(clients[i]->pid())) continue;
        bool ok = false;
        const pid_t pid = clients[i]->pid();
        const std::string status = clients[i]->wait(&ok);
        fail(with_error(client_label(i, pid) + " " + status + " before the start barrier",
                        sh.clients[i].error));
      }
      const std::uint32_t steps = sh.attached.load() + ready;
      if (steps != last_steps) {
        last_steps = steps;
        last_change = Clock::now();
      } else if (Clock::now() - last_change >= config.watchdog) {
        std::string who;
        for (std::size_t i = 0; i < n; ++i) {
          if (sh.clients[i].ready.load() == 0) who += (who.empty() ? "" : ", ") + std::to_string(i);
        }
        fail("start barrier not reached within " + std::to_string(config.watchdog.count()) +
             " ms (" + std::to_string(sh.attached.load()) + " of " + std::to_string(n + 1) +
             " processes attached; clients not ready: " + who + "): killed by the watchdog");
      }
      futex_wait(sh.ready, ready, kPoll);
    }

    sh.release_ns = now_ns();
    sh.go.store(1, std::memory_order_release);
    futex_wake_all(sh.go);

    // The timed part: a client that dies or stops making progress is killed and reported; the
    // others go on. The server failing ends the run.
    std::vector<bool> running(n, true);
    std::vector<std::uint64_t> last_progress(n, 0);
    std::vector<Clock::time_point> changed(n, Clock::now());
    std::size_t left = n;
    while (left > 0) {
      const std::uint32_t finished = sh.finished.load();
      check_server();
      for (std::size_t i = 0; i < n; ++i) {
        if (!running[i]) continue;
        FanInClientResult& r = result.per_client[i];
        const pid_t pid = clients[i]->pid();
        if (has_exited(pid)) {
          bool ok = false;
          const std::string status = clients[i]->wait(&ok);
          running[i] = false;
          --left;
          if (!ok || sh.clients[i].done.load() == 0) {
            r.failed = true;
            r.failure = with_error(client_label(i, pid) + " " + status, sh.clients[i].error);
          }
          continue;
        }
        const std::uint64_t progress = sh.clients[i].progress.load(std::memory_order_relaxed);
        const auto now = Clock::now();
        if (progress != last_progress[i]) {
          last_progress[i] = progress;
          changed[i] = now;
        } else if (now - changed[i] >= config.watchdog && sh.clients[i].done.load() == 0) {
          clients[i]->kill();
          bool ignored = false;
          (void)clients[i]->wait(&ignored);
          running[i] = false;
          --left;
          r.failed = true;
          r.failure = client_label(i, pid) + " made no progress for " +
                      std::to_string(config.watchdog.count()) + " ms after " +
                      std::to_string(progress) +
                      " round trips (hung or stopped): killed by the watchdog";
        }
      }
      if (left > 0) futex_wait(sh.finished, finished, kPoll);
    }

    // Stop the server: set the flag, then wake its wait with SIGALRM until it leaves (a signal
    // that lands just before a blocking call is missed, so it is repeated; only the server gets
    // it).
    sh.stop.store(1, std::memory_order_release);
    const auto stop_deadline = Clock::now() + config.watchdog;
    while (!has_exited(server.pid())) {
      if (Clock::now() > stop_deadline) {
        fail("server [pid " + std::to_string(server.pid()) + "] did not stop within " +
             std::to_string(config.watchdog.count()) + " ms: killed by the watchdog");
      }
      ::kill(server.pid(), SIGALRM);
      ::usleep(2000);
    }
    bool server_ok = false;
    const pid_t server_pid = server.pid();
    const std::string server_status = server.wait(&server_ok);
    if (!server_ok) {
      fail(with_error("server [pid " + std::to_string(server_pid) + "] " + server_status,
                      sh.server_error));
    }

    std::uint64_t last_end = sh.release_ns;
    for (std::size_t i = 0; i < n; ++i) {
      FanInClientResult& r = result.per_client[i];
      const ClientSlot& slot = sh.clients[i];
      const ServerCounts& s = sh.server[i];
      r.lost = s.lost;
      r.corrupt = s.corrupt;
      r.reordered = s.reordered;
      if (r.failed) {
        result.disconnects += s.disconnected;
        result.failed_clients.push_back(i);
        result.failures += (result.failures.empty() ? "" : "; ") + r.failure;
      } else {
        r.round_trips = slot.round_trips;
        r.lost += slot.lost;
        r.corrupt += slot.corrupt;
        r.reordered += slot.reordered;
        r.rtt = slot.rtt;
        r.seconds = static_cast<double>(slot.end_ns - sh.release_ns) * 1e-9;
        last_end = std::max(last_end, slot.end_ns);
        result.rtt.merge(r.rtt);
        result.round_trips += r.round_trips;
        const std::uint64_t p99 = r.rtt.percentile(99);
        if (p99 >= result.worst_client_p99_ns) {
          result.worst_client_p99_ns = p99;
          result.worst_client = i;
        }
      }
      result.lost += r.lost;
      result.corrupt += r.corrupt;
      result.reordered += r.reordered;
    }
    result.wall_seconds = static_cast<double>(last_end - sh.release_ns) * 1e-9;
    if (result.wall_seconds > 0) {
      result.round_trips_per_second = static_cast<double>(result.round_trips) / result.wall_seconds;
    }
  } catch (const std::system_error& e) {
    throw std::runtime_error(id + ": " + e.what());
  }
  return result;
}

}  // namespace ipcbench
