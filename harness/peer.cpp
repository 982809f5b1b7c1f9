#include "harness/peer.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/frame.hpp"
#include "harness/process.hpp"
#include "harness/resolve.hpp"
#include "harness/system_info.hpp"
#include "transports/os/inet_socket.hpp"
#include "transports/os/io.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {

std::string HostPort::text() const {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = address_be;
  a.sin_port = htons(port);
  return address_name(a);
}

HostPort parse_host_port(std::string_view text, std::string_view flag, bool any_port) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument(std::string(flag) + "=" + std::string(text) + ": " + why);
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    throw bad("expected an IPv4 address and a port, A.B.C.D:PORT");
  }
  const std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  HostPort hp;
  in_addr a{};
  if (host.empty() || ::inet_pton(AF_INET, host.c_str(), &a) != 1) {
    throw bad("'" + host + "' is not an IPv4 address (A.B.C.D; host names are not looked up)");
  }
  hp.address_be = a.s_addr;
  unsigned long port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size()) {
    throw bad("'" + std::string(port_text) + "' is not a port number");
  }
  const unsigned long lowest = any_port ? 0 : 1;
  if (port < lowest || port > 65535) {
    throw bad("port " + std::string(port_text) + " is out of range (" + std::to_string(lowest) +
              "..65535)");
  }
  hp.port = static_cast<std::uint16_t>(port);
  return hp;
}

std::string peer_unsupported(std::string_view id, std::size_t bytes) {
  const TransportInfo* info = find_transport(id);
  if (info == nullptr) {
    return "unknown transport '" + std::string(id) + "' (known: " + known_transport_ids() + ")";
  }
  if (info->peer == nullptr) return std::string(kOneHostOnly);
  const Resolved r = resolve(id, Form::kPair, bytes);
  return r.runs() ? "" : r.unsupported;
}

namespace {

// ---- the control connection's lines ----

// Values are %-escaped: a space, '=', '%' and every byte outside printable ASCII.
std::string escape(std::string_view v) {
  std::string out;
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '=' || c == '%') {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size()) {
      unsigned value = 0;
      const auto [p, ec] = std::from_chars(v.data() + i + 1, v.data() + i + 3, value, 16);
      if (ec == std::errc() && p == v.data() + i + 3) {
        out += static_cast<char>(value);
        i += 2;
        continue;
      }
    }
    out += v[i];
  }
  return out;
}

struct Line {
  std::string word;
  std::map<std::string, std::string> fields;

  [[nodiscard]] bool has(const std::string& key) const { return fields.count(key) != 0; }
  [[nodiscard]] const std::string& get(const std::string& key) const {
    const auto it = fields.find(key);
    if (it == fields.end()) throw_sys_error(EPROTO, "recv", word + " without " + key);
    return it->second;
  }
  [[nodiscard]] std::uint64_t num(const std::string& key) const {
    const std::string& v = get(key);
    std::uint64_t n = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) {
      throw_sys_error(EPROTO, "recv", word + " " + key + "=" + v + " is not a number");
    }
    return n;
  }
};

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string format_line(const std::string& word, const Fields& fields) {
  std::string out = word;
  for (const auto& [k, v] : fields) out += " " + k + "=" + escape(v);
  return out;
}

Line parse_line(const std::string& text) {
  Line line;
  std::size_t i = text.find(' ');
  line.word = text.substr(0, i);
  while (i != std::string::npos) {
    const std::size_t next = text.find(' ', i + 1);
    const std::string item = text.substr(i + 1, next == std::string::npos ? next : next - i - 1);
    const std::size_t eq = item.find('=');
    if (eq != std::string::npos) line.fields[item.substr(0, eq)] = unescape(item.substr(eq + 1));
    i = next;
  }
  return line;
}

void send_line(int fd, const std::string& word, const Fields& fields = {}) {
  const std::string text = format_line(word, fields) + "\n";
  write_all(fd, std::as_bytes(std::span(text.data(), text.size())), "control connection");
}

