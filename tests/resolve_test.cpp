// resolve(): the one eligibility and size check, against the registry (no id lists).
#include "harness/resolve.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

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
    EXPECT_TRUE(resolve(info.id, Form::kPair, fixed).runs());
    EXPECT_FALSE(resolve(info.id, Form::kPair, 4).runs());  // no payload kind carries 4 bytes
    if (caps.max_message_bytes != SIZE_MAX && caps.payload == Payload::kBytes) {
      const Resolved r = resolve(info.id, Form::kPair, caps.max_message_bytes + 1);
      EXPECT_FALSE(r.runs());
      EXPECT_NE(r.unsupported.find("larger"), std::string::npos) << r.unsupported;
    }
  }
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
