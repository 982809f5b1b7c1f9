// The vmsplice transport's writer: the pipe still references arena bytes it has not handed to the
// reader, so an arena byte may be overwritten only once the pipe has provably let go of it. These
// tests keep the pipe full so the writer runs as far ahead of the reader as the kernel lets it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "harness/process.hpp"
#include "harness/resolve.hpp"
#include "transports/os/io.hpp"
#include "transports/os/unique_fd.hpp"
#include "transports/os/vmsplice_arena.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

struct TestPipe {
  UniqueFd read_end, write_end;
};

TestPipe make_pipe() {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0) << std::strerror(errno);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Messages are whole pages, so a full pipe holds exactly its capacity in bytes. Three pages: many
// messages in the pipe at once; the capacity itself: every piece as large as the writer allows, so
// an arena even one page smaller than the rule's would hand out bytes the pipe still holds.
constexpr std::size_t kSmallMessageBytes = 3 * 4096;
constexpr std::uint64_t kMessages = 96;

struct Outcome {
  std::uint64_t read = 0, corrupt = 0;
  bool stalled = false;
};

// Sends kMessages messages of `message_bytes`, each filled with its own number, through a
// VmspliceWriter that believes the pipe holds `assumed_capacity` bytes. A reader thread takes the
// next message only once the pipe is full (FIONREAD), so every arena byte the writer could reuse
// too early is still in the pipe when it does, and the reader sees the overwritten bytes.
Outcome stream_through_full_pipe(TestPipe& p, std::size_t assumed_capacity,
                                 std::size_t message_bytes) {
  const std::size_t capacity = pipe_capacity(p.write_end.get(), "test pipe");
  VmspliceWriter writer(p.write_end.get(), assumed_capacity, "test pipe");
  std::atomic<bool> written{false};
  Outcome out;
  std::thread reader([&] {
    std::vector<std::uint64_t> words(message_bytes / sizeof(std::uint64_t));
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (std::uint64_t i = 0; i < kMessages; ++i) {
      int queued = 0;
      while (!written.load() && ::ioctl(p.read_end.get(), FIONREAD, &queued) == 0 &&
             static_cast<std::size_t>(queued) < capacity) {
        if (std::chrono::steady_clock::now() > give_up) {
          out.stalled = true;
          return;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      read_all(p.read_end.get(), std::as_writable_bytes(std::span(words)), "test pipe");
      ++out.read;
      for (std::uint64_t w : words) {
        if (w != i) {
          ++out.corrupt;
          break;
        }
      }
    }
  });
  std::vector<std::uint64_t> msg(message_bytes / sizeof(std::uint64_t));
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    std::fill(msg.begin(), msg.end(), i);
    EXPECT_TRUE(writer.write(std::as_bytes(std::span(msg))));
  }
  written = true;
  reader.join();
  return out;
}

TEST(VmspliceWriter, ReusesNoArenaByteThePipeStillReferences) {
  TestPipe p = make_pipe();
  const std::size_t capacity = pipe_capacity(p.write_end.get(), "test pipe");
  for (std::size_t bytes : {kSmallMessageBytes, capacity}) {
    SCOPED_TRACE("message bytes " + std::to_string(bytes));
    const Outcome out = stream_through_full_pipe(p, capacity, bytes);
    EXPECT_FALSE(out.stalled);
    EXPECT_EQ(out.read, kMessages);
    EXPECT_EQ(out.corrupt, 0u);
  }
}

// The control: the same run with a writer that believes the pipe holds a quarter of what it does
// (as one with the default 64 KiB compiled in would on an enlarged pipe) reuses arena bytes the
// pipe still references, and the reader sees them changed. Without this, the test above could
// pass whatever the writer did.
TEST(VmspliceWriter, ReusingBytesTooEarlyCorruptsWhatTheReaderGets) {
  TestPipe p = make_pipe();
  const std::size_t capacity = pipe_capacity(p.write_end.get(), "test pipe");
  const Outcome out = stream_through_full_pipe(p, capacity / 4, kSmallMessageBytes);
  EXPECT_FALSE(out.stalled);
  EXPECT_EQ(out.read, kMessages);
  EXPECT_GT(out.corrupt, 0u);
}

// The capacity comes from the pipe at run time: an enlarged pipe gets an arena to match, and the
// full-pipe run stays intact on it.
TEST(VmspliceWriter, SizesItsArenaFromTheCapacityThePipeReportsNow) {
  TestPipe p = make_pipe();
  const std::size_t before = pipe_capacity(p.write_end.get(), "test pipe");
  if (::fcntl(p.write_end.get(), F_SETPIPE_SZ, static_cast<int>(4 * before)) < 0) {
    GTEST_SKIP() << "cannot enlarge a pipe here: " << std::strerror(errno);
  }
  const std::size_t after = pipe_capacity(p.write_end.get(), "test pipe");
  EXPECT_GE(after, 4 * before);
  const VmspliceWriter writer(p.write_end.get(), after, "test pipe");
  EXPECT_EQ(writer.piece_bytes(), after);
  EXPECT_GE(writer.arena_bytes(), 2 * after);
  const Outcome out = stream_through_full_pipe(p, after, after);
  EXPECT_FALSE(out.stalled);
  EXPECT_EQ(out.corrupt, 0u);
}

TEST(VmspliceWriter, MessagesLargerThanThePipeGoInPiecesIntact) {
  TestPipe p = make_pipe();
  const std::size_t capacity = pipe_capacity(p.write_end.get(), "test pipe");
  VmspliceWriter writer(p.write_end.get(), capacity, "test pipe");
  std::vector<std::byte> sent(5 * capacity + 123), got(sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 7 + i / 251);
  std::thread reader([&] { read_all(p.read_end.get(), got, "test pipe"); });
  EXPECT_TRUE(writer.write(sent));
  reader.join();
  EXPECT_EQ(writer.accepted(), sent.size());
  EXPECT_EQ(got, sent);
}

TEST(VmspliceWriter, AGoneReaderIsFalseNotAnError) {
  TestPipe p = make_pipe();
  VmspliceWriter writer(p.write_end.get(), pipe_capacity(p.write_end.get(), "test pipe"),
                        "test pipe");
  p.read_end.reset();
  install_signal_handling();  // ignores SIGPIPE, as every run does
  const std::vector<std::byte> msg(64);
  EXPECT_FALSE(writer.write(msg));
}

TEST(VmspliceRefusal, NamesTheErrnoAndTheLikelyCause) {
  EXPECT_EQ(vmsplice_refusal(0), "");
  const std::string eperm = vmsplice_refusal(EPERM);
  EXPECT_NE(eperm.find("EPERM"), std::string::npos) << eperm;
  EXPECT_NE(eperm.find("seccomp"), std::string::npos) << eperm;
  const std::string other = vmsplice_refusal(ENOMEM);
  EXPECT_NE(other.find("ENOMEM"), std::string::npos) << other;
}

TEST(VmspliceRefusal, DescribeCarriesTheProbesAnswer) {
  const Capabilities caps = find_transport("vmsplice")->describe();
  EXPECT_EQ(caps.unavailable, vmsplice_refusal(probe_vmsplice()));
  EXPECT_NE(caps.limit_source.find("F_GETPIPE_SZ"), std::string::npos) << caps.limit_source;
  // A refused machine turns every size into an unsupported case naming the errno.
  Capabilities refused = caps;
  refused.unavailable = vmsplice_refusal(ENOSYS);
  const auto why = unsupported_reason(refused, 4096);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("ENOSYS"), std::string::npos) << *why;
}

TEST(VmspliceForms, FanInLikeThePipeAndNoBroadcastWithTheReason) {
  const TransportInfo& info = *find_transport("vmsplice");
  ASSERT_NE(info.fan_in, nullptr);
  EXPECT_EQ(info.fan_in->describe(4).unavailable, info.describe().unavailable);
  EXPECT_EQ(info.broadcast, nullptr);
  EXPECT_NE(info.no_broadcast.find("one reader"), std::string::npos) << info.no_broadcast;
}

}  // namespace
}  // namespace ipcbench
