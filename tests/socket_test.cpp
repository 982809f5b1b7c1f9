// The socket transports: private 0600 paths that are gone once connected, loopback-only
// addresses, whole datagrams of the declared largest size, and UDP losses counted, never hidden.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"
#include "transports/os/unix_socket.hpp"

namespace ipcbench {
namespace {

TransportPtr make(std::string_view id, const std::filesystem::path& root, std::size_t bytes,
                  std::chrono::milliseconds recv_timeout = std::chrono::milliseconds(200)) {
  TransportOptions options;
  options.name = unique_name();
  options.tmp_root = root;
  options.message_bytes = bytes;
  options.recv_timeout = recv_timeout;
  return find_transport(id)->make(options);
}

// The inodes of this process's open sockets.
std::vector<std::string> socket_inodes() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(e.path(), ec).string();
    if (!ec && target.rfind("socket:[", 0) == 0) out.push_back(target.substr(8, target.size() - 9));
  }
  return out;
}

struct InetSocket {
  std::string local, remote, state;  // as /proc/net/{tcp,udp} prints them: hex IP:port
};

// This process's sockets listed in /proc/self/net/<table> (tcp or udp), by inode.
std::map<std::string, InetSocket> inet_sockets(const std::string& table) {
  std::map<std::string, InetSocket> out;
  const std::vector<std::string> mine = socket_inodes();
  std::ifstream in("/proc/self/net/" + table);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
        inode;
    if (std::find(mine.begin(), mine.end(), inode) != mine.end()) {
      out[inode] = {local, remote, state};
    }
  }
  return out;
}

constexpr const char* kLoopbackHex = "0100007F";  // 127.0.0.1 as /proc/net prints it

PairConfig udp_config(Pattern pattern) {
  PairConfig c;
  c.transport_id = "udp";
  c.pattern = pattern;
  c.message_bytes = 64;
  c.iterations = pattern == Pattern::kRoundTrip ? 40 : 3;
  c.warmup = 3;
  c.batch = 4096;
  c.cpus = default_cpu_pair();
  c.watchdog = std::chrono::milliseconds(5000);
  return c;
}

TEST(UnixDgramTransport, SocketFileIsMode0600WhateverTheUmask) {
  test::ScratchDir dir;
  const mode_t old = ::umask(0);
  const std::string path = (dir.path() / "probe.sock").string();
  UniqueFd fd = bind_unix_socket(SOCK_DGRAM, path);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST(UnixDgramTransport, NoPathIsLeftOnceBuilt) {
  test::ScratchDir dir;
  TransportPtr t = make("unix_dgram", dir.path(), 64);
  // Both sockets are bound and connected in the constructor; the paths and the private
  // directory are already gone, before fork() or attach().
  EXPECT_TRUE(dir.leftovers().empty());
}

// The declared largest datagram is exactly the kernel's: one byte more is refused.
TEST(UnixDgramTransport, DeclaredLargestDatagramIsTheKernelsLimit) {
  const std::size_t max = find_transport("unix_dgram")->describe().max_message_bytes;
  ASSERT_GT(max, 0u);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds), 0);
  std::vector<std::byte> buf(max + 1);
  EXPECT_EQ(::send(fds[0], buf.data(), max, 0), static_cast<ssize_t>(max));
  EXPECT_EQ(::recv(fds[1], buf.data(), buf.size(), 0), static_cast<ssize_t>(max));
  errno = 0;
  EXPECT_EQ(::send(fds[0], buf.data(), max + 1, 0), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  ::close(fds[0]);
  ::close(fds[1]);
  test::ScratchDir dir;
  try {
    (void)make("unix_dgram", dir.path(), max + 1);
    FAIL() << "a datagram of " << max + 1 << " bytes was accepted";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("SO_SNDBUF"), std::string::npos) << e.what();
  }
}

// A datagram of another size than the receiver expects is an error naming both sizes.
TEST(UnixDgramTransport, DatagramOfAnotherSizeIsAnErrorNotTruncated) {
  for (const char* id : {"unix_dgram", "udp"}) {
    SCOPED_TRACE(id);
    test::ScratchDir dir;
    TransportPtr t = make(id, dir.path(), 100);
    install_signal_handling();
    const pid_t parent = ::getpid();
    ChildProcess child("sender", [&] {
      t->attach(Role::kConsumer, parent);
      std::vector<std::byte> msg(100, std::byte{7});
      t->send(msg);
    });
    t->attach(Role::kProducer, child.pid());
    std::vector<std::byte> small(64);
    try {
      Received got;
      do {
        got = t->recv(small);
      } while (got == Received::kTimeout);
      FAIL() << "a 100-byte datagram was received as 64 bytes";
    } catch (const std::system_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("100 bytes"), std::string::npos) << what;
      EXPECT_NE(what.find("64"), std::string::npos) << what;
    }
    bool ok = false;
    EXPECT_EQ(child.wait(&ok), "exited with status 0");
  }
}

TEST(TcpTransport, ListensAndConnectsOnLoopbackOnly) {
  test::ScratchDir dir;
  TransportPtr t = make("tcp", dir.path(), 64);
  // Only the listener is listed: the client's socket is bound but neither listens nor connects.
  const auto sockets = inet_sockets("tcp");
  ASSERT_EQ(sockets.size(), 1u);
  EXPECT_EQ(sockets.begin()->second.local.substr(0, 8), kLoopbackHex);
  EXPECT_EQ(sockets.begin()->second.state, "0A");  // TCP_LISTEN
}

