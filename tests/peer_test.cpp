// Two hosts (--serve / --peer), over loopback: the address parser, the server and the client with
// every pattern for tcp and udp, the protocol version check, a client killed mid-case, an
// unreachable server and SIGTERM. (The same across two network namespaces: two_hosts_test.sh.)
#include "harness/peer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "harness/cpus.hpp"
#include "harness/resolve.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;

HostPort loopback(std::uint16_t port) {
  return parse_host_port("127.0.0.1:" + std::to_string(port), "--peer", false);
}

// The value in an invalid_argument's message.
std::string refusal(std::string_view text, bool any_port) {
  try {
    (void)parse_host_port(text, "--peer", any_port);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(HostPort, ParsesAnAddressAndAPort) {
  const HostPort hp = parse_host_port("198.18.0.2:7000", "--peer", false);
  EXPECT_EQ(hp.port, 7000);
  EXPECT_EQ(hp.address_be, ::inet_addr("198.18.0.2"));
  EXPECT_EQ(hp.text(), "198.18.0.2:7000");
  EXPECT_EQ(parse_host_port("127.0.0.1:0", "--serve", true).port, 0);
}

TEST(HostPort, RefusesWhatIsNotOneNamingTheValue) {
  for (const char* bad :
       {"localhost:80", "127.0.0.1", "127.0.0.1:", ":80", "1.2.3:80", "256.1.1.1:80", "127.0.0.1:x",
        "127.0.0.1:70000", "127.0.0.1:-1", "127.0.0.1:0", "127.0.0.1:80:90", "::1:80"}) {
    const std::string why = refusal(bad, false);
    EXPECT_NE(why.find(std::string("--peer=") + bad), std::string::npos)
        << bad << " was " << (why.empty() ? "accepted" : "refused without naming it: " + why);
  }
  EXPECT_EQ(refusal("127.0.0.1:0", true), "") << "a server may take any free port";
}

TEST(PeerUnsupported, OnlySocketsCrossHosts) {
  EXPECT_EQ(peer_unsupported("tcp", 64), "");
  EXPECT_EQ(peer_unsupported("udp", 64), "");
  for (const char* one_host : {"pipe", "fifo", "shm_futex", "posix_mq", "unix_stream", "signal"}) {
    EXPECT_EQ(peer_unsupported(one_host, 64), std::string(kOneHostOnly)) << one_host;
  }
  EXPECT_NE(peer_unsupported("udp", 1 << 20).find("largest message"), std::string::npos);
  EXPECT_NE(peer_unsupported("carrier_pigeon", 64).find("carrier_pigeon"), std::string::npos);
}

// A server in a forked child on 127.0.0.1, any port; serves `clients` clients, then exits 0. The
// destructor ends it (SIGTERM, then SIGKILL after 5 s) and reaps it.
class Server {
 public:
  explicit Server(std::uint64_t clients, std::chrono::milliseconds watchdog = 5s) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      ServeConfig c;
      c.address = parse_host_port("127.0.0.1:0", "--serve", true);
      c.watchdog = watchdog;
      c.max_clients = clients;
      c.on_listening = [&](std::uint16_t port) {
        (void)::write(fds[1], &port, sizeof port);
        ::close(fds[1]);
      };
      int rc = 1;
      try {
        rc = serve(c);
      } catch (...) {
      }
      ::_exit(rc);
    }
    ::close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 10'000) == 1) (void)::read(fds[0], &port_, sizeof port_);
    ::close(fds[0]);
  }
  ~Server() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    (void)wait(5s);
    if (!ended_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  // Waits up to `limit` for the server to exit: its exit code, or -1 (still running, or a signal).
  int wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ended_ && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        ended_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    return ended_ ? code_ : -1;
  }

 private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  bool ended_ = false;
  int code_ = -1;
};

PairConfig pair_config(const std::string& id, Pattern pattern, std::size_t bytes) {
  PairConfig c;
  c.transport_id = id;
  c.pattern = pattern;
  c.message_bytes = bytes;
  c.iterations = pattern == Pattern::kRoundTrip ? 200 : 4;
  c.cpus = default_cpu_pair();
  c.watchdog = 5s;
  return c;
}