// One line, read a byte at a time (the connection also carries ControlChannel messages, which
// must stay in the socket for their reader). The socket's SO_RCVTIMEO bounds the wait.
Line recv_line(int fd, std::string_view what) {
  constexpr std::size_t kMaxLine = 16 << 10;
  std::string text;
  while (true) {
    char c = 0;
    const ssize_t n = ::recv(fd, &c, 1, 0);
    if (n == 1) {
      if (c == '\n') break;
      text += c;
      if (text.size() > kMaxLine) throw_sys_error(EPROTO, "recv", std::string(what) + ": too long");
      continue;
    }
    if (n == 0) {
      throw_sys_error(ECONNRESET, "recv",
                      std::string(what) + " on the control connection (the other host closed it)");
    }
    const int err = errno;
    if (err == EINTR) {
      throw_if_interrupted("recv", what);
      continue;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
      throw_sys_error(ETIMEDOUT, "recv", std::string(what) + " on the control connection");
    }
    throw_sys_error(err, "recv", std::string(what) + " on the control connection");
  }
  return parse_line(text);
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

// A transport that counts what it received (the watchdog's progress on this side) and runs
// `on_timeout` at every receive that timed out.
class Counted final : public Transport {
 public:
  Counted(Transport& inner, std::atomic<std::uint64_t>& progress,
          std::function<void()> on_timeout = {})
      : inner_(inner), progress_(progress), on_timeout_(std::move(on_timeout)) {}
  void attach(Role role, pid_t peer) override { inner_.attach(role, peer); }
  void send(std::span<const std::byte> msg) override { inner_.send(msg); }
  Received recv(std::span<std::byte> msg) override {
    const Received got = inner_.recv(msg);
    if (got == Received::kTimeout) {
      if (on_timeout_) on_timeout_();
    } else {
      progress_.fetch_add(1, std::memory_order_relaxed);
    }
    return got;
  }

 private:
  Transport& inner_;
  std::atomic<std::uint64_t>& progress_;
  std::function<void()> on_timeout_;
};

// A watchdog on this side's progress: no message for `stall` interrupts this thread's waits.
Watchdog progress_watchdog(const std::string& other, std::chrono::milliseconds stall,
                           const std::atomic<std::uint64_t>& progress);

std::string field_of(const ContextEntries& entries, const std::string& key) {
  for (const auto& [k, v] : entries) {
    if (k == key) return v;
  }
  return "unknown";
}

// ---- the server ----

volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = &on_stop;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the accept loop's poll returns at once
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

class Session {
 public:
  Session(UniqueFd fd, const ServeConfig& config, const sockaddr_in& client)
      : fd_(std::move(fd)), config_(config), client_(client), name_(address_name(client)) {}

  // Returns why the session ended.
  std::string run() {
    try {
      set_io_timeout(fd_.get(), config_.watchdog, "control connection from " + name_);
      const Line hello = recv_line(fd_.get(), "HELLO");
      if (hello.word != "HELLO" || !hello.has("version")) return "not an ipcbench client";
      const std::uint64_t version = hello.num("version");
      if (version != static_cast<std::uint64_t>(kPeerProtocolVersion)) {
        const std::string why = "protocol version mismatch: this server speaks version " +
                                std::to_string(kPeerProtocolVersion) + ", the client version " +
                                std::to_string(version);
        send_line(fd_.get(), "REFUSE", {{"reason", why}});
        return why;
      }
      const ContextEntries machine = system_context();
      send_line(fd_.get(), "WELCOME",
                {{"version", std::to_string(kPeerProtocolVersion)},
                 {"kernel", field_of(machine, "kernel")},
                 {"cpu_model", field_of(machine, "cpu_model")},
                 {"cpus", std::to_string(allowed_cpus().size())}});
    } catch (const std::exception& e) {
      return e.what();
    }
    std::uint64_t cases = 0;
    while (true) {
      Line request;
      try {
        request = recv_line(fd_.get(), "the next request");
      } catch (const std::exception& e) {
        return std::to_string(cases) + " cases; " + e.what();
      }
      if (request.word == "BYE") return std::to_string(cases) + " cases";
      try {
        if (request.word != "CASE")
          throw_sys_error(EPROTO, "recv", "unknown request " + request.word);
        run_case(request);
        ++cases;
      } catch (const std::exception& e) {
        // A failed case ends the session: the connection may hold the case's own messages.
        try {
          send_line(fd_.get(), "FAILED", {{"reason", e.what()}});
        } catch (const std::exception&) {
        }
        return std::to_string(cases) + " cases, then: " + e.what();
      }
    }
  }

 private:
  void run_case(const Line& c) {
    const std::string& id = c.get("transport");
    const std::string& pattern = c.get("pattern");
    const std::size_t bytes = c.num("bytes");
    if (const std::string why = peer_unsupported(id, bytes); !why.empty()) {
      send_line(fd_.get(), "REFUSE", {{"reason", why}});
      return;
    }
    const TransportInfo& info = *find_transport(id);
    const Capabilities caps = info.describe();
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = bytes;
    options.peer_timeout = config_.watchdog;
    options.recv_timeout = std::chrono::milliseconds(c.num("recv_timeout_ms"));
    const int cpu = config_.cpu >= 0 ? config_.cpu : default_cpu_pair().consumer;
    ScopedPin pinned(cpu);
    std::atomic<std::uint64_t> progress{0};
    Framer framer(caps.payload, bytes);
    if (pattern == "Load") {
      LoadConfig lc;
      lc.message_bytes = bytes;
      lc.rate = std::stod(c.get("rate"));
      lc.messages = c.num("messages");
      lc.warmup = c.num("warmup");
      const LoadPlan plan = load_plan(lc, caps);
      PeerEndPtr down = info.peer->make(options, Role::kConsumer, config_.address.address_be);
      PeerEndPtr up = info.peer->make(options, Role::kConsumer, config_.address.address_be);
      down->set_peer(client_.sin_addr.s_addr, static_cast<std::uint16_t>(c.num("port")));
      up->set_peer(client_.sin_addr.s_addr, static_cast<std::uint16_t>(c.num("up_port")));
      send_line(fd_.get(), "READY",
                {{"port", std::to_string(down->port())}, {"up_port", std::to_string(up->port())}});
      LoadShared shared;
      shared.last.store(plan.warmup + plan.messages - 1);
      // A lossy consumer ends at a receive timeout once the client has said STOP.
      Counted counted(*down, progress, [&] {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) > 0 && recv_line(fd_.get(), "STOP").word == "STOP") {
          shared.stop.store(1, std::memory_order_release);
        }
      });
      {
        const Watchdog watchdog = progress_watchdog("client " + name_, config_.watchdog, progress);
        down->attach(Role::kConsumer, 0);
        up->attach(Role::kConsumer, 0);
        consume_load(counted, *up, plan, framer, shared);
      }
      send_line(fd_.get(), "TALLY",
                {{"received", std::to_string(shared.received)},
                 {"corrupt", std::to_string(shared.corrupt)},
                 {"reordered", std::to_string(shared.reordered)},
                 {"cpu_ns", std::to_string(shared.cpu_ns)},
                 {"context_switches", std::to_string(shared.context_switches)}});
      return;
    }
    PairConfig pc;
    pc.transport_id = id;
    pc.pattern = pattern == "Stream" ? Pattern::kStream : Pattern::kRoundTrip;
    pc.message_bytes = bytes;
    pc.iterations = c.num("iterations");
    pc.warmup = c.num("warmup");
    pc.batch = c.num("batch");
    pc.burst_k = c.num("burst_k");
    pc.burst_samples = c.num("burst_samples");
    pc.watchdog = config_.watchdog;
    const PairPlan plan = pair_plan(pc, caps);
    PeerEndPtr end = info.peer->make(options, Role::kConsumer, config_.address.address_be);
    end->set_peer(client_.sin_addr.s_addr, static_cast<std::uint16_t>(c.num("port")));
    send_line(fd_.get(), "READY", {{"port", std::to_string(end->port())}});
    PairShared shared;
    shared.last.store(planned_last(plan));
    std::optional<ControlChannel> control;
    if (plan.lossy) control.emplace(Role::kConsumer, fd_.get());
    Counted counted(*end, progress);
    {
      const Watchdog watchdog = progress_watchdog("client " + name_, config_.watchdog, progress);
      end->attach(Role::kConsumer, 0);
      if (plan.pattern == Pattern::kRoundTrip) {
        consume_round_trips(counted, plan, framer, shared, control ? &*control : nullptr);
      } else {
        consume_stream(counted, plan, framer, shared, control ? &*control : nullptr);
      }
    }
    const ConsumerTally& t = shared.tally;
    send_line(fd_.get(), "TALLY",
              {{"received", std::to_string(t.received)},
               {"bytes", std::to_string(t.bytes)},
               {"lost", std::to_string(t.lost)},
               {"corrupt", std::to_string(t.corrupt)},
               {"reordered", std::to_string(t.reordered)},
               {"coalesced", std::to_string(t.coalesced)},
               {"cpu_ns", std::to_string(t.cpu_ns)},
               {"context_switches", std::to_string(t.context_switches)}});
  }

  UniqueFd fd_;
  const ServeConfig& config_;
  sockaddr_in client_;
  std::string name_;
};

