// The cma transport: the probe that decides whether this machine allows cross-memory attach, the
// refusal text when it does not, and a size mismatch between the receiver's posted buffer and the
// sender's message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "harness/process.hpp"
#include "harness/resolve.hpp"
#include "transports/os/cma_probe.hpp"
#include "transports/os/private_dir.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

TEST(CmaRefusal, EpermNamesTheErrnoAndThePtracePolicy) {
  const std::string why = cma_refusal(EPERM);
  EXPECT_NE(why.find("EPERM"), std::string::npos) << why;
  EXPECT_NE(why.find("ptrace"), std::string::npos) << why;
  EXPECT_TRUE(why.find("Yama ptrace_scope is") != std::string::npos ||
              why.find("no Yama") != std::string::npos)
      << why;
}

TEST(CmaRefusal, EnosysNamesTheKernelOption) {
  const std::string why = cma_refusal(ENOSYS);
  EXPECT_NE(why.find("ENOSYS"), std::string::npos) << why;
  EXPECT_NE(why.find("CONFIG_CROSS_MEMORY_ATTACH"), std::string::npos) << why;
}

TEST(CmaRefusal, NoneWhenTheProbeWorked) { EXPECT_EQ(cma_refusal(0), ""); }

TEST(CmaRefusal, ARefusedMachineListsEverySizeUnsupportedWithTheReason) {
  Capabilities caps = find_transport("cma")->describe();
  caps.unavailable = cma_refusal(EPERM);
  for (std::size_t bytes : {64ul, 65536ul}) {
    const auto why = unsupported_reason(caps, bytes);
    ASSERT_TRUE(why.has_value());
    EXPECT_NE(why->find("EPERM"), std::string::npos) << *why;
  }
}

// describe_cma() caches what the probe found on this machine, and says it.
TEST(CmaProbe, DescribeAgreesWithTheProbe) {
  const int err = probe_cma();
  EXPECT_EQ(find_transport("cma")->describe().unavailable, cma_refusal(err));
  if (err != 0) GTEST_SKIP() << cma_refusal(err);
}

TEST(CmaForms, RefusesFanInAndBroadcastWithTheReason) {
  const TransportInfo& info = *find_transport("cma");
  EXPECT_EQ(info.fan_in, nullptr);
  EXPECT_NE(info.no_fan_in.find("buffer"), std::string::npos) << info.no_fan_in;
  EXPECT_EQ(info.broadcast, nullptr);
  EXPECT_NE(info.no_broadcast.find("one copy per reader"), std::string::npos) << info.no_broadcast;
}

// The receiver posts the size it waits for; a message of another size is refused before any byte
// is copied, naming both sizes, never truncated.
TEST(CmaTransport, AMessageOfAnotherSizeThanThePostedBufferIsAnError) {
  const Capabilities caps = find_transport("cma")->describe();
  if (!caps.unavailable.empty()) GTEST_SKIP() << caps.unavailable;
  install_signal_handling();
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = 100;
  TransportPtr t = find_transport("cma")->make(options);
  const pid_t parent = ::getpid();
  ChildProcess child("receiver", [&] {
    t->attach(Role::kConsumer, parent);
    std::vector<std::byte> buf(100);
    (void)t->recv(buf);  // throws once the producer gives up and closes its ends
  });
  t->attach(Role::kProducer, child.pid());
  const std::vector<std::byte> msg(200, std::byte{1});
  try {
    t->send(msg);
    FAIL() << "a 200-byte message went into a 100-byte buffer";
  } catch (const std::system_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("process_vm_writev(cma"), std::string::npos) << what;
    EXPECT_NE(what.find("100"), std::string::npos) << what;
    EXPECT_NE(what.find("200"), std::string::npos) << what;
  }
  t.reset();  // the receiver sees end of file
  bool ok = true;
  EXPECT_EQ(child.wait(&ok), "exited with status 3");
}

// The copy goes to the process that posted the buffer (named in its record), not to the pid
// attach() was given: the fan-out driver once gave every channel the first consumer's pid. Here
// the producer is told a bystander's pid; with the bystander as target the echo would come back
// with whatever the consumer's buffer held before (zeros), and the bystander would be scribbled on.
TEST(CmaTransport, CopiesIntoTheProcessThatPostedTheBuffer) {
  const Capabilities caps = find_transport("cma")->describe();
  if (!caps.unavailable.empty()) GTEST_SKIP() << caps.unavailable;
  install_signal_handling();
  constexpr std::size_t kBytes = 8192;
  TransportOptions options;
  options.name = unique_name();
  options.message_bytes = kBytes;
  TransportPtr t = find_transport("cma")->make(options);
  const pid_t parent = ::getpid();
  ChildProcess bystander("bystander", [] { ::pause(); });
  ChildProcess echo("echo", [&] {
    t->attach(Role::kConsumer, parent);
    std::vector<std::byte> buf(kBytes);
    for (int i = 0; i < 3; ++i) {
      (void)t->recv(buf);
      t->send(buf);
    }
  });
  t->attach(Role::kProducer, bystander.pid());
  std::mt19937 rng(11);
  std::vector<std::byte> msg(kBytes), back(kBytes);
  for (int i = 0; i < 3; ++i) {
    for (auto& b : msg) b = static_cast<std::byte>(rng() | 1);  // never the zeros of a fresh buffer
    t->send(msg);
    (void)t->recv(back);
    ASSERT_EQ(back, msg) << "message " << i;
  }
  bool ok = false;
  EXPECT_EQ(echo.wait(&ok), "exited with status 0");
}

}  // namespace
}  // namespace ipcbench
