#include "harness/fan_in.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>

#include "harness/clock.hpp"
#include "harness/cpus.hpp"
#include "harness/frame.hpp"
#include "harness/launch.hpp"
#include "harness/pair.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

constexpr int kHandshakeTries = 50;  // times recv_timeout: how long a lossy handshake is retried
constexpr std::size_t kServer = 0;   // the launcher's peer 0; client i is peer i + 1

// One client's report, written by that client when it finishes.
struct ClientReport {
  std::uint64_t end_ns = 0;
  std::uint64_t round_trips = 0, lost = 0, corrupt = 0, reordered = 0;
  std::uint64_t cpu_ns = 0, context_switches = 0;  // its timed round trips
  Histogram rtt;
};

// What the server reports per client (its sequence bookkeeping of the requests).
struct ServerCounts {
  std::uint64_t lost = 0, reordered = 0;
  std::uint32_t disconnected = 0;
};

// The driver's own shared memory (the barrier and the errors are the launcher's).
struct FanInShared {
  std::atomic<std::uint32_t> stop{0};                            // the server may leave
  std::uint64_t server_cpu_ns = 0, server_context_switches = 0;  // its timed part
  ServerCounts server[kMaxFanInClients];
  ClientReport clients[kMaxFanInClients];
};

struct Plan {
  std::size_t bytes;
  std::size_t clients;
  std::uint64_t iterations, warmup;
  bool lossy;
};

// ---- a client (child) ----

void run_client(FanInTransport& t, const Plan& plan, std::size_t index, const ClientFault& fault,
                Peer& peer, ClientReport& out) {
  Framer framer(Payload::kBytes, plan.bytes);
  std::vector<std::byte> in(plan.bytes);
  // Local until the end: a page fault never lands in timing (pre-faulted by the warm-up).
  auto rtt = std::make_unique<Histogram>();
  EchoChecks checks;
  RoundTripTimes times;
  auto send = [&](std::span<const std::byte> m) { t.client_send(m); };
  auto recv = [&](std::span<std::byte> m) { return t.client_recv(m); };
  // Handshake, then warm-up: untimed, every reply still checked.
  std::uint64_t seq = 0;
  for (std::uint64_t i = 0; i < 1 + plan.warmup; ++i) {
    int tries = 0;
    while (!round_trip(framer, in, seq++, plan.lossy, send, recv, times, checks)) {
      if (++tries > kHandshakeTries) throw_sys_error(ETIMEDOUT, "recv", "handshake reply");
    }
    rtt->record(times.rtt_ns);
  }
  rtt->clear();
  checks.reordered = 0;
  std::uint64_t round_trips = 0, lost = 0;
  peer.arrive_and_wait();
  // This thread only (RUSAGE_THREAD), from the release to the last reply.
  const Usage start = usage_now(true);
  for (std::uint64_t i = 0; i < plan.iterations; ++i, ++seq) {
    if (round_trip(framer, in, seq, plan.lossy, send, recv, times, checks)) {
      rtt->record(times.rtt_ns);
      ++round_trips;
    } else {
      ++lost;
    }
    peer.progress(i + 1);
    if (index == fault.client) inject_fault(fault.fault, i + 1, false);
  }
  out.end_ns = now_ns();
  const Usage end = usage_now(true);
  out.cpu_ns = end.cpu_ns - start.cpu_ns;
  out.context_switches = end.switches - start.switches;
  out.rtt = *rtt;
  out.round_trips = round_trips;
  out.lost = lost;
  out.corrupt = checks.corrupt;
  out.reordered = checks.reordered;
  peer.finish();
}

// ---- the server (child) ----

