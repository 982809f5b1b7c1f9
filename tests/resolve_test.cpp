// resolve(): the one eligibility and size check, against the registry (no id lists).
#include "harness/resolve.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness/fan_in.hpp"
#include "harness/fan_out.hpp"
#include "harness/frame.hpp"
#include "harness/pairs.hpp"
#include "transports/registry.hpp"

namespace ipcbench {
namespace {

TEST(Resolve, EveryTransportHasAPairFormAndEveryMissingFormAReason) {
  for (const TransportInfo& info : all_transports()) {
    for (Form form : kAllForms) {
      SCOPED_TRACE(std::string(info.id) + " " + std::string(form_name(form)));
      const FormSupport s = form_support(info, form);
      EXPECT_FALSE(s.text.empty());
      if (form == Form::kPair) {
        EXPECT_TRUE(s.supported);
      }
      if (form == Form::kFanIn) {
        EXPECT_EQ(s.supported, info.fan_in != nullptr);
      }
    }
  }
}

TEST(Resolve, AnUnsupportedFormIsUnsupportedAtEverySizeWithItsReason) {
  for (const TransportInfo& info : all_transports()) {
    for (Form form : kAllForms) {
      const FormSupport s = form_support(info, form);
      if (s.supported) continue;
      for (std::size_t bytes : {0ul, 8ul, 64ul, 4096ul}) {
        const Resolved r = resolve(info.id, form, bytes, 2);
        EXPECT_FALSE(r.runs());
        EXPECT_EQ(r.unsupported, s.text);
        EXPECT_THROW(r.require(), Unsupported);
      }
    }
  }
}

TEST(Resolve, SizesFollowTheCapabilities) {
  for (const TransportInfo& info : all_transports()) {
    SCOPED_TRACE(std::string(info.id));
    const Capabilities caps = info.describe();
    const std::size_t fixed = pattern_bytes(info, 64);
    if (!caps.unavailable.empty()) {  // this machine cannot run it: every size says why
      const Resolved r = resolve(info.id, Form::kPair, fixed);
      EXPECT_FALSE(r.runs());
      EXPECT_NE(r.unsupported.find(caps.unavailable), std::string::npos) << r.unsupported;
      continue;
    }
    EXPECT_TRUE(resolve(info.id, Form::kPair, fixed).runs());
    EXPECT_FALSE(resolve(info.id, Form::kPair, 4).runs());  // no payload kind carries 4 bytes
    if (caps.max_message_bytes != SIZE_MAX && caps.payload == Payload::kBytes) {
      const Resolved r = resolve(info.id, Form::kPair, caps.max_message_bytes + 1);
      EXPECT_FALSE(r.runs());
      EXPECT_NE(r.unsupported.find("larger"), std::string::npos) << r.unsupported;
    }
  }
}

TEST(Resolve, AMechanismUnavailableOnThisMachineIsUnsupportedAtEverySizeSayingWhy) {
  Capabilities caps;
  caps.unavailable = "io_uring is disabled (/proc/sys/kernel/io_uring_disabled is 2)";
  for (std::size_t bytes : {std::size_t{0}, kWordBytes, std::size_t{64}, std::size_t{1} << 20}) {
    const std::optional<std::string> why = unsupported_reason(caps, bytes);
    ASSERT_TRUE(why.has_value()) << bytes;
    EXPECT_EQ(*why, "unavailable on this machine: " + caps.unavailable);
  }
  caps.unavailable.clear();
  EXPECT_FALSE(unsupported_reason(caps, 64).has_value());
}

TEST(Resolve, UnknownIdsAndBadPeerCountsAreInvalidArguments) {
  try {
    (void)resolve("carrier_pigeon", Form::kPair, 64);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("carrier_pigeon"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("pipe"), std::string::npos);
  }
  EXPECT_THROW((void)resolve("pipe", Form::kFanIn, 64, 0), std::invalid_argument);
  EXPECT_THROW((void)resolve("pipe", Form::kPairs, 64, kMaxPeers + 1), std::invalid_argument);
  EXPECT_NO_THROW((void)resolve("pipe", Form::kFanOut, 64, kMaxPeers));
}

TEST(Resolve, PatternPlacementSpreadsRoundRobinInTheFormsOrder) {
  const std::vector<int> two = {0, 1};
  EXPECT_EQ(pattern_placement(Form::kFanIn, 2, two), (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(pattern_placement(Form::kFanOut, 1, two), (std::vector<int>{0, 1}));
  EXPECT_EQ(pattern_placement(Form::kPairs, 2, std::vector<int>{3, 5, 7, 9}),
            (std::vector<int>{3, 5, 7, 9}));
  EXPECT_EQ(pattern_placement(Form::kPairs, 2, two), (std::vector<int>{0, 1, 0, 1}));
  EXPECT_TRUE(pattern_placement(Form::kFanIn, 0, two).empty());
  EXPECT_EQ(form_processes(Form::kFanOut, 4), 5u);
  EXPECT_EQ(form_processes(Form::kPairs, 4), 8u);
}

TEST(Resolve, CpuSharingCountsProcessesAndDistinctCpus) {
  const CpuSharing shared = cpu_sharing(std::vector<int>{0, 1, 0});
  EXPECT_TRUE(shared.shared());
  EXPECT_EQ(shared.text(), "shares CPUs: 3 processes on 2 CPUs");
  EXPECT_EQ(cpu_sharing(std::vector<int>{4, 4}).text(), "shares CPUs: 2 processes on 1 CPU");
  const CpuSharing apart = cpu_sharing(std::vector<int>{0, 1, 2});
  EXPECT_FALSE(apart.shared());
  EXPECT_EQ(apart.text(), "");
}

// A spinner keeps its CPU while it waits: a placement with fewer CPUs than processes is
// unsupported, and the reason names what it needs and what it has. A blocking transport runs
// there, and the resolution says the CPUs are shared.
TEST(Resolve, ASpinnerWithFewerCpusThanProcessesIsUnsupportedNamingBoth) {
  std::size_t spinners = 0;
  for (const TransportInfo& info : all_transports()) {
    SCOPED_TRACE(std::string(info.id));
    const std::size_t bytes = pattern_bytes(info, 64);
    for (Form form : {Form::kFanIn, Form::kFanOut, Form::kPairs}) {
      if (!form_support(info, form).supported) continue;
      const std::vector<int> crowded = pattern_placement(form, 2, std::vector<int>{0, 1});
      const std::vector<int> roomy = pattern_placement(form, 2, std::vector<int>{0, 1, 2, 3});
      const Resolved spread = resolve(info.id, form, bytes, 2, roomy);
      const Resolved shared = resolve(info.id, form, bytes, 2, crowded);
      EXPECT_FALSE(spread.sharing.shared());
      EXPECT_TRUE(shared.sharing.shared());
      EXPECT_EQ(shared.placement, crowded);
      if (!spread.runs()) continue;  // refused for another reason (a size)
      if (!info.describe().busy_polls) {
        EXPECT_TRUE(shared.runs()) << shared.unsupported;
        continue;
      }
      ++spinners;
      ASSERT_FALSE(shared.runs()) << form_name(form);
      const std::string need = form == Form::kPairs ? "needs 4 CPUs" : "needs 3 CPUs";
      EXPECT_NE(shared.unsupported.find("spins while it waits: " + need), std::string::npos)
          << shared.unsupported;
      EXPECT_NE(shared.unsupported.find("has 2 (cpu0,cpu1)"), std::string::npos)
          << shared.unsupported;
      EXPECT_THROW(shared.require(), Unsupported);
      // One peer on two CPUs fits.
      EXPECT_TRUE(
          resolve(info.id, form, bytes, 1, pattern_placement(form, 1, std::vector<int>{0, 1}))
              .runs());
    }
  }
  EXPECT_GT(spinners, 0u) << "no busy-polling transport with a many-process form registered";
}

TEST(Resolve, APlacementOfTheWrongSizeIsAnInvalidArgument) {
  try {
    (void)resolve("pipe", Form::kFanIn, 64, 2, std::vector<int>{0, 1});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("server + 2 clients"), std::string::npos) << e.what();
  }
}

// The drivers refuse a spinner's crowded placement before creating anything.
TEST(Resolve, DriversRefuseASpinnerWithFewerCpusThanProcesses) {
  std::size_t refused = 0;
  for (const TransportInfo& info : all_transports()) {
    if (!info.describe().busy_polls) continue;
    SCOPED_TRACE(std::string(info.id));
    if (form_support(info, Form::kFanOut).supported) {
      FanOutConfig out;
      out.transport_id = std::string(info.id);
      out.consumers = 2;
      out.cpus = {0, 1};
      try {
        (void)run_fan_out(out);
        ADD_FAILURE() << "FanOut ran 3 processes on 2 CPUs";
      } catch (const Unsupported& e) {
        EXPECT_NE(std::string(e.what()).find("needs 3 CPUs"), std::string::npos) << e.what();
        ++refused;
      }
    }
    PairsConfig pairs;
    pairs.transport_id = std::string(info.id);
    pairs.message_bytes = pattern_bytes(info, 64);
    pairs.pairs = 2;
    pairs.cpus = {{0, 1}};
    try {
      (void)run_pairs(pairs);
      ADD_FAILURE() << "Pairs ran 4 processes on 2 CPUs";
    } catch (const Unsupported& e) {
      EXPECT_NE(std::string(e.what()).find("needs 4 CPUs"), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0u) << "no busy-polling transport registered";
}

// The drivers refuse exactly what resolve() refuses, before creating anything.
TEST(Resolve, DriversRefuseWhatResolveRefuses) {
  for (const TransportInfo& info : all_transports()) {
    SCOPED_TRACE(std::string(info.id));
    if (!resolve(info.id, Form::kFanIn, 64, 2).runs()) {
      FanInConfig c;
      c.transport_id = std::string(info.id);
      c.clients = 2;
      EXPECT_THROW((void)run_fan_in(c), Unsupported);
    }
    if (!resolve(info.id, Form::kFanOut, 64, 2).runs()) {
      FanOutConfig c;
      c.transport_id = std::string(info.id);
      c.consumers = 2;
      EXPECT_THROW((void)run_fan_out(c), Unsupported);
    }
    PairsConfig c;
    c.transport_id = std::string(info.id);
    c.message_bytes = 4;  // below the header, and not a fixed size
    EXPECT_THROW((void)run_pairs(c), Unsupported);
  }
}

}  // namespace
}  // namespace ipcbench
