// The eventfd transports: a plain eventfd hands every pending notification to one read() and the
// merged ones are counted, EFD_SEMAPHORE hands out one per read(), no message is lost however the
// notifications merge, and a sleeping reader is interrupted by the watchdog's signal.
#include "transports/eventfd.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

#include "harness/cpus.hpp"
#include "harness/pair.hpp"
#include "harness/process.hpp"
#include "transports/os/eventfd_wait.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/shm_ring.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using namespace std::chrono_literals;

UniqueFd make_eventfd(bool semaphore) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | (semaphore ? EFD_SEMAPHORE : 0));
  if (fd < 0) throw_sys_error(errno, "eventfd", "test");
  return UniqueFd(fd);
}

// Whether a read() of `fd` would return at once (its counter is above 0).
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TransportPtr make(std::string_view id, std::size_t bytes) {
  TransportOptions options;
  options.name = unique_name();
  options.tmp_root = default_tmp_root();
  options.message_bytes = bytes;
  return find_transport(id)->make(options);
}

// Waits on `event` once: the awaited condition is false at first and true after one read().
void wait_once(EventfdWait& wait, RingEvent event) {
  EventfdWait::Shared shared;
  const std::atomic<std::uint32_t> word{0};
  int looks = 0;
  wait.wait(
      shared, event, word, [&] { return looks++ > 0; }, "test eventfd");
}

TEST(EventfdWait, PlainReadTakesEveryPendingNotificationAndCountsTheMerged) {
  const UniqueFd data = make_eventfd(false), space = make_eventfd(false);
  EventfdStats stats;
  EventfdWait wait(data.get(), space.get(), false, &stats);
  EventfdWait::Shared shared;
  for (int i = 0; i < 5; ++i) wait.notify(shared, RingEvent::kData, "test eventfd", nullptr);
  wait_once(wait, RingEvent::kData);
  EXPECT_EQ(stats.data.reads, 1u);
  EXPECT_EQ(stats.data.notifications, 5u);
  EXPECT_EQ(stats.data.merged(), 4u);
  EXPECT_FALSE(readable(data.get()));  // the one read() took them all
  EXPECT_EQ(stats.space.reads, 0u);    // counted by event
}

TEST(EventfdWait, SemaphoreReadTakesOneNotificationAndNothingMerges) {
  const UniqueFd data = make_eventfd(true), space = make_eventfd(true);
  EventfdStats stats;
  EventfdWait wait(data.get(), space.get(), false, &stats);
  EventfdWait::Shared shared;
  for (int i = 0; i < 5; ++i) wait.notify(shared, RingEvent::kSpace, "test eventfd", nullptr);
  wait_once(wait, RingEvent::kSpace);
  EXPECT_EQ(stats.space.reads, 1u);
  EXPECT_EQ(stats.space.notifications, 1u);
  EXPECT_TRUE(readable(space.get()));  // four still pending
  for (int i = 0; i < 4; ++i) wait_once(wait, RingEvent::kSpace);
  EXPECT_EQ(stats.space.reads, 5u);
  EXPECT_EQ(stats.space.merged(), 0u);
  EXPECT_FALSE(readable(space.get()));
}

// A read() that took only notifications for messages already consumed finds the ring still empty
// and reads again: the wait returns only once the awaited word is there.
TEST(EventfdWait, ReadsAgainAfterAStaleNotification) {
  const UniqueFd data = make_eventfd(false), space = make_eventfd(false);
  EventfdStats stats;
  EventfdWait wait(data.get(), space.get(), false, &stats);
  EventfdWait::Shared shared;
  std::atomic<std::uint32_t> word{0};
  wait.notify(shared, RingEvent::kData, "test eventfd", nullptr);  // stale: word stays 0
  std::thread notifier([&] {
    word.store(1, std::memory_order_release);
    wait.notify(shared, RingEvent::kData, "test eventfd", nullptr);
  });
  wait.wait(
      shared, RingEvent::kData, word, [&] { return word.load() == 1; }, "test eventfd");
  notifier.join();
  if (readable(data.get())) {
    // The wait saw the word before the notifier's write(): take it, so the totals are whole.
    std::uint64_t v = 0;
    ASSERT_EQ(::read(data.get(), &v, sizeof v), static_cast<ssize_t>(sizeof v));
    stats.data.notifications += v;
    ++stats.data.reads;
  }
  EXPECT_EQ(stats.data.notifications, 2u);
  EXPECT_GE(stats.data.reads, 1u);
}

