// zeromq: the socket file's mode, whole messages (another size is an error, never truncated),
// interruptible waits, no zmq thread or fd left after a socket goes, a forked copy that leaves its
// parent's context alone, the largest message read from zmq, and the fan-in server's replies to a
// client that is gone.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

#include "harness/process.hpp"
#include "tests/test_util.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/os/sys_error.hpp"
#include "transports/os/zeromq_socket.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

using Clock = std::chrono::steady_clock;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Two PAIR sockets of this process connected over ipc:// in a private directory.
struct ConnectedPair {
  explicit ConnectedPair(const std::filesystem::path& root)
      : dir(root), path((dir.path() / "t.sock").string()) {
    a = ZmqSocket(ZMQ_PAIR, "test socket a");
    b = ZmqSocket(ZMQ_PAIR, "test socket b");
    a.bind_ipc(path);
    b.connect_ipc(path);
  }
  PrivateDir dir;
  std::string path;
  ZmqSocket a, b;
};

TEST(ZmqSocket, TheBoundSocketFileIs0600WhateverTheUmask) {
  test::ScratchDir scratch;
  const mode_t old = ::umask(0);  // zmq would make the file 0777 under this umask
  PrivateDir dir(scratch.path());
  const std::string path = (dir.path() / "s.sock").string();
  ZmqSocket s(ZMQ_PAIR, "test socket");
  s.bind_ipc(path);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
}

TEST(ZmqSocket, AMessageOfAnotherSizeIsAnErrorNotTruncated) {
  test::ScratchDir scratch;
  ConnectedPair p(scratch.path());
  for (std::size_t sent : {100u, 32u}) {
    SCOPED_TRACE(sent);
    std::vector<std::byte> out(sent, std::byte{1});
    ASSERT_TRUE(p.a.send(out, false));
    std::array<std::byte, 64> in{};
    try {
      p.b.recv(in);
      ADD_FAILURE() << "a message of " << sent << " bytes filled a 64-byte buffer";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), EMSGSIZE);
      EXPECT_TRUE(contains(e.what(), std::to_string(sent) + " bytes where 64")) << e.what();
      EXPECT_TRUE(contains(e.what(), "test socket b")) << e.what();
    }
    EXPECT_EQ(in, decltype(in){});  // nothing was copied
  }
}

TEST(ZmqSocket, AMessageOfSeveralFramesIsAnError) {
  test::ScratchDir scratch;
  ConnectedPair p(scratch.path());
  std::array<std::byte, 8> frame{};
  ASSERT_TRUE(p.a.send(frame, true));
  ASSERT_TRUE(p.a.send(frame, false));
  try {
    p.b.recv(frame);
    ADD_FAILURE() << "a two-frame message was taken as one";
  } catch (const std::system_error& e) {
    EXPECT_TRUE(contains(e.what(), "more than one frame")) << e.what();
  }
}

TEST(ZmqSocket, AnInterruptedWaitThrowsNamingTheSocket) {
  test::ScratchDir scratch;
  ConnectedPair p(scratch.path());
  std::array<std::byte, 8> in{};
  set_interrupted(true);
  const auto start = Clock::now();
  try {
    p.b.recv(in);  // nothing comes: the first slice ends, interrupted() is seen
    ADD_FAILURE() << "an interrupted wait returned";
  } catch (const std::system_error& e) {
    EXPECT_TRUE(contains(e.what(), "interrupted by the watchdog")) << e.what();
    EXPECT_TRUE(contains(e.what(), "test socket b")) << e.what();
  }
  set_interrupted(false);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(kZmqWaitSliceMs * 3));
}

// zmq_ctx_term joins the context's I/O and reaper threads and closes their eventfds and epoll fd.
TEST(ZmqSocket, ClosingLeavesNoThreadOrFdBehind) {
  test::ScratchDir scratch;
  const std::size_t threads = thread_count(), fds = test::open_fd_count();
  {
    ConnectedPair p(scratch.path());
    std::array<std::byte, 16> msg{std::byte{7}}, back{};
    ASSERT_TRUE(p.a.send(msg, false));
    p.b.recv(back);
    EXPECT_EQ(back, msg);
    EXPECT_GT(thread_count(), threads);  // zmq's threads run while the sockets live
  }
  EXPECT_EQ(thread_count(), threads);
  EXPECT_EQ(test::open_fd_count(), fds);
}