Watchdog progress_watchdog(const std::string& other, std::chrono::milliseconds stall,
                           const std::atomic<std::uint64_t>& progress) {
  return Watchdog({Watched{-1, other}}, stall, &progress);
}

}  // namespace

int serve(const ServeConfig& config) {
  install_signal_handling();
  g_stop = 0;
  install_stop_handlers();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = config.address.address_be;
  addr.sin_port = htons(config.address.port);
  UniqueFd listener = bind_inet(SOCK_STREAM, /*reuse_addr=*/true, addr);
  // Backlog 1: one client is served at a time; the next waits in the queue (its greeting is
  // bounded by its own timeout).
  if (::listen(listener.get(), 1) != 0) throw_sys_error(errno, "listen", address_name(addr));
  if (config.on_listening) config.on_listening(local_port(listener.get()));
  std::uint64_t served = 0;
  while (g_stop == 0) {
    pollfd p{listener.get(), POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;  // quiet, or a signal: look at the stop flag
    sockaddr_in from{};
    socklen_t len = sizeof from;
    UniqueFd conn(
        ::accept4(listener.get(), reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    std::cerr << "ipcbench --serve: client " << address_name(from) << " connected" << std::endl;
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::cerr << "ipcbench --serve: fork: " << std::strerror(errno) << std::endl;
      continue;
    }
    if (pid == 0) {
      // The session: it dies with the server, and ends on its own waits' bounds.
      (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      listener.reset();
      std::string why;
      try {
        why = Session(std::move(conn), config, from).run();
      } catch (const std::exception& e) {
        why = e.what();
      }
      std::cerr << "ipcbench --serve: client " << address_name(from) << ": session ended (" << why
                << ")" << std::endl;
      std::fflush(nullptr);
      ::_exit(0);
    }
    conn.reset();
    // One client at a time: wait for the session, looking at the stop flag.
    while (true) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) break;
      if (g_stop != 0) {
        ::kill(pid, SIGKILL);
        (void)::waitpid(pid, &status, 0);
        break;
      }
      (void)::poll(nullptr, 0, 50);
    }
    ++served;
    if (config.max_clients != 0 && served >= config.max_clients) break;
  }
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  return 0;
}

// ---- the client ----

struct PeerClient::Impl {
  UniqueFd fd;
  std::uint32_t local_be = 0;  // this host's address on the control connection's path
};

PeerClient::PeerClient(const HostPort& server, std::chrono::milliseconds timeout)
    : server_(server), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  install_signal_handling();
  open();
}

