// The signalfd transport: only the peer's sigqueue() words count, a blocked read() is interrupted
// by the watchdog, and no signal is left pending or blocked. That its words queue and lose nothing,
// also at RLIMIT_SIGPENDING, is tested with rt_signal's in signal_test.cpp (QueuedWordTransport).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

#include "harness/cpus.hpp"
#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;

TransportPtr make() {
  TransportOptions options;
  options.name = unique_name();
  options.tmp_root = default_tmp_root();
  options.message_bytes = kWordBytes;
  return find_transport("signalfd")->make(options);
}

bool blocked_now(int sig) {
  sigset_t current;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &current);
  return sigismember(&current, sig) == 1;
}

std::uint64_t word_of(std::span<const std::byte> buf) {
  std::uint64_t w = 0;
  std::memcpy(&w, buf.data(), sizeof w);
  return w;
}

// Queued ahead of the peer's word, in one read(): a stranger's sigqueue() of the same signal and
// the peer's own kill() (which carries no word). Both are taken and skipped.
TEST(SignalfdTransport, TakesOnlyThePeersQueuedWords) {
  install_signal_handling();
  TransportPtr t = make();
  int ready[2], go[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  const pid_t parent = ::getpid();
  constexpr std::uint64_t kWord = 0x0012'3456'789a'bcdeULL;
  ChildProcess child("receiver", [&] {
    t->attach(Role::kConsumer, parent);
    (void)!::write(ready[1], "r", 1);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(5);
    std::byte buf[8];
    if (t->recv(buf) != Received::kMessage) ::_exit(6);
    ::_exit(word_of(buf) == kWord ? 0 : 9);
  });
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const pid_t receiver = child.pid();
  ChildProcess stranger("stranger", [&] {
    if (::sigqueue(receiver, SIGRTMIN + 2, sigval{.sival_int = 42}) != 0) ::_exit(5);
  });
  bool stranger_ok = false;
  ASSERT_EQ(stranger.wait(&stranger_ok), "exited with status 0");
  t->attach(Role::kProducer, receiver);
  ASSERT_EQ(::kill(receiver, SIGRTMIN + 2), 0);
  std::byte buf[8];
  std::memcpy(buf, &kWord, sizeof kWord);
  t->send(buf);
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
}

// A signal still pending when the transport goes must be taken, not delivered with its default
// action (which would kill this process), and the old mask must come back.
TEST(SignalfdTransport, DestructorTakesPendingSignalsAndRestoresTheMask) {
  const int signals[] = {SIGRTMIN + 2, SIGRTMIN + 3, SIGRTMIN + 2};
  for (int sig : signals) ASSERT_FALSE(blocked_now(sig));
  TransportPtr t = make();
  t->attach(Role::kProducer, ::getpid());
  for (int sig : signals) {
    ASSERT_TRUE(blocked_now(sig));
    ASSERT_EQ(::pthread_sigqueue(::pthread_self(), sig, sigval{}), 0);
  }
  t.reset();
  sigset_t pending;
  ::sigpending(&pending);
  for (int sig : signals) {
    EXPECT_FALSE(blocked_now(sig));
    EXPECT_FALSE(sigismember(&pending, sig));
  }
}

// A read() blocked on the signalfd returns EINTR for the watchdog's SIGALRM (not in its set) and
// throws, naming the peer.
TEST(SignalfdTransport, ABlockedReadIsInterruptedNamingThePeer) {
  install_signal_handling();
  TransportPtr t = make();
  t->attach(Role::kProducer, ::getpid());  // no peer: nothing will come
  std::atomic<bool> stop{false};
  const pthread_t self = ::pthread_self();
  std::thread interrupter([&] {
    set_interrupted(true);
    while (!stop.load()) {
      ::pthread_kill(self, SIGALRM);
      std::this_thread::sleep_for(10ms);
    }
  });
  std::string what;
  try {
    std::byte buf[8];
    (void)t->recv(buf);
  } catch (const std::system_error& e) {
    what = e.what();
  }
  stop.store(true);
  interrupter.join();
  set_interrupted(false);
  EXPECT_NE(what.find("interrupted by the watchdog"), std::string::npos) << what;
  EXPECT_NE(what.find("(signalfd)"), std::string::npos) << what;
  EXPECT_NE(what.find("pid " + std::to_string(::getpid())), std::string::npos) << what;
}

TEST(SignalfdTransport, DescribesTheLimitReadNow) {
  const Capabilities c = find_transport("signalfd")->describe();
  EXPECT_EQ(c.unavailable, "");
  EXPECT_EQ(c.payload, Payload::kWord);
  EXPECT_EQ(c.max_message_bytes, kWordBytes);
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_SIGPENDING, &lim), 0);
  const std::string now =
      lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur);
  EXPECT_NE(c.limit_source.find("RLIMIT_SIGPENDING = " + now), std::string::npos) << c.limit_source;
}

}  // namespace
}  // namespace ipcbench