// A forked child holds a copy of its parent's context, whose threads exist only in the parent:
// destroying that copy must not touch it (zmq_ctx_term would wait for threads that are not there).
TEST(ZmqSocket, AForkedCopyLeavesTheParentsContextAlone) {
  test::ScratchDir scratch;
  ConnectedPair p(scratch.path());
  ChildProcess child("copy", [&] {
    p.a.reset();
    p.b.reset();
  });
  bool ok = false;
  EXPECT_EQ(child.wait(&ok), "exited with status 0");
  std::array<std::byte, 4> msg{std::byte{3}}, back{};
  ASSERT_TRUE(p.a.send(msg, false));
  p.b.recv(back);
  EXPECT_EQ(back, msg);
}

TEST(Zeromq, TheLargestMessageIsZmqMaxmsgsizeReadFromASocket) {
  void* context = zmq_ctx_new();
  void* socket = zmq_socket(context, ZMQ_PAIR);
  std::int64_t value = 0;
  std::size_t len = sizeof value;
  ASSERT_EQ(zmq_getsockopt(socket, ZMQ_MAXMSGSIZE, &value, &len), 0);
  zmq_close(socket);
  zmq_ctx_term(context);
  const Capabilities caps = find_transport("zeromq")->describe();
  EXPECT_TRUE(contains(caps.limit_source, "ZMQ_MAXMSGSIZE = " + std::to_string(value)))
      << caps.limit_source;
  EXPECT_EQ(caps.max_message_bytes, value < 0 ? SIZE_MAX : static_cast<std::size_t>(value));
  EXPECT_EQ(find_transport("zeromq")->fan_in->describe(3).max_message_bytes,
            caps.max_message_bytes);
}

TEST(Zeromq, BroadcastIsRefusedBecausePubSubDrops) {
  const TransportInfo& info = *find_transport("zeromq");
  EXPECT_EQ(info.broadcast, nullptr);
  EXPECT_TRUE(contains(std::string(info.no_broadcast), "high-water mark")) << info.no_broadcast;
  EXPECT_NE(info.fan_in, nullptr);
}

// ZMQ_ROUTER_MANDATORY: a reply to a client that never connected, or whose process has ended,
// is reported (server_send false), not dropped silently.
TEST(ZeromqFanIn, AReplyToAGoneClientIsReported) {
  test::ScratchDir scratch;
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = 64;
  options.tmp_root = scratch.path();
  FanInPtr t = find_transport("zeromq")->fan_in->make(options, 2);
  ChildProcess client("client 0", [&] {
    t->attach_client(0);
    std::array<std::byte, 64> msg{std::byte{5}};
    t->client_send(msg);
    (void)t->client_recv(msg);
  });
  t->attach_server();  // this process serves (the harness forks the server; here it is simpler)
  std::array<std::byte, 64> buf{};
  FanInEvent e;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  do {
    e = t->server_recv(buf);
  } while (e.kind == FanInEvent::Kind::kIdle && Clock::now() < deadline);
  ASSERT_EQ(e.kind, FanInEvent::Kind::kRequest);
  EXPECT_EQ(e.client, 0u);
  EXPECT_EQ(buf[0], std::byte{5});
  EXPECT_FALSE(t->server_send(1, buf));  // client 1 never connected
  EXPECT_TRUE(t->server_send(0, buf));
  bool ok = false;
  EXPECT_EQ(client.wait(&ok), "exited with status 0");
  bool refused = false;  // zmq learns of the closed connection in the background
  while (!refused && Clock::now() < deadline) {
    refused = !t->server_send(0, buf);
    if (!refused) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(refused) << "a reply to an ended client was still accepted after 5 s";
}

}  // namespace
}  // namespace ipcbench