struct BacklogResult {
  std::uint64_t wrong = 0;  // messages that were not the one expected
  EventfdStats stats;       // the consumer's
};

struct BacklogReport {
  std::atomic<std::uint32_t> done{0};
  BacklogResult result;
};

// The producer sends kBacklog messages while the consumer waits on a pipe, then one more once the
// consumer has taken them (without sleeping: they were all in the ring). The consumer's one
// wait then finds kBacklog stale notifications in the counter, plus the last one's.
constexpr std::uint64_t kBacklog = 100;

BacklogResult run_backlog(std::string_view id) {
  install_signal_handling();
  TransportPtr t = make(id, 8);
  SharedRegion<BacklogReport> report;
  int go[2], taken[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(taken, O_CLOEXEC) != 0) {
    throw_sys_error(errno, "pipe2", "test");
  }
  const pid_t parent = ::getpid();
  ChildProcess child("consumer", [&] {
    t->attach(Role::kConsumer, parent);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(5);
    std::byte buf[8];
    for (std::uint64_t i = 0; i <= kBacklog; ++i) {
      if (i == kBacklog && ::write(taken[1], "t", 1) != 1) ::_exit(6);
      if (t->recv(buf) != Received::kMessage) ::_exit(7);
      std::uint64_t got = 0;
      std::memcpy(&got, buf, sizeof got);
      if (got != i * 7 + 3) ++report->result.wrong;
    }
    report->result.stats = *eventfd_stats(*t);
    report->done.store(1);
  });
  std::atomic<std::uint64_t> progress{0};
  {
    Watchdog watchdog(child.pid(), "consumer", std::chrono::milliseconds(5000), &progress,
                      &report->done);
    t->attach(Role::kProducer, child.pid());
    auto send = [&](std::uint64_t i) {
      const std::uint64_t word = i * 7 + 3;
      std::byte buf[8];
      std::memcpy(buf, &word, sizeof word);
      t->send(buf);
      progress.store(i + 1);
    };
    for (std::uint64_t i = 0; i < kBacklog; ++i) send(i);
    EXPECT_EQ(::write(go[1], "g", 1), 1);
    char c;
    EXPECT_EQ(::read(taken[0], &c, 1), 1);
    send(kBacklog);
  }
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
  for (int fd : {go[0], go[1], taken[0], taken[1]}) ::close(fd);
  return report->result;
}

// Whether the last message's notification came before or after the consumer looked is up to the
// scheduler, so only what holds either way is checked here; the exact counts are checked below on
// one ring, where the test can see the counter.
TEST(EventfdTransport, ABacklogArrivesWholeAndEveryNotificationIsCountedOnce) {
  for (const char* id : {"eventfd", "eventfd_sem"}) {
    SCOPED_TRACE(id);
    const BacklogResult r = run_backlog(id);
    EXPECT_EQ(r.wrong, 0u);
    // One notification per message, none counted twice.
    EXPECT_LE(r.stats.data.notifications, kBacklog + 1);
    EXPECT_LE(r.stats.data.reads, r.stats.data.notifications);
    EXPECT_EQ(r.stats.space.reads, 0u);  // the producer's ring never filled
    if (std::string_view(id) == "eventfd_sem") {
      EXPECT_EQ(r.stats.data.merged(), 0u);
    }
  }
}