// Every message is checked end to end by its client: the server echoes each request unchanged,
// and the client's round_trip() checks the reply's sequence number and every payload byte, so a
// request damaged on the way in shows as a damaged reply. The server checks no payload: with
// server and client on one CPU that check would run inside the client's timed round trip. It
// keeps only its sequence bookkeeping (a compare and an add on the header it already read, after
// the reply is on its way), which tells a request that never came from a reply that was lost.
void serve(FanInTransport& t, const Plan& plan, FanInShared& sh) {
  std::vector<std::byte> buf(plan.bytes);
  std::vector<std::uint64_t> next(plan.clients, 0);  // the sequence number expected per client
  // Sequence numbers 0 .. warmup are each client's handshake and warm-up, all done before the
  // barrier's release; warmup + 1 .. warmup + iterations are its timed round trips.
  const std::uint64_t first_timed = 1 + plan.warmup;
  const std::uint64_t last_timed = plan.warmup + plan.iterations;
  std::size_t finals = 0;  // clients whose last timed request was answered
  bool timing = false;
  Usage start{}, end{};
  while (true) {
    const FanInEvent ev = t.server_recv(buf);
    if (ev.kind == FanInEvent::Kind::kIdle) {
      if (sh.stop.load(std::memory_order_acquire) != 0) break;
      continue;
    }
    ServerCounts& counts = sh.server[ev.client];
    if (ev.kind == FanInEvent::Kind::kDisconnected) {
      counts.disconnected = 1;
      continue;
    }
    const std::uint64_t seq = Framer::seq_of(buf);
    if (!timing && seq >= first_timed) {
      start = usage_now(true);
      timing = true;
    }
    if (!t.server_send(ev.client, buf)) counts.disconnected = 1;
    if (seq < next[ev.client]) {
      ++counts.reordered;
    } else {
      // A request that never came. Lossy transports leave it to the client, whose timeout
      // already counts that round trip once.
      if (!plan.lossy) counts.lost += seq - next[ev.client];
      next[ev.client] = seq + 1;
    }
    if (seq == last_timed) {
      ++finals;
      end = usage_now(true);
    }
  }
  // A last request that never came (lost, or its client failed): the timed part ends here.
  if (finals < plan.clients) end = usage_now(true);
  if (timing) {
    sh.server_cpu_ns = end.cpu_ns - start.cpu_ns;
    sh.server_context_switches = end.switches - start.switches;
  }
}

// "client 2 [pid 123] killed by signal 9 ...": the launcher's "fan-in client2[123] ..." in the
// words fan-in has always used.
std::string client_failure(std::size_t i, pid_t pid, const std::string& launch_text) {
  const std::string prefix = "fan-in client" + std::to_string(i) + "[" + std::to_string(pid) + "]";
  std::string rest = launch_text;
  if (rest.rfind(prefix, 0) == 0) rest = rest.substr(prefix.size());
  if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
  return "client " + std::to_string(i) + " [pid " + std::to_string(pid) + "] " + rest;
}

}  // namespace

std::string fan_in_placement(const std::vector<int>& given, std::size_t clients) {
  const std::vector<int> cpus = given.empty() ? allowed_cpus() : given;
  if (cpus.empty()) return "no CPU";
  const std::vector<int> where = pattern_placement(Form::kFanIn, clients, cpus);
  std::string out = "server=cpu" + std::to_string(where[0]);
  for (std::size_t i = 0; i < clients; ++i) {
    out += " client" + std::to_string(i) + "=cpu" + std::to_string(where[i + 1]);
  }
  return out;
}