TEST(Peer, RoundTripsAndStreamsOfTcpAndUdpAreCheckedAcrossTheConnection) {
  Server server(1);
  ASSERT_NE(server.port(), 0) << "the server did not start";
  PeerClient client(loopback(server.port()), 5s);
  EXPECT_EQ(client.info().address, "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_FALSE(client.info().kernel.empty());
  for (const char* id : {"tcp", "udp"}) {
    for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
      for (std::size_t bytes : {std::size_t{64}, std::size_t{16384}}) {
        SCOPED_TRACE(std::string(id) + " " + std::string(pattern_name(pattern)) + " " +
                     std::to_string(bytes));
        const PairConfig c = pair_config(id, pattern, bytes);
        const PairResult r = client.run_pair(c);
        EXPECT_TRUE(r.across_hosts);
        EXPECT_EQ(r.corrupt, 0u);
        EXPECT_NE(r.checks.find("every payload byte"), std::string::npos) << r.checks;
        // No one-way time across hosts: the clocks differ.
        EXPECT_EQ(r.oneway.count(), 0u);
        EXPECT_EQ(r.oneway_fwd.count(), 0u);
        EXPECT_EQ(r.oneway_rev.count(), 0u);
        if (pattern == Pattern::kRoundTrip) {
          // Every round trip that came back was timed, every other counted lost; the consumer
          // counted every request it got.
          EXPECT_EQ(r.rtt.count() + r.lost, r.sent);
          EXPECT_GE(r.received, r.rtt.count());
          if (std::string(id) == "tcp") {
            EXPECT_EQ(r.rtt.count(), c.iterations);
          }
        } else {
          EXPECT_EQ(r.sent, c.iterations * r.batch);
          EXPECT_EQ(r.received + r.lost, r.sent);
          EXPECT_EQ(r.bytes_received, r.received * bytes);
        }
        if (std::string(id) == "tcp") {
          EXPECT_EQ(r.lost, 0u);
        }
        EXPECT_GT(r.timed_seconds, 0);
      }
    }
  }
}

TEST(Peer, LoadRunsOnItsScheduleAcrossTheConnection) {
  Server server(1);
  ASSERT_NE(server.port(), 0);
  PeerClient client(loopback(server.port()), 5s);
  for (const char* id : {"tcp", "udp"}) {
    SCOPED_TRACE(id);
    LoadConfig c;
    c.transport_id = id;
    c.message_bytes = 64;
    c.rate = 2000;
    c.messages = 200;
    c.warmup = 10;
    c.cpus = default_cpu_pair();
    c.watchdog = 5s;
    const LoadResult r = client.run_load(c);
    EXPECT_EQ(r.sent, 200u);
    EXPECT_EQ(r.received + r.lost, r.sent);
    EXPECT_EQ(r.corrupt, 0u);
    EXPECT_EQ(r.corrected.count(), r.received);
    EXPECT_GT(r.achieved_per_second, 0);
  }
}

TEST(Peer, ACaseOfAOneHostMechanismIsRefusedAsUnsupported) {
  Server server(1);
  ASSERT_NE(server.port(), 0);
  PeerClient client(loopback(server.port()), 5s);
  EXPECT_THROW((void)client.run_pair(pair_config("pipe", Pattern::kRoundTrip, 64)), Unsupported);
  // ...and the session goes on.
  EXPECT_NO_THROW((void)client.run_pair(pair_config("tcp", Pattern::kRoundTrip, 64)));
}

// Speaks the protocol by hand: a HELLO of another version is refused with both versions named.
TEST(Peer, AClientOfAnotherProtocolVersionIsRefusedNamingBoth) {
  Server server(1);
  ASSERT_NE(server.port(), 0);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  const std::string hello = "HELLO version=999\n";
  ASSERT_EQ(::write(fd.get(), hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  std::string answer;
  char c = 0;
  pollfd p{fd.get(), POLLIN, 0};
  while (::poll(&p, 1, 5000) == 1 && ::read(fd.get(), &c, 1) == 1 && c != '\n') answer += c;
  EXPECT_EQ(answer.rfind("REFUSE ", 0), 0u) << answer;
  EXPECT_NE(answer.find("version%201"), std::string::npos) << answer;
  EXPECT_NE(answer.find("version%20999"), std::string::npos) << answer;
  EXPECT_EQ(server.wait(5s), 0) << "the server did not go on to end after its one client";
}

// A client SIGKILLed in the middle of a long stream ends its session only: the server then serves
// the next client, whose cases run whole.
TEST(Peer, TheServerSurvivesAClientKilledMidCaseAndServesTheNext) {
  Server server(2, 2s);
  ASSERT_NE(server.port(), 0);
  const pid_t doomed = ::fork();
  if (doomed == 0) {
    try {
      PeerClient client(loopback(server.port()), 5s);
      PairConfig c = pair_config("tcp", Pattern::kStream, 65536);
      c.iterations = 1'000'000;  // far longer than it will live
      (void)client.run_pair(c);
    } catch (...) {
    }
    ::_exit(0);
  }
  std::this_thread::sleep_for(500ms);
  ::kill(doomed, SIGKILL);
  ::waitpid(doomed, nullptr, 0);
  const auto start = std::chrono::steady_clock::now();
  PeerClient next(loopback(server.port()), 10s);
  const PairResult r = next.run_pair(pair_config("tcp", Pattern::kRoundTrip, 64));
  EXPECT_EQ(r.rtt.count(), 200u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_EQ(r.lost, 0u);
}

TEST(Peer, AnUnreachableServerIsAnErrorNamingItWithinTheTimeout) {
  // A port nobody listens on: bound and closed again, so the kernel just gave it out free.
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::uint16_t port = ntohs(a.sin_port);
  probe.reset();
  const auto start = std::chrono::steady_clock::now();
  try {
    PeerClient client(loopback(port), 2s);
    ADD_FAILURE() << "connected to a port nobody listens on";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(Peer, SigtermEndsTheServerCleanly) {
  Server server(0);
  ASSERT_NE(server.port(), 0);
  ::kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.wait(5s), 0);
}

}  // namespace
}  // namespace ipcbench
