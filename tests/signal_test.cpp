// The signal transports: coalescing is counted, realtime signals (rt_signal and signalfd) queue and
// lose nothing, also at RLIMIT_SIGPENDING, only the peer's signals count, and no signal is left
// pending or blocked afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <vector>

#include "harness/cpus.hpp"
#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

PairConfig stream_config(const std::string& id, std::size_t bytes) {
  PairConfig c;
  c.transport_id = id;
  c.pattern = Pattern::kStream;
  c.message_bytes = bytes;
  c.iterations = 3;
  c.warmup = 1;
  c.batch = 4096;  // back to back: standard signals sent faster than delivered coalesce
  c.cpus = default_cpu_pair();
  c.watchdog = std::chrono::milliseconds(5000);
  return c;
}

TransportPtr make(std::string_view id) {
  TransportOptions options;
  options.name = unique_name();
  options.tmp_root = default_tmp_root();
  options.message_bytes = find_transport(id)->describe().max_message_bytes;
  return find_transport(id)->make(options);
}

bool blocked_now(int sig) {
  sigset_t current;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &current);
  return sigismember(&current, sig) == 1;
}

TEST(SignalTransport, StreamCountsEveryNotificationAsReceivedOrCoalesced) {
  const PairResult r = run_pair(stream_config("signal", 0));
  EXPECT_EQ(r.sent, 3u * 4096u);
  EXPECT_EQ(r.received + r.coalesced, r.sent);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.corrupt, 0u);
  // The pending SIGUSR1 is always taken before the SIGUSR2 sent after it, so every batch
  // delivers at least one message whatever the timing.
  EXPECT_GE(r.received, 3u);
  EXPECT_TRUE(r.coalesced > 0 || r.received == r.sent);
}

// The two transports that send realtime signals with sigqueue() (transports/os/rt_queue.hpp):
// rt_signal (received with sigwaitinfo()) and signalfd (read as records from a signalfd, several
// per read() when they queue up).
class QueuedWordTransport : public ::testing::TestWithParam<const char*> {};

INSTANTIATE_TEST_SUITE_P(RealtimeSignals, QueuedWordTransport,
                         ::testing::Values("rt_signal", "signalfd"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

TEST_P(QueuedWordTransport, StreamLosesAndCoalescesNothing) {
  const PairResult r = run_pair(stream_config(GetParam(), kWordBytes));
  EXPECT_EQ(r.sent, 3u * 4096u);
  EXPECT_EQ(r.received, r.sent);
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.coalesced, 0u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(r.reordered, 0u);
}

// The receiver's RLIMIT_SIGPENDING is tiny and it does not read at first, so sigqueue() reaches
// EAGAIN; the sender must wait and retry, and every word must still arrive, in order (signalfd's
// receiver then reads several records per read()).
TEST_P(QueuedWordTransport, SenderWaitsAtRlimitSigpendingAndLosesNothing) {
  install_signal_handling();
  TransportPtr t = make(GetParam());
  constexpr std::uint64_t kWords = 300;
  SharedRegion<std::atomic<std::uint32_t>> done;
  const pid_t parent = ::getpid();
  ChildProcess child("receiver", [&] {
    const rlimit tiny{8, 8};
    if (::setrlimit(RLIMIT_SIGPENDING, &tiny) != 0) ::_exit(5);
    t->attach(Role::kConsumer, parent);
    ::usleep(100'000);  // let the sender fill the queue up to the limit
    std::byte buf[8];
    for (std::uint64_t i = 0; i < kWords; ++i) {
      if (t->recv(buf) != Received::kMessage) ::_exit(6);
      std::uint64_t got = 0;
      std::memcpy(&got, buf, sizeof got);
      if (got != i * 3 + 1) ::_exit(7);
    }
    done->store(1);
  });
  std::atomic<std::uint64_t> progress{0};
  {
    Watchdog watchdog(child.pid(), "receiver", std::chrono::milliseconds(5000), &progress, &*done);
    t->attach(Role::kProducer, child.pid());
    for (std::uint64_t i = 0; i < kWords; ++i) {
      const std::uint64_t word = i * 3 + 1;
      std::byte buf[8];
      std::memcpy(buf, &word, sizeof word);
      t->send(buf);
      progress.store(i + 1);
    }
  }
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
}

// A SIGUSR1 from a third process must not count as the peer's message.
TEST(SignalTransport, IgnoresSignalsFromProcessesOtherThanThePeer) {
  install_signal_handling();
  TransportPtr t = make("signal");
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const pid_t parent = ::getpid();
  ChildProcess child("receiver", [&] {
    t->attach(Role::kConsumer, parent);
    (void)!::write(ready[1], "x", 1);
    std::byte none[1];
    // The stranger's SIGUSR1 is pending before the peer's SIGUSR2 and would be taken first.
    ::_exit(t->recv(std::span<std::byte>(none, 0)) == Received::kEnd ? 0 : 9);
  });
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const pid_t receiver = child.pid();
  ChildProcess stranger("stranger", [&] { ::kill(receiver, SIGUSR1); });
  bool stranger_ok = false;
  ASSERT_EQ(stranger.wait(&stranger_ok), "exited with status 0");
  t->attach(Role::kProducer, child.pid());
  t->send_end();
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
  ::close(ready[0]);
  ::close(ready[1]);
}

// A signal still pending when the transport goes must be taken, not delivered with its default
// action (which would kill this process), and the old mask must come back.
TEST(SignalTransport, DestructorTakesPendingSignalsAndRestoresTheMask) {
  struct Case {
    const char* id;
    std::vector<int> signals;
  };
  for (const Case& c : {Case{"signal", {SIGUSR1, SIGUSR2}},
                        Case{"rt_signal", {SIGRTMIN, SIGRTMIN + 1, SIGRTMIN}}}) {
    SCOPED_TRACE(c.id);
    for (int sig : c.signals) ASSERT_FALSE(blocked_now(sig));
    TransportPtr t = make(c.id);
    for (int sig : c.signals) {
      ASSERT_TRUE(blocked_now(sig));
      // Directed at this thread, the one that blocked them.
      ASSERT_EQ(::pthread_sigqueue(::pthread_self(), sig, sigval{}), 0);
    }
    t.reset();
    sigset_t pending;
    ::sigpending(&pending);
    for (int sig : c.signals) {
      EXPECT_FALSE(blocked_now(sig));
      EXPECT_FALSE(sigismember(&pending, sig));
    }
  }
}

}  // namespace
}  // namespace ipcbench
