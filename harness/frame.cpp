#include "harness/frame.hpp"

#include <algorithm>
#include <atomic>

namespace ipcbench {

std::optional<std::size_t> fixed_message_bytes(Payload payload) {
  switch (payload) {
    case Payload::kBytes:
      return std::nullopt;
    case Payload::kWord:
      return kWordBytes;
    case Payload::kNothing:
      return 0;
  }
  return std::nullopt;
}

std::string checks_applied(Payload payload) {
  switch (payload) {
    case Payload::kBytes:
      return "sequence number + every payload byte + one-way time stamp";
    case Payload::kWord:
      return "sequence number carried in the message (no payload bytes, no time stamp)";
    case Payload::kNothing:
      return "count of notifications only (the mechanism carries no data)";
  }
  return "?";
}

namespace {
// Differs between the two buffers in every byte (the 0x80 bit) and has no short period, so a
// payload shifted by any offset fails the check.
std::byte pattern_byte(std::size_t i, unsigned which) {
  const auto mixed = static_cast<std::uint32_t>((i * 2654435761u) >> 13);
  return static_cast<std::byte>((mixed & 0x7fu) | (which ? 0x80u : 0u));
}
}  // namespace

Framer::Framer(Payload payload, std::size_t message_bytes)
    : payload_(payload), bytes_(message_bytes) {
  for (unsigned which = 0; which < 2; ++which) {
    pattern_[which].resize(bytes_);
    for (std::size_t i = 0; i < bytes_; ++i) pattern_[which][i] = pattern_byte(i, which);
  }
  control_.resize(std::max(bytes_, kHeaderBytes));
}

std::size_t Framer::ack_bytes() const noexcept {
  switch (payload_) {
    case Payload::kBytes:
      return kHeaderBytes;
    case Payload::kWord:
      return kWordBytes;
    case Payload::kNothing:
      return 0;
  }
  return 0;
}

std::span<const std::byte> Framer::data(std::uint64_t seq, std::uint64_t stamp_ns) noexcept {
  std::vector<std::byte>& buf = pattern_[seq & 1];
  if (payload_ == Payload::kBytes) {
    const FrameHeader header{seq, stamp_ns};
    std::memcpy(buf.data(), &header, sizeof header);
  } else if (payload_ == Payload::kWord) {
    std::memcpy(buf.data(), &seq, sizeof seq);
  }
  return {buf.data(), bytes_};
}

std::span<const std::byte> Framer::control(std::uint64_t mark, std::uint64_t arg,
                                           std::size_t size) noexcept {
  if (payload_ == Payload::kBytes) {
    const FrameHeader header{mark, arg};
    std::memcpy(control_.data(), &header, sizeof header);
  } else if (payload_ == Payload::kWord) {
    std::memcpy(control_.data(), &mark, sizeof mark);
  }
  return {control_.data(), size};
}

namespace {
std::atomic<std::uint64_t> g_checks{0};
}  // namespace

std::uint64_t Framer::checks_made() noexcept { return g_checks.load(std::memory_order_relaxed); }

bool Framer::payload_ok(std::span<const std::byte> msg, std::uint64_t seq) const noexcept {
  if (payload_ != Payload::kBytes || msg.size() <= kHeaderBytes) return true;
  g_checks.store(g_checks.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  const std::vector<std::byte>& want = pattern_[seq & 1];
  return std::memcmp(msg.data() + kHeaderBytes, want.data() + kHeaderBytes,
                     msg.size() - kHeaderBytes) == 0;
}

}  // namespace ipcbench