// One ring, its writer in this thread and its reader in another: kBacklog messages wait in the
// ring before the reader starts, so it takes them without sleeping and their notifications stay
// in the counter; then it waits for one more, which is sent only once the counter is empty (the
// reader has read every stale notification and found the ring still empty).
struct RingBacklog {
  EventfdStats reader;      // what the reader's reads took
  std::uint64_t left = 0;   // notifications still in the counter at the end
  std::uint64_t wrong = 0;  // messages that were not the one expected
};

RingBacklog ring_backlog(bool semaphore) {
  using Ring = SlotRing<EventfdWait>;
  const UniqueFd data = make_eventfd(semaphore), space = make_eventfd(semaphore);
  const RingGeometry g = ring_geometry_for(8);
  const ShmSegment segment(unique_name(), Ring::bytes_for(g));
  Ring::create(segment.data(), g);
  RingBacklog out;
  EventfdStats writer_stats;
  Ring writer(segment.data(), EventfdWait(data.get(), space.get(), false, &writer_stats),
              "test ring (writer)");
  Ring reader(segment.data(), EventfdWait(data.get(), space.get(), false, &out.reader),
              "test ring (reader)");
  auto send = [&](std::uint64_t i) {
    const std::uint64_t word = i * 5 + 1;
    std::byte buf[8];
    std::memcpy(buf, &word, sizeof word);
    writer.send(buf);
  };
  for (std::uint64_t i = 0; i < kBacklog; ++i) send(i);
  std::thread consumer([&] {
    std::byte buf[8];
    for (std::uint64_t i = 0; i <= kBacklog; ++i) {
      reader.recv(buf);
      std::uint64_t got = 0;
      std::memcpy(&got, buf, sizeof got);
      if (got != i * 5 + 1) ++out.wrong;
    }
  });
  while (readable(data.get())) std::this_thread::sleep_for(1ms);
  send(kBacklog);
  consumer.join();
  while (readable(data.get())) {
    std::uint64_t v = 0;
    if (::read(data.get(), &v, sizeof v) != static_cast<ssize_t>(sizeof v)) break;
    out.left += v;
  }
  return out;
}

TEST(EventfdWait, PlainCounterMergesABacklogsNotificationsIntoOneRead) {
  const RingBacklog r = ring_backlog(false);
  EXPECT_EQ(r.wrong, 0u);
  EXPECT_EQ(r.reader.data.notifications + r.left, kBacklog + 1);
  // One read() took the kBacklog stale ones; the last was taken by a second, or left behind when
  // the reader saw the message first.
  EXPECT_GE(r.reader.data.reads, 1u);
  EXPECT_LE(r.reader.data.reads, 2u);
  EXPECT_GE(r.reader.data.merged(), kBacklog - 1);
}

TEST(EventfdWait, SemaphoreCounterTakesABacklogOneReadAtATime) {
  const RingBacklog r = ring_backlog(true);
  EXPECT_EQ(r.wrong, 0u);
  EXPECT_EQ(r.reader.data.notifications + r.left, kBacklog + 1);
  EXPECT_GE(r.reader.data.reads, kBacklog);
  EXPECT_EQ(r.reader.data.merged(), 0u);
}

TEST(EventfdTransport, StatsAreOnlyForEventfdTransports) {
  EXPECT_TRUE(eventfd_stats(*make("eventfd", 8)).has_value());
  EXPECT_TRUE(eventfd_stats(*make("eventfd_sem", 8)).has_value());
  EXPECT_FALSE(eventfd_stats(*make("pipe", 8)).has_value());
}

// Transport::wake_counts() is the eventfd transports' own counts (both rings' waits of this
// process), zero after attach(); a mechanism that counts nothing of the kind says so.
TEST(EventfdTransport, WakeCountsAreItsStatsAndOtherTransportsCountNothing) {
  for (const char* id : {"eventfd", "eventfd_sem"}) {
    const TransportPtr t = make(id, 8);
    t->attach(Role::kProducer, ::getpid());
    const WakeCounts w = t->wake_counts();
    EXPECT_TRUE(w.counted) << id;
    EXPECT_EQ(w.reads, 0u) << id;
    EXPECT_EQ(w.notifications, 0u) << id;
  }
  EXPECT_FALSE(make("pipe", 8)->wake_counts().counted);
}