void PeerClient::open() {
  const HostPort& server = server_;
  const std::chrono::milliseconds timeout = timeout_;
  impl_->fd.reset();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = server.address_be;
  to.sin_port = htons(server.port);
  try {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) throw_sys_error(errno, "socket", server.text());
    connect_within(fd.get(), to, timeout);
    set_io_timeout(fd.get(), timeout, "control connection to " + server.text());
    send_line(fd.get(), "HELLO", {{"version", std::to_string(kPeerProtocolVersion)}});
    const Line welcome = recv_line(fd.get(), "the server's greeting");
    if (welcome.word == "REFUSE") throw std::runtime_error("refused: " + welcome.get("reason"));
    if (welcome.word != "WELCOME") {
      throw std::runtime_error("not an ipcbench server (it answered '" + welcome.word + "')");
    }
    if (welcome.num("version") != static_cast<std::uint64_t>(kPeerProtocolVersion)) {
      throw std::runtime_error("protocol version mismatch: this client speaks version " +
                               std::to_string(kPeerProtocolVersion) + ", the server version " +
                               welcome.get("version"));
    }
    info_.address = server.text();
    info_.kernel = welcome.get("kernel");
    info_.cpu_model = welcome.get("cpu_model");
    info_.cpus = welcome.get("cpus");
    impl_->local_be = local_address(fd.get()).sin_addr.s_addr;
    impl_->fd = std::move(fd);
  } catch (const std::exception& e) {
    throw std::runtime_error("--peer=" + server.text() + ": " + e.what());
  }
}

PeerClient::~PeerClient() {
  if (impl_ && impl_->fd.valid()) {
    try {
      send_line(impl_->fd.get(), "BYE");
    } catch (const std::exception&) {
    }
  }
}

namespace {

// The session is usable: open, and the server has not closed it (an idle or failed session).
bool session_open(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) == 0) return true;
  char c = 0;
  return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;  // data waiting would be a protocol error
}

