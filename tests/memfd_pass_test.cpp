// memfd_pass: what the receiver refuses (an unsealed, partly sealed, wrongly sized or foreign fd, a
// record with no fd or several), naming the object and closing every fd the record brought; what
// the sender passes (a sealed memfd of exactly the message); the limits read at run time. The test
// plays a raw client of the fan-in server, so it can send what the transport never would.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

constexpr int kAllSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL;
constexpr std::size_t kBytes = 64;

// A memfd holding `bytes` bytes of `fill`, with `seals` added (0: none).
UniqueFd memfd_of(std::size_t bytes, int seals, std::byte fill = std::byte{0x5a}) {
  UniqueFd fd(::memfd_create("memfd_pass_test", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  EXPECT_TRUE(fd.valid()) << std::strerror(errno);
  const std::vector<std::byte> data(bytes, fill);
  EXPECT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(bytes));
  if (seals != 0) {
    EXPECT_EQ(::fcntl(fd.get(), F_ADD_SEALS, seals), 0) << std::strerror(errno);
  }
  return fd;
}

// Sends one record of `payload` carrying `fds` (maybe none) with SCM_RIGHTS.
void send_record_with_fds(int sock, const std::vector<std::byte>& payload,
                          const std::vector<int>& fds) {
  iovec iov{const_cast<std::byte*>(payload.data()), payload.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (!fds.empty()) {
    mh.msg_control = control.data();
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ASSERT_EQ(::sendmsg(sock, &mh, MSG_NOSIGNAL), static_cast<ssize_t>(payload.size()))
      << std::strerror(errno);
}

// Tells when the last reference to a file goes: inotify reports IN_CLOSE once the open file
// description is released, which for a memfd is when the memfd itself is freed (its sender's fd,
// a reference queued in a socket and its receiver's fd all share that one description).
class LastCloseWatch {
 public:
  explicit LastCloseWatch(int fd) : inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    EXPECT_TRUE(inotify_.valid()) << std::strerror(errno);
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    EXPECT_GE(::inotify_add_watch(inotify_.get(), path.c_str(), IN_CLOSE), 0)
        << std::strerror(errno);
  }
  // True once the file has been released (does not block).
  [[nodiscard]] bool released() {
    alignas(inotify_event) char buf[4096];
    const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
    if (n > 0) seen_ = true;
    return seen_;
  }

 private:
  UniqueFd inotify_;
  bool seen_ = false;
};

// The 8-byte length record the transport sends beside each memfd.
std::vector<std::byte> length_record(std::uint64_t length) {
  std::vector<std::byte> out(sizeof length);
  std::memcpy(out.data(), &length, sizeof length);
  return out;
}

// A memfd_pass fan-in server for one client, whose client is a raw SOCK_SEQPACKET socket.
class MemfdPassServer : public test::SeqpacketServerTest {
 protected:
  void SetUp() override {
    const Capabilities caps = find_transport("memfd_pass")->describe();
    if (!caps.unavailable.empty()) GTEST_SKIP() << caps.unavailable;
    serve("memfd_pass", kBytes);
  }
  // server_recv() must throw a system_error whose what() holds `expected` and the server's path,
  // and close every fd the record brought (the count of open fds is what it was before).
  void expect_refused(const std::string& expected) {
    const std::size_t fds = test::open_fd_count();
    SeqpacketServerTest::expect_refused(kBytes, expected);
    EXPECT_EQ(test::open_fd_count(), fds);
  }
};

TEST_F(MemfdPassServer, TakesASealedMemfdOfTheRightSize) {
  {
    const UniqueFd mem = memfd_of(kBytes, kAllSeals, std::byte{0x33});
    send_record_with_fds(client_.get(), length_record(kBytes), {mem.get()});
  }
  const std::size_t fds = test::open_fd_count();
  std::vector<std::byte> buf(kBytes);
  const FanInEvent e = server_->server_recv(buf);
  EXPECT_EQ(e.kind, FanInEvent::Kind::kRequest);
  EXPECT_EQ(e.client, 0u);
  EXPECT_EQ(buf, std::vector<std::byte>(kBytes, std::byte{0x33}));
  EXPECT_EQ(test::open_fd_count(), fds);  // the received memfd is closed
}

TEST_F(MemfdPassServer, RefusesAnUnsealedMemfd) {
  {
    const UniqueFd mem = memfd_of(kBytes, 0);
    send_record_with_fds(client_.get(), length_record(kBytes), {mem.get()});
  }
  expect_refused("not sealed");
}

// A receiver that errors out mid-message still frees the memfd: nothing else holds it.
TEST_F(MemfdPassServer, FreesTheMemfdItRefuses) {
  UniqueFd mem = memfd_of(kBytes, 0);
  LastCloseWatch watch(mem.get());
  send_record_with_fds(client_.get(), length_record(kBytes), {mem.get()});
  mem.reset();
  EXPECT_FALSE(watch.released());  // queued in the server's socket
  expect_refused("not sealed");
  EXPECT_TRUE(watch.released());
}

// A receiver killed with memfds still queued to it leaves none behind: they go with its socket.
TEST_F(MemfdPassServer, MemfdsQueuedToAGoneServerAreFreed) {
  UniqueFd mem = memfd_of(kBytes, kAllSeals);
  LastCloseWatch watch(mem.get());
  for (int i = 0; i < 3; ++i) {
    send_record_with_fds(client_.get(), length_record(kBytes), {mem.get()});
  }
  mem.reset();
  EXPECT_FALSE(watch.released());
  server_.reset();  // what the server's death does to its sockets
  EXPECT_TRUE(watch.released());
}

TEST_F(MemfdPassServer, RefusesAMemfdWhoseBytesCanStillBeWritten) {
  {
    const UniqueFd mem = memfd_of(kBytes, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    send_record_with_fds(client_.get(), length_record(kBytes), {mem.get()});
  }
  expect_refused("not sealed");
}

TEST_F(MemfdPassServer, RefusesAMemfdOfAnotherSize) {
  {
    const UniqueFd mem = memfd_of(kBytes - 1, kAllSeals);
    send_record_with_fds(client_.get(), length_record(kBytes), {mem.get()});
  }
  expect_refused("a memfd of 63 bytes where 64 were expected");
}

TEST_F(MemfdPassServer, RefusesAnAnnouncedLengthOfAnotherSize) {
  {
    const UniqueFd mem = memfd_of(kBytes, kAllSeals);
    send_record_with_fds(client_.get(), length_record(kBytes + 1), {mem.get()});
  }
  expect_refused("65 bytes announced where 64 were expected");
}

TEST_F(MemfdPassServer, RefusesAnFdThatIsNotAMemfd) {
  {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
    const UniqueFd r(p[0]), w(p[1]);
    send_record_with_fds(client_.get(), length_record(kBytes), {r.get()});
  }
  expect_refused("not a sealable memfd");
}

TEST_F(MemfdPassServer, RefusesARecordWithoutAnFd) {
  send_record_with_fds(client_.get(), length_record(kBytes), {});
  expect_refused("0 fds where one memfd was expected");
}

TEST_F(MemfdPassServer, RefusesARecordWithTwoFdsAndClosesBoth) {
  {
    const UniqueFd a = memfd_of(kBytes, kAllSeals), b = memfd_of(kBytes, kAllSeals);
    send_record_with_fds(client_.get(), length_record(kBytes), {a.get(), b.get()});
  }
  expect_refused("2 fds where one memfd was expected");
}

TEST_F(MemfdPassServer, RefusesARecordOfAnotherLength) {
  {
    const UniqueFd mem = memfd_of(kBytes, kAllSeals);
    send_record_with_fds(client_.get(), std::vector<std::byte>(12), {mem.get()});
  }
  expect_refused("a record of 12 bytes where an 8-byte length was expected");
}

TEST_F(MemfdPassServer, ReportsAClosedClientAndNoLongerSendsToIt) {
  client_.reset();
  std::vector<std::byte> buf(kBytes);
  const FanInEvent e = server_->server_recv(buf);
  EXPECT_EQ(e.kind, FanInEvent::Kind::kDisconnected);
  EXPECT_FALSE(server_->server_send(0, buf));
}

// The sender: what crosses the socket is one 8-byte length and one memfd, sealed against every
// change, holding exactly the message, close-on-exec on arrival when asked.
TEST_F(MemfdPassServer, SendsOneSealedMemfdHoldingExactlyTheMessage) {
  std::vector<std::byte> msg(kBytes);
  for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<std::byte>(i * 7 + 1);
  ASSERT_TRUE(server_->server_send(0, msg));

  std::uint64_t length = 0;
  iovec iov{&length, sizeof length};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ASSERT_EQ(::recvmsg(client_.get(), &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC),
            static_cast<ssize_t>(sizeof length));
  EXPECT_EQ(length, kBytes);
  const cmsghdr* c = CMSG_FIRSTHDR(&mh);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->cmsg_type, SCM_RIGHTS);
  ASSERT_EQ(c->cmsg_len, CMSG_LEN(sizeof(int)));  // one fd
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  const UniqueFd mem(fd);
  const int seals = ::fcntl(mem.get(), F_GET_SEALS);
  EXPECT_EQ(seals & kAllSeals, kAllSeals) << seals;
  struct stat st {};
  ASSERT_EQ(::fstat(mem.get(), &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kBytes));
  std::vector<std::byte> got(kBytes);
  ASSERT_EQ(::pread(mem.get(), got.data(), got.size(), 0), static_cast<ssize_t>(kBytes));
  EXPECT_EQ(got, msg);
  // Sealed: neither the bytes nor the size can change any more.
  EXPECT_EQ(::pwrite(mem.get(), got.data(), 1, 0), -1);
  EXPECT_EQ(::ftruncate(mem.get(), 0), -1);
  EXPECT_EQ(::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_WRITE), -1);
}

TEST(MemfdPass, LimitsNameTheRunTimeFacts) {
  const Capabilities caps = find_transport("memfd_pass")->describe();
  if (!caps.unavailable.empty()) GTEST_SKIP() << caps.unavailable;
  rlimit nofile{}, fsize{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &nofile), 0);
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &fsize), 0);
  if (nofile.rlim_cur != RLIM_INFINITY) {
    EXPECT_NE(caps.limit_source.find("RLIMIT_NOFILE " + std::to_string(nofile.rlim_cur)),
              std::string::npos)
        << caps.limit_source;
  }
  if (fsize.rlim_cur == RLIM_INFINITY) {
    EXPECT_EQ(caps.max_message_bytes, SIZE_MAX);
  } else {
    EXPECT_EQ(caps.max_message_bytes, static_cast<std::size_t>(fsize.rlim_cur));
  }
  // The probe measured how many one-fd records a socket queues: at least one, and said so.
  const auto at = caps.limit_source.find("queues at most ");
  ASSERT_NE(at, std::string::npos) << caps.limit_source;
  EXPECT_GT(std::stoul(caps.limit_source.substr(at + 15)), 0u) << caps.limit_source;
}

