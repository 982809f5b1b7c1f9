// io_uring: why a machine cannot run it (from the sysctl and io_uring_setup's errno), that the
// transport reports what this machine says, and that a wait the watchdog interrupts cancels its
// request instead of leaving the kernel a buffer to write into.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <thread>

#include "harness/fan_in.hpp"
#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/io_uring_ring.hpp"
#include "transports/os/proc.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(IoUringProbe, DisabledForEveryoneNamesTheSysctlAndItsValue) {
  for (int err : {EPERM, 0}) {  // 2 forbids even a process that made a ring some other way
    const std::string why = io_uring_unavailable_reason(2, err);
    EXPECT_TRUE(contains(why, "/proc/sys/kernel/io_uring_disabled is 2")) << why;
    EXPECT_TRUE(contains(why, "every process")) << why;
  }
}

TEST(IoUringProbe, LimitedToAGroupTheUserIsNotInSaysSo) {
  const std::string why = io_uring_unavailable_reason(1, EPERM);
  EXPECT_TRUE(contains(why, "kernel.io_uring_group")) << why;
  EXPECT_TRUE(contains(why, "io_uring_disabled is 1")) << why;
  EXPECT_TRUE(contains(why, "EPERM")) << why;
}

TEST(IoUringProbe, ForbiddenWithoutTheSysctlPointsAtSeccomp) {
  for (std::optional<long> sysctl : {std::optional<long>(0), std::optional<long>()}) {
    const std::string why = io_uring_unavailable_reason(sysctl, EPERM);
    EXPECT_TRUE(contains(why, "EPERM")) << why;
    EXPECT_TRUE(contains(why, "seccomp")) << why;
  }
}

TEST(IoUringProbe, MissingFromTheKernelSaysENOSYS) {
  const std::string why = io_uring_unavailable_reason(std::nullopt, ENOSYS);
  EXPECT_TRUE(contains(why, "no io_uring")) << why;
  EXPECT_TRUE(contains(why, "ENOSYS")) << why;
}

TEST(IoUringProbe, AMadeRingOrAPassingFailureIsNoReason) {
  EXPECT_EQ(io_uring_unavailable_reason(0, 0), "");
  EXPECT_EQ(io_uring_unavailable_reason(1, 0), "");             // a member of kernel.io_uring_group
  EXPECT_EQ(io_uring_unavailable_reason(std::nullopt, 0), "");  // a kernel before 6.6
  EXPECT_EQ(io_uring_unavailable_reason(0, ENOMEM), "");  // the moment's failure: reported on use
  EXPECT_EQ(io_uring_unavailable_reason(0, EMFILE), "");
}

// The transport's description carries what this machine says, probed the same way here.
TEST(IoUringProbe, TheTransportReportsThisMachine) {
  std::optional<long> sysctl;
  if (const auto v = read_proc_int(kIoUringDisabledSysctl)) sysctl = *v;
  io_uring ring{};
  const int rc = io_uring_queue_init(1, &ring, 0);
  if (rc == 0) io_uring_queue_exit(&ring);
  const std::string expected = io_uring_unavailable_reason(sysctl, rc < 0 ? -rc : 0);
  const Capabilities caps = find_transport("io_uring")->describe();
  EXPECT_EQ(caps.unavailable, expected);
  EXPECT_EQ(caps.unavailable, io_uring_unavailable());
}

// A receive the watchdog interrupts throws naming the transport, and cancels its request: the
// bytes that come later are left on the socket for the next receive, not written into a buffer
// the caller has already given up.
TEST(IoUringTransport, InterruptedReceiveCancelsItsRequest) {
  if (!io_uring_unavailable().empty()) GTEST_SKIP() << io_uring_unavailable();
  TransportOptions options;
  options.message_bytes = 64;
  TransportPtr t = find_transport("io_uring")->make(options);
  std::array<std::byte, 64> sent{};
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 7 + 1);
  const pid_t parent = ::getpid();
  ChildProcess child("io_uring peer", [&] {
    t->attach(Role::kConsumer, parent);
    ::usleep(400'000);  // after the parent's interrupted receive has given up
    t->send(sent);
    std::array<std::byte, 1> done{};
    (void)t->recv(done);
  });
  t->attach(Role::kProducer, child.pid());
  std::array<std::byte, 64> abandoned{}, got{};
  set_interrupted(true);
  const auto start = Clock::now();
  try {
    (void)t->recv(abandoned);
    ADD_FAILURE() << "an interrupted receive returned";
  } catch (const std::system_error& e) {
    EXPECT_TRUE(contains(e.what(), "interrupted")) << e.what();
    EXPECT_TRUE(contains(e.what(), "io_uring")) << e.what();
  }
  set_interrupted(false);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(350));  // one slice, not the peer
  // A stuck receive must fail, not hang the suite: the watchdog's part, played by a thread.
  std::atomic<bool> finished{false};
  std::thread guard([&] {
    for (int i = 0; i < 300 && !finished.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!finished.load()) set_interrupted(true);
  });
  EXPECT_NO_THROW((void)t->recv(got));
  finished.store(true);
  guard.join();
  set_interrupted(false);
  EXPECT_EQ(got, sent);
  EXPECT_EQ(abandoned, decltype(abandoned){});  // the cancelled request wrote nothing
  const std::array<std::byte, 1> done{};
  t->send(done);
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
}

TEST(IoUringTransport, APeerThatClosesMidMessageIsAnErrorNamingTheTransport) {
  if (!io_uring_unavailable().empty()) GTEST_SKIP() << io_uring_unavailable();
  TransportOptions options;
  options.message_bytes = 4096;
  TransportPtr t = find_transport("io_uring")->make(options);
  const pid_t parent = ::getpid();
  ChildProcess child("io_uring peer", [&] {
    t->attach(Role::kConsumer, parent);
    std::array<std::byte, 100> part{};
    t->send(part);  // 100 of the 4096 bytes, then the process ends
  });
  t->attach(Role::kProducer, child.pid());
  std::vector<std::byte> buf(4096);
  try {
    (void)t->recv(buf);
    ADD_FAILURE() << "a short message was accepted";
  } catch (const std::system_error& e) {
    EXPECT_TRUE(contains(e.what(), "peer closed mid-message")) << e.what();
    EXPECT_TRUE(contains(e.what(), "io_uring")) << e.what();
  }
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
}

// A client that ends early closes its socket: the server's poll completes, the receive finds the
// end of the stream, and the server reports the client gone and goes on serving the others.
TEST(IoUringFanIn, ServerDropsAClosedClientAndGoesOn) {
  if (!io_uring_unavailable().empty()) GTEST_SKIP() << io_uring_unavailable();
  test::ScratchDir dir;
  const std::size_t fds = test::open_fd_count();
  FanInConfig c;
  c.transport_id = "io_uring";
  c.clients = 3;
  c.message_bytes = 64;
  c.iterations = 200;
  c.warmup = 5;
  c.tmp_root = dir.path();
  c.watchdog = std::chrono::milliseconds(3000);
  c.fault = {0, {Fault::Kind::kExit, 10}};
  const FanInResult r = run_fan_in(c);
  EXPECT_EQ(r.failed_clients, std::vector<std::size_t>{0});
  EXPECT_TRUE(contains(r.failures, "exited with status 7")) << r.failures;
  EXPECT_EQ(r.disconnects, 1u);
  EXPECT_EQ(r.round_trips, 400u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(test::open_fd_count(), fds);
}

}  // namespace
}  // namespace ipcbench