// Runs `body` (the producer's part) under a watchdog on `progress`; a stall becomes an error
// naming the server.
template <typename Body>
void watched(const std::string& server, std::chrono::milliseconds stall,
             std::atomic<std::uint64_t>& progress, Body&& body) {
  bool fired = false;
  std::string reason;
  try {
    const Watchdog watchdog = progress_watchdog("server " + server, stall, progress);
    try {
      body();
    } catch (...) {
      fired = watchdog.fired();
      reason = watchdog.reason();
      throw;
    }
  } catch (const std::exception& e) {
    set_interrupted(false);
    if (fired) throw std::runtime_error(reason + ": " + e.what());
    throw;
  }
}

// The mechanism `id`, which must cross hosts at `bytes` (Unsupported naming why otherwise).
const TransportInfo& across_hosts(const std::string& id, std::size_t bytes) {
  if (const std::string why = peer_unsupported(id, bytes); !why.empty()) {
    throw Unsupported(id + ": " + why);
  }
  return *find_transport(id);
}

Line expect_ready(int fd) {
  const Line ready = recv_line(fd, "the server's answer to CASE");
  if (ready.word == "REFUSE")
    throw std::runtime_error("the server refused: " + ready.get("reason"));
  if (ready.word == "FAILED") throw std::runtime_error("the server failed: " + ready.get("reason"));
  if (ready.word != "READY") throw_sys_error(EPROTO, "recv", "READY (got " + ready.word + ")");
  return ready;
}

Line expect_tally(int fd) {
  const Line tally = recv_line(fd, "the server's tally");
  if (tally.word == "FAILED") {
    throw std::runtime_error("the server's consumer failed: " + tally.get("reason"));
  }
  if (tally.word != "TALLY") throw_sys_error(EPROTO, "recv", "TALLY (got " + tally.word + ")");
  return tally;
}

}  // namespace

PairResult PeerClient::run_pair(const PairConfig& config) {
  const std::string id = config.transport_id;
  const TransportInfo& info = across_hosts(id, config.message_bytes);
  const Capabilities caps = info.describe();
  PairConfig c = config;
  if (!caps.may_lose) c.deadline_ns = 0;  // the consumer cannot learn of a cut in time
  c.fault = {};
  c.before_timing = nullptr;
  const PairPlan plan = pair_plan(c, caps);
  PairResult result;
  result.batch = plan.pattern == Pattern::kStream ? plan.batch : 0;
  result.checks =
      "sequence number + every payload byte (no one-way time: the stamp is the other "
      "host's clock)";
  result.across_hosts = true;
  try {
    if (!session_open(impl_->fd.get())) open();
    const int fd = impl_->fd.get();
    TransportOptions options;
    options.name = unique_name();
    options.message_bytes = config.message_bytes;
    options.peer_timeout = config.watchdog;
    // As on one host (run_pair): a lossy stream's consumer looks at the control connection soon.
    if (plan.lossy && plan.pattern == Pattern::kStream) {
      options.recv_timeout = std::chrono::milliseconds(5);
    }
    PeerEndPtr end = info.peer->make(options, Role::kProducer, impl_->local_be);
    send_line(fd, "CASE",
              {{"transport", id},
               {"pattern", std::string(pattern_name(plan.pattern))},
               {"bytes", std::to_string(plan.bytes)},
               {"iterations", std::to_string(plan.iterations)},
               {"warmup", std::to_string(plan.warmup)},
               {"batch", std::to_string(plan.batch)},
               {"burst_k", std::to_string(plan.burst_k)},
               {"burst_samples", std::to_string(plan.burst_samples)},
               {"recv_timeout_ms", std::to_string(options.recv_timeout.count())},
               {"port", std::to_string(end->port())}});
    const Line ready = expect_ready(fd);
    end->set_peer(server_.address_be, static_cast<std::uint16_t>(ready.num("port")));
    std::optional<ControlChannel> control;
    if (plan.lossy) control.emplace(Role::kProducer, fd);
    PairShared shared;
    shared.last.store(planned_last(plan));
    Framer framer(caps.payload, config.message_bytes);
    std::atomic<std::uint64_t> progress{0};
    auto tally = std::make_unique<ProducerTally>();
    {
      ScopedPin pinned(config.cpus.producer);
      watched(server_.text(), config.watchdog, progress, [&] {
        end->attach(Role::kProducer, 0);
        ControlChannel* ctl = control ? &*control : nullptr;
        if (plan.pattern == Pattern::kRoundTrip) {
          produce_round_trips(*end, plan, framer, progress, *tally, shared, ctl, nullptr);
        } else {
          produce_stream(*end, plan, framer, progress, *tally, shared, ctl, nullptr);
        }
      });
    }
    const Line t = expect_tally(fd);
    ConsumerTally report;
    report.received = t.num("received");
    report.bytes = t.num("bytes");
    report.lost = t.num("lost");
    report.corrupt = t.num("corrupt");
    report.reordered = t.num("reordered");
    report.coalesced = t.num("coalesced");
    report.cpu_ns = t.num("cpu_ns");
    report.context_switches = t.num("context_switches");
    // The replies' stamps are the other host's clock: no one-way time across hosts.
    tally->oneway_rev = Histogram{};
    gather_pair_result(result, *tally, report, plan);
  } catch (const std::exception& e) {
    impl_->fd.reset();  // the session may hold the case's messages: the next case opens a new one
    throw std::runtime_error(id + ": " + e.what());
  }
  return result;
}

