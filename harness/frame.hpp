// How the harness fills and checks messages: header (sequence, stamp), payload pattern, markers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "harness/resolve.hpp"  // unsupported_reason(), for callers that still look for it here
#include "transports/transport.hpp"

namespace ipcbench {

// A kBytes message starts with this header; the rest is a payload pattern checked byte by byte.
struct FrameHeader {
  std::uint64_t seq;       // data: 0, 1, 2...; control marks have a flag bit set
  std::uint64_t stamp_ns;  // CLOCK_MONOTONIC when sent (data), or an argument (control)
};
inline constexpr std::size_t kHeaderBytes = sizeof(FrameHeader);

// A lossy pair's wake-up on the data path (flag | batch; what it announces is on the control
// channel, see harness/loops.hpp).
inline constexpr std::uint64_t kEndFlag = std::uint64_t{1} << 63;
inline constexpr std::uint64_t kAckFlag = std::uint64_t{1} << 62;  // ack of a batch: flag | batch
inline constexpr std::uint64_t kFlagMask = kEndFlag | kAckFlag;

// The one size a kWord/kNothing transport carries, or nullopt for kBytes.
[[nodiscard]] std::optional<std::size_t> fixed_message_bytes(Payload payload);
// Which checks apply to every received message, in words (console, JSON and --list).
[[nodiscard]] std::string checks_applied(Payload payload);

// Builds and checks messages of one size for one payload kind. Two pattern buffers alternate by
// sequence number and differ in every byte, so a stale or misframed payload never passes; the
// sender only writes the header into a prebuilt buffer (no per-message generation cost) and the
// receiver checks every payload byte with one memcmp.
class Framer {
 public:
  Framer(Payload payload, std::size_t message_bytes);

  [[nodiscard]] std::size_t message_bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t ack_bytes() const noexcept;  // acks carry a header (or word) only
  [[nodiscard]] Payload payload() const noexcept { return payload_; }

  // The message for `seq`, with `stamp_ns` written in (kBytes). Valid until the next call for the
  // same parity of seq.
  [[nodiscard]] std::span<const std::byte> data(std::uint64_t seq, std::uint64_t stamp_ns) noexcept;
  // A control message (a lossy pair's wake-up, or a reliable stream's batch ack) of `size` bytes.
  [[nodiscard]] std::span<const std::byte> control(std::uint64_t mark, std::uint64_t arg,
                                                   std::size_t size) noexcept;

  // The sequence number in a received message (kBytes/kWord); kNothing has none.
  [[nodiscard]] static std::uint64_t seq_of(std::span<const std::byte> msg) noexcept {
    std::uint64_t seq = 0;
    std::memcpy(&seq, msg.data(), sizeof seq);
    return seq;
  }
  [[nodiscard]] static std::uint64_t stamp_of(std::span<const std::byte> msg) noexcept {
    std::uint64_t stamp = 0;
    std::memcpy(&stamp, msg.data() + sizeof(std::uint64_t), sizeof stamp);
    return stamp;
  }
  static void set_stamp(std::span<std::byte> msg, std::uint64_t stamp_ns) noexcept {
    std::memcpy(msg.data() + sizeof(std::uint64_t), &stamp_ns, sizeof stamp_ns);
  }
  // True when the payload of `msg` is the pattern for `seq` (kBytes; always true otherwise).
  [[nodiscard]] bool payload_ok(std::span<const std::byte> msg, std::uint64_t seq) const noexcept;
  // How many payloads this process has checked (kBytes), for the tests that check where checks
  // happen. Counted with plain loads and stores: no locked instruction on the checking path, and
  // two threads checking at once may lose counts (never gain them).
  [[nodiscard]] static std::uint64_t checks_made() noexcept;

 private:
  Payload payload_;
  std::size_t bytes_;
  std::vector<std::byte> pattern_[2];
  std::vector<std::byte> control_;
};

}  // namespace ipcbench