// Another local process that connects first is refused; the real client still gets through.
TEST(TcpTransport, ServerAcceptsOnlyItsOwnClient) {
  test::ScratchDir dir;
  TransportPtr t = make("tcp", dir.path(), 64);
  std::string port_hex;
  for (const auto& [inode, s] : inet_sockets("tcp")) {
    if (s.state == "0A") port_hex = s.local.substr(9);
  }
  ASSERT_FALSE(port_hex.empty());
  UniqueFd stranger(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoul(port_hex, nullptr, 16)));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(stranger.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  install_signal_handling();
  const pid_t parent = ::getpid();
  ChildProcess child("client", [&] {
    t->attach(Role::kConsumer, parent);
    std::vector<std::byte> msg(64, std::byte{42});
    t->send(msg);
  });
  t->attach(Role::kProducer, child.pid());
  std::vector<std::byte> got(64);
  ASSERT_EQ(t->recv(got), Received::kMessage);
  EXPECT_EQ(got, std::vector<std::byte>(64, std::byte{42}));
  for (const auto& [inode, s] : inet_sockets("tcp")) {  // the connection and the stranger's
    EXPECT_EQ(s.local.substr(0, 8), kLoopbackHex) << s.local;
    EXPECT_EQ(s.remote.substr(0, 8), kLoopbackHex) << s.remote;
  }
  char c;
  EXPECT_EQ(::read(stranger.get(), &c, 1), 0);  // the server closed the stranger's connection
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
}

TEST(UdpTransport, SocketsAreBoundAndConnectedOnLoopbackOnly) {
  test::ScratchDir dir;
  TransportPtr t = make("udp", dir.path(), 64);
  const auto sockets = inet_sockets("udp");
  ASSERT_EQ(sockets.size(), 2u);
  for (const auto& [inode, s] : sockets) {
    EXPECT_EQ(s.local.substr(0, 8), kLoopbackHex) << s.local;
    EXPECT_EQ(s.remote.substr(0, 8), kLoopbackHex) << s.remote;
  }
}

TEST(UdpTransport, RecvTimesOutWhenNothingComes) {
  test::ScratchDir dir;
  TransportPtr t = make("udp", dir.path(), 64, std::chrono::milliseconds(20));
  t->attach(Role::kProducer, ::getpid());
  std::vector<std::byte> buf(64);
  EXPECT_EQ(t->recv(buf), Received::kTimeout);
}

// The receiver does not read while the sender sends more than its buffer holds: the kernel drops
// the rest, and the sequence numbers that arrive show exactly which.
TEST(UdpTransport, DatagramsBeyondTheReceiveBufferAreLostAndGapsShowThem) {
  test::ScratchDir dir;
  constexpr std::uint64_t kSent = 2000;  // 2000 x 1000 B: far more than the 208 KiB default
  TransportPtr t = make("udp", dir.path(), 1000, std::chrono::milliseconds(50));
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  SharedRegion<std::uint64_t> received;
  SharedRegion<std::uint64_t> gaps;
  const pid_t parent = ::getpid();
  install_signal_handling();
  ChildProcess child("receiver", [&] {
    t->attach(Role::kConsumer, parent);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(5);  // everything has been sent
    std::vector<std::byte> buf(1000);
    std::uint64_t expected = 0;
    while (t->recv(buf) == Received::kMessage) {
      std::uint64_t seq = 0;
      std::memcpy(&seq, buf.data(), sizeof seq);
      if (seq < expected) ::_exit(6);  // reordered or duplicated
      *gaps += seq - expected;
      expected = seq + 1;
      ++*received;
    }
    *gaps += kSent - expected;
  });
  t->attach(Role::kProducer, child.pid());
  std::vector<std::byte> msg(1000);
  for (std::uint64_t seq = 0; seq < kSent; ++seq) {
    std::memcpy(msg.data(), &seq, sizeof seq);
    t->send(msg);
  }
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
  EXPECT_GT(*received, 0u);
  EXPECT_GT(*gaps, 0u);
  EXPECT_EQ(*received + *gaps, kSent);
  ::close(go[0]);
  ::close(go[1]);
}

// Through the harness: a tiny receive buffer loses datagrams of a stream for real; every one
// sent is either received or counted lost, and the stream still finishes.
TEST(UdpTransport, StreamWithRealLossesAccountsForEveryDatagram) {
  PairConfig c = udp_config(Pattern::kStream);
  c.recv_buffer_bytes = 1;  // the kernel rounds it up to its minimum: a few datagrams
  const PairResult r = run_pair(c);
  EXPECT_EQ(r.sent, 3u * 4096u);
  EXPECT_EQ(r.received + r.lost, r.sent);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(r.reordered, 0u);
  EXPECT_EQ(r.iteration_seconds.size(), 3u);
  RecordProperty("lost", std::to_string(r.lost));
}

// Through the harness: a round trip whose reply is lost times out, is counted lost, and the run
// goes on until the planned round trips came back. The timeout is in no time and no rate: the
// measured time stays below one receive timeout (the old harness counted the 200 ms in).
TEST(UdpTransport, RoundTripWithALostReplyTimesOutCountsItAndGoesOn) {
  PairConfig c = udp_config(Pattern::kRoundTrip);
  // The 10th message: handshake + 3 warm-up + the one after the barrier + the 5th timed.
  c.fault = {Fault::Kind::kDropReply, 10};
  const PairResult r = run_pair(c);
  EXPECT_EQ(r.lost, 1u);
  EXPECT_EQ(r.rtt.count(), 40u);
  EXPECT_EQ(r.sent, 41u);
  EXPECT_EQ(r.iteration_seconds.size(), 40u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_FALSE(r.cut);
  const double timeout_s = std::chrono::duration<double>(TransportOptions{}.recv_timeout).count();
  EXPECT_LT(r.timed_seconds, timeout_s);
  EXPECT_LT(static_cast<double>(r.rtt.max()) * 1e-9, timeout_s);
}

}  // namespace
}  // namespace ipcbench