LoadResult PeerClient::run_load(const LoadConfig& config) {
  const std::string id = config.transport_id;
  const TransportInfo& info = across_hosts(id, config.message_bytes);
  const Capabilities caps = info.describe();
  if (!(config.rate > 0) || config.messages == 0) {
    throw std::invalid_argument(id + ": Load needs a positive rate and at least one message");
  }
  LoadConfig c = config;
  if (!caps.may_lose) c.deadline_ns = 0;  // the consumer cannot learn of a cut in time
  LoadPlan plan = load_plan(c, caps);
  const std::vector<int> placement = load_placement(config.cpus);
  plan.receiver_cpu = placement[1];
  LoadResult result;
  result.placement = placement;
  result.sharing = cpu_sharing(placement);
  result.checks = checks_applied(caps.payload);
  result.offered_per_second = config.rate;
  try {
    if (!session_open(impl_->fd.get())) open();
    const int fd = impl_->fd.get();
    TransportOptions options;
    options.message_bytes = config.message_bytes;
    options.peer_timeout = config.watchdog;
    if (plan.lossy) options.recv_timeout = kLoadLossyRecvTimeout;
    options.name = unique_name();
    PeerEndPtr down = info.peer->make(options, Role::kProducer, impl_->local_be);
    options.name = unique_name();
    PeerEndPtr up = info.peer->make(options, Role::kProducer, impl_->local_be);
    send_line(fd, "CASE",
              {{"transport", id},
               {"pattern", "Load"},
               {"bytes", std::to_string(plan.bytes)},
               {"rate", number(plan.rate)},
               {"messages", std::to_string(plan.messages)},
               {"warmup", std::to_string(plan.warmup)},
               {"recv_timeout_ms", std::to_string(options.recv_timeout.count())},
               {"port", std::to_string(down->port())},
               {"up_port", std::to_string(up->port())}});
    const Line ready = expect_ready(fd);
    down->set_peer(server_.address_be, static_cast<std::uint16_t>(ready.num("port")));
    up->set_peer(server_.address_be, static_cast<std::uint16_t>(ready.num("up_port")));
    LoadShared shared;
    shared.last.store(plan.warmup + plan.messages - 1);
    Framer framer(caps.payload, config.message_bytes);
    std::atomic<std::uint64_t> progress{0};
    auto tally = std::make_unique<LoadTally>();
    {
      ScopedPin pinned(config.cpus.producer);
      watched(server_.text(), config.watchdog, progress, [&] {
        down->attach(Role::kProducer, 0);
        up->attach(Role::kProducer, 0);
        produce_load(*down, *up, plan, framer, progress, *tally, shared);
      });
    }
    if (plan.lossy) send_line(fd, "STOP");  // the consumer ends at its next receive timeout
    const Line t = expect_tally(fd);
    LoadConsumerCounts counts;
    counts.received = t.num("received");
    counts.corrupt = t.num("corrupt");
    counts.reordered = t.num("reordered");
    counts.cpu_ns = t.num("cpu_ns");
    counts.context_switches = t.num("context_switches");
    gather_load_result(result, *tally, counts);
  } catch (const std::exception& e) {
    impl_->fd.reset();
    throw std::runtime_error(id + ": " + e.what());
  }
  return result;
}

}  // namespace ipcbench
