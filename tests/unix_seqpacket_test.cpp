// unix_seqpacket: the largest record is read from the socket at run time, works, and one byte
// more is refused with the reason; records are whole (a record of another size is an error, never
// reassembled); a closed client is reported. The test plays a raw client of the fan-in server.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tests/seqpacket_server.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/unix_socket.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

// SO_SNDBUF of a new AF_UNIX SOCK_SEQPACKET socket, as the kernel reports it.
std::size_t fresh_send_buffer() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  const UniqueFd a(fds[0]), b(fds[1]);
  int value = 0;
  socklen_t len = sizeof value;
  EXPECT_EQ(::getsockopt(a.get(), SOL_SOCKET, SO_SNDBUF, &value, &len), 0);
  return static_cast<std::size_t>(value);
}

std::vector<std::byte> pattern(std::size_t bytes) {
  std::vector<std::byte> out(bytes);
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<std::byte>(i * 131 + 7);
  return out;
}

TEST(UnixSeqpacket, LargestRecordIsTheSocketsSendBufferLess32) {
  const Capabilities caps = find_transport("unix_seqpacket")->describe();
  ASSERT_TRUE(caps.unavailable.empty()) << caps.unavailable;
  const std::size_t sndbuf = fresh_send_buffer();
  EXPECT_EQ(caps.max_message_bytes, sndbuf - 32);
  EXPECT_NE(caps.limit_source.find("SO_SNDBUF " + std::to_string(sndbuf)), std::string::npos)
      << caps.limit_source;
  // The figure is the kernel's: a record of that size goes, one byte more is EMSGSIZE.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  const UniqueFd a(fds[0]), b(fds[1]);
  const std::vector<std::byte> big = pattern(caps.max_message_bytes + 1);
  EXPECT_EQ(::send(a.get(), big.data(), big.size() - 1, MSG_DONTWAIT),
            static_cast<ssize_t>(big.size() - 1));
  EXPECT_EQ(::send(a.get(), big.data(), big.size(), MSG_DONTWAIT), -1);
  EXPECT_EQ(errno, EMSGSIZE);
}

TEST(UnixSeqpacket, PairRefusesARecordLargerThanTheSendBufferSayingWhy) {
  const Capabilities caps = find_transport("unix_seqpacket")->describe();
  test::ScratchDir dir;
  TransportOptions options;
  options.name = unique_name();
  options.tmp_root = dir.path();
  options.message_bytes = caps.max_message_bytes + 1;
  try {
    (void)find_transport("unix_seqpacket")->make(options);
    FAIL() << "a record of max + 1 bytes was accepted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EMSGSIZE);
    const std::string what = e.what();
    EXPECT_NE(what.find("larger than SO_SNDBUF - 32 = " + std::to_string(caps.max_message_bytes)),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("seqpacket.sock"), std::string::npos) << what;
  }
  EXPECT_TRUE(dir.leftovers().empty());
}

// A unix_seqpacket fan-in server for one client, whose client is a raw SOCK_SEQPACKET socket.
class UnixSeqpacketServer : public test::SeqpacketServerTest {
 protected:
  void serve(std::size_t bytes) { SeqpacketServerTest::serve("unix_seqpacket", bytes); }
};

TEST_F(UnixSeqpacketServer, LargestRecordGoesBothWaysAndOneByteMoreIsRefused) {
  const std::size_t largest = find_transport("unix_seqpacket")->describe().max_message_bytes;
  ASSERT_NO_FATAL_FAILURE(serve(largest));
  const std::vector<std::byte> msg = pattern(largest);
  ASSERT_EQ(::send(client_.get(), msg.data(), msg.size(), 0), static_cast<ssize_t>(largest))
      << std::strerror(errno);
  std::vector<std::byte> buf(largest);
  const FanInEvent e = server_->server_recv(buf);
  EXPECT_EQ(e.kind, FanInEvent::Kind::kRequest);
  EXPECT_EQ(buf, msg);

  ASSERT_TRUE(server_->server_send(0, buf));
  std::vector<std::byte> back(largest + 1);
  EXPECT_EQ(::recv(client_.get(), back.data(), back.size(), MSG_TRUNC),
            static_cast<ssize_t>(largest));
  back.resize(largest);
  EXPECT_EQ(back, msg);

  const std::vector<std::byte> too_big = pattern(largest + 1);
  try {
    (void)server_->server_send(0, too_big);
    FAIL() << "a record of " << largest + 1 << " bytes was sent";
  } catch (const std::system_error& e2) {
    EXPECT_EQ(e2.code().value(), EMSGSIZE);
    const std::string what = e2.what();
    EXPECT_NE(what.find("larger than SO_SNDBUF - 32"), std::string::npos) << what;
  }
}