FanInResult run_fan_in(const FanInConfig& config) {
  const std::size_t n = config.clients;
  const std::vector<int> cpus = config.cpus.empty() ? allowed_cpus() : config.cpus;
  if (cpus.empty()) throw std::invalid_argument(config.transport_id + ": no CPU to run on");
  const Resolved resolved = resolve(config.transport_id, Form::kFanIn, config.message_bytes, n,
                                    pattern_placement(Form::kFanIn, n, cpus));
  const std::string id = resolved.id();
  if (config.iterations == 0) throw std::invalid_argument(id + ": iterations must be at least 1");
  resolved.require();
  const std::vector<int>& where = resolved.placement;  // the server, then client i

  const Plan plan{config.message_bytes, n, config.iterations,
                  config.warmup ? config.warmup : default_warmup(config.message_bytes),
                  resolved.caps.may_lose};
  FanInResult result;
  result.checks = checks_applied(Payload::kBytes);
  result.per_client.resize(n);
  result.placement = fan_in_placement(cpus, n);
  result.sharing = resolved.sharing;
  for (std::size_t i = 0; i < n; ++i) result.per_client[i].cpu = where[i + 1];

  try {
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = config.message_bytes;
    options.tmp_root = config.tmp_root.empty() ? default_tmp_root() : config.tmp_root;
    // A waiter that spins before it sleeps (shm_futex) must not spin while a process of the
    // pattern needs its CPU. (A pure spinner never gets here sharing: resolve() refuses that.)
    options.same_cpu = resolved.sharing.shared();
    // Declared before the launcher: on any exit the peers are killed and reaped before the
    // transport's destructor removes what the parent made.
    FanInPtr transport = resolved.info->fan_in->make(options, n);
    SharedRegion<FanInShared> shared;
    FanInShared& sh = *shared;
    Launch launch(id, config.watchdog);
    launch.start("fan-in server", where[0], [&](Peer& peer) {
      transport->attach_server();
      peer.attached();
      serve(*transport, plan, sh);
      peer.finish();
    });
    for (std::size_t i = 0; i < n; ++i) {
      launch.start(
          "fan-in client" + std::to_string(i), result.per_client[i].cpu,
          [&, i](Peer& peer) {
            transport->attach_client(i);
            peer.attached();
            run_client(*transport, plan, i, config.fault, peer, sh.clients[i]);
          },
          Launch::Kind::kProcess, Launch::OnFailure::kAlone);
    }
    // Every process attached: drop the parent's ends and names no longer needed; every client
    // handshaken and warmed up: release them together.
    const std::uint64_t release_ns = launch.release(n, n + 1, [&] { transport->after_attach(); });

    // The timed part: a client that dies or stalls is ended alone; the others go on. The server
    // is only told to stop once every client has ended, so wait for the clients first.
    // The server is not `alone` and not done before the stop: its death ends the run.
    if (const std::string failure = launch.wait_all(kServer); !failure.empty())
      launch.fail(failure);

    // Stop the server: set the flag, then wake its wait with SIGALRM until it leaves (a signal
    // that lands just before a blocking call is missed, so it is repeated; only the server gets
    // it).
    sh.stop.store(1, std::memory_order_release);
    const auto stop_deadline = std::chrono::steady_clock::now() + config.watchdog;
    while (!launch.exited(kServer)) {
      if (std::chrono::steady_clock::now() > stop_deadline) {
        launch.fail("server [pid " + std::to_string(launch.pid(kServer)) +
                    "] did not stop within " + std::to_string(config.watchdog.count()) +
                    " ms: killed by the watchdog");
      }
      (void)launch.signal(kServer, SIGALRM);
      ::usleep(2000);
    }
    const pid_t server_pid = launch.pid(kServer);
    if (const std::string why = launch.end(kServer, false); !why.empty()) {
      launch.fail("server [pid " + std::to_string(server_pid) + "] " + why);
    }

    std::uint64_t last_end = release_ns;
    for (std::size_t i = 0; i < n; ++i) {
      FanInClientResult& r = result.per_client[i];
      const ClientReport& slot = sh.clients[i];
      const ServerCounts& s = sh.server[i];
      r.lost = s.lost;
      r.reordered = s.reordered;
      if (!launch.failure(1 + i).empty()) {
        r.failed = true;
        r.failure = client_failure(i, launch.pid(1 + i), launch.failure(1 + i));
        result.disconnects += s.disconnected;
        result.failed_clients.push_back(i);
        result.failures += (result.failures.empty() ? "" : "; ") + r.failure;
      } else {
        r.round_trips = slot.round_trips;
        r.lost += slot.lost;
        r.corrupt += slot.corrupt;
        r.reordered += slot.reordered;
        r.rtt = slot.rtt;
        result.cpu_seconds += static_cast<double>(slot.cpu_ns) * 1e-9;
        result.context_switches += slot.context_switches;
        r.seconds = static_cast<double>(slot.end_ns - release_ns) * 1e-9;
        last_end = std::max(last_end, slot.end_ns);
        result.rtt.merge(r.rtt);
        result.round_trips += r.round_trips;
      }
      result.lost += r.lost;
      result.corrupt += r.corrupt;
      result.reordered += r.reordered;
    }
    result.cpu_seconds += static_cast<double>(sh.server_cpu_ns) * 1e-9;
    result.context_switches += sh.server_context_switches;
    const WorstP99 worst = worst_p99(result.per_client.size(), [&](std::size_t i) {
      return result.per_client[i].failed ? nullptr : &result.per_client[i].rtt;
    });
    result.worst_client_p99_ns = worst.p99_ns;
    result.worst_client = worst.index;
    result.wall_seconds = static_cast<double>(last_end - release_ns) * 1e-9;
    if (result.wall_seconds > 0) {
      result.round_trips_per_second = static_cast<double>(result.round_trips) / result.wall_seconds;
    }
  } catch (const std::system_error& e) {
    throw std::runtime_error(id + ": " + e.what());
  }
  return result;
}

}  // namespace ipcbench