// A pair run gathers both sides' counts (the consumer's from its process): a stream and a round
// trip of eventfd_sem merge nothing, and no read() of either takes fewer than one notification.
TEST(EventfdTransport, APairRunCarriesBothSidesWakeCounts) {
  for (const char* id : {"eventfd", "eventfd_sem"}) {
    for (Pattern pattern : {Pattern::kRoundTrip, Pattern::kStream}) {
      SCOPED_TRACE(std::string(id) + " " + std::string(pattern_name(pattern)));
      PairConfig c;
      c.transport_id = id;
      c.pattern = pattern;
      c.message_bytes = 64;
      c.iterations = pattern == Pattern::kStream ? 4 : 500;
      c.cpus = default_cpu_pair();
      const PairResult r = run_pair(c);
      EXPECT_TRUE(r.wakes.counted);
      EXPECT_LE(r.wakes.reads, r.wakes.notifications);
      if (std::string_view(id) == "eventfd_sem") {
        EXPECT_EQ(r.wakes.merged(), 0u);
      }
      // Round trips: each side sleeps for nearly every reply or request it waits for.
      if (pattern == Pattern::kRoundTrip) {
        EXPECT_GT(r.wakes.reads, 0u);
      }
    }
  }
  PairConfig pipe;
  pipe.transport_id = "pipe";
  pipe.iterations = 10;
  pipe.cpus = default_cpu_pair();
  EXPECT_FALSE(run_pair(pipe).wakes.counted);
}

TEST(EventfdTransport, DescribesHowItWaitsAndIsAvailableHere) {
  for (const char* id : {"eventfd", "eventfd_sem"}) {
    SCOPED_TRACE(id);
    const Capabilities c = find_transport(id)->describe();
    EXPECT_EQ(c.unavailable, "");  // eventfd(2) exists on every kernel this suite supports
    EXPECT_EQ(c.payload, Payload::kBytes);
    EXPECT_FALSE(c.may_coalesce);  // notifications merge, messages never do
    EXPECT_FALSE(c.busy_polls);
  }
  EXPECT_NE(find_transport("eventfd")->describe().waits_by.find("coalesce"), std::string::npos);
  EXPECT_NE(find_transport("eventfd_sem")->describe().waits_by.find("EFD_SEMAPHORE"),
            std::string::npos);
}

// Interrupts `target` as the harness's watchdog does: sets interrupted(), then sends SIGALRM every
// 10 ms until destroyed (one sent just before the target blocks would be missed).
class Interrupter {
 public:
  explicit Interrupter(pthread_t target)
      : thread_([this, target] {
          set_interrupted(true);
          while (!stop_.load()) {
            ::pthread_kill(target, SIGALRM);
            std::this_thread::sleep_for(10ms);
          }
        }) {}
  Interrupter(const Interrupter&) = delete;
  Interrupter& operator=(const Interrupter&) = delete;
  ~Interrupter() {
    stop_.store(true);
    thread_.join();
    set_interrupted(false);
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(EventfdTransport, ASleepingReaderIsInterruptedNamingTheRing) {
  install_signal_handling();
  for (const char* id : {"eventfd", "eventfd_sem"}) {
    SCOPED_TRACE(id);
    TransportPtr t = make(id, 64);
    t->attach(Role::kProducer, ::getpid());  // no peer: nothing will come
    std::byte buf[64];
    std::string what;
    {
      const Interrupter interrupter(::pthread_self());
      try {
        (void)t->recv(buf);
      } catch (const std::system_error& e) {
        what = e.what();
      }
    }
    EXPECT_NE(what.find("interrupted by the watchdog"), std::string::npos) << what;
    EXPECT_NE(what.find(std::string(id) + " /dev/shm/"), std::string::npos) << what;
    EXPECT_NE(what.find("up ring"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace ipcbench