// Runs ipcbench's round trip and stream of 64 bytes over memfd_pass and pipe in a child whose
// seccomp filter makes memfd_create fail with EPERM, as a container's policy might, and returns
// what it printed; empty with `why` set when this machine
// does not let a test install a filter.
std::string run_without_memfds(std::string& why) {
  const std::vector<sock_filter> rules = {
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  return test::run_round_trips_under_seccomp(rules, "memfd_pass,pipe", why);
}

TEST(MemfdPass, IsUnavailableWithTheReasonWhereMemfdCreateIsForbidden) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter is written for x86-64";
#endif
  std::string why;
  const std::string text = run_without_memfds(why);
  if (text.empty()) GTEST_SKIP() << "no seccomp filter here: " << why;
  // Each memfd_pass case is unsupported with the call and its error; the run goes on.
  for (const char* pattern : {"RoundTrip", "Stream"}) {
    const std::string line = std::string("unsupported/") + pattern +
                             "/memfd_pass/bytes:64: unavailable on this machine: memfd_create(";
    const auto at = text.find(line);
    ASSERT_NE(at, std::string::npos) << text;
    EXPECT_NE(text.substr(at, text.find('\n', at) - at).find(std::strerror(EPERM)),
              std::string::npos)
        << text;
  }
  EXPECT_NE(text.find("RoundTrip/pipe/bytes:64/"), std::string::npos) << text;
  EXPECT_EQ(text.find("ERROR"), std::string::npos) << text;
}

}  // namespace
}  // namespace ipcbench