TEST_F(UnixSeqpacketServer, FanInRefusesARunLargerThanARecord) {
  const std::size_t largest = find_transport("unix_seqpacket")->describe().max_message_bytes;
  TransportOptions options;
  options.name = unique_name();
  options.tmp_root = dir_.path();
  options.message_bytes = largest + 1;
  fds_before_ = test::open_fd_count();
  EXPECT_THROW((void)find_transport("unix_seqpacket")->fan_in->make(options, 1), std::system_error);
  EXPECT_TRUE(dir_.leftovers().empty());
}

TEST_F(UnixSeqpacketServer, LongerRecordIsAnErrorNotTwoMessages) {
  ASSERT_NO_FATAL_FAILURE(serve(64));
  const std::vector<std::byte> msg = pattern(100);
  ASSERT_EQ(::send(client_.get(), msg.data(), msg.size(), 0), 100);
  expect_refused(64, "a record of 100 bytes where 64 were expected");
}

TEST_F(UnixSeqpacketServer, ShorterRecordsAreNeverReassembled) {
  ASSERT_NO_FATAL_FAILURE(serve(64));
  const std::vector<std::byte> half = pattern(32);
  ASSERT_EQ(::send(client_.get(), half.data(), half.size(), 0), 32);
  ASSERT_EQ(::send(client_.get(), half.data(), half.size(), 0), 32);
  expect_refused(64, "a record of 32 bytes where 64 were expected");
}

TEST_F(UnixSeqpacketServer, ReportsAClosedClientAndNoLongerSendsToIt) {
  ASSERT_NO_FATAL_FAILURE(serve(64));
  client_.reset();
  std::vector<std::byte> buf(64);
  const FanInEvent e = server_->server_recv(buf);
  EXPECT_EQ(e.kind, FanInEvent::Kind::kDisconnected);
  EXPECT_FALSE(server_->server_send(0, buf));
}

// Runs ipcbench's round trip and stream of 64 bytes over unix_seqpacket and pipe in a child whose
// seccomp filter makes socket(AF_UNIX, SOCK_SEQPACKET) fail with EPERM, as a sandbox's policy
// might, and returns what it printed; empty with `why` set when no filter can be installed here.
std::string run_without_seqpacket_sockets(std::string& why) {
  const std::vector<sock_filter> rules = {
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 6),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),  // low word
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[1])),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xf),  // the type without SOCK_CLOEXEC/NONBLOCK
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_SEQPACKET, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return test::run_round_trips_under_seccomp(rules, "unix_seqpacket,pipe", why);
}

TEST(UnixSeqpacket, IsUnavailableWithTheReasonWhereSeqpacketSocketsAreForbidden) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter is written for x86-64";
#endif
  std::string why;
  const std::string text = run_without_seqpacket_sockets(why);
  if (text.empty()) GTEST_SKIP() << "no seccomp filter here: " << why;
  // Each unix_seqpacket case is unsupported with the call and its error; the run goes on.
  for (const char* pattern : {"RoundTrip", "Stream"}) {
    const std::string line = std::string("unsupported/") + pattern +
                             "/unix_seqpacket/bytes:64: unavailable on this machine: "
                             "socket(AF_UNIX, SOCK_SEQPACKET): " +
                             std::strerror(EPERM);
    EXPECT_NE(text.find(line), std::string::npos) << text;
  }
  EXPECT_NE(text.find("RoundTrip/pipe/bytes:64/"), std::string::npos) << text;
  EXPECT_EQ(text.find("ERROR"), std::string::npos) << text;
}

}  // namespace
}  // namespace ipcbench
