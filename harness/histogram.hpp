// Histogram: a log-linear histogram of nanosecond samples, fixed size, mergeable, shareable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ipcbench {

// Values below 256 are exact; above, each power of two is split into 128 buckets, so any value is
// known within 1/128 (0.8%). The type is trivially copyable with no pointers, so it can live in a
// shared mapping written by a child. Hand-written: Debian ships no C/C++ HdrHistogram package.
class Histogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr std::size_t kSub = std::size_t{1} << kSubBits;  // buckets per power of two
  static constexpr std::size_t kExact = 2 * kSub;                  // values 0..255 are exact
  static constexpr std::size_t kBuckets = kExact + (64 - kSubBits - 1) * kSub;

  void record(std::uint64_t value_ns) noexcept {
    ++counts_[bucket_of(value_ns)];
    ++count_;
    sum_ += value_ns;
    if (value_ns < min_) min_ = value_ns;
    if (value_ns > max_) max_ = value_ns;
  }
  void merge(const Histogram& other) noexcept;
  void clear() noexcept { *this = Histogram{}; }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] std::uint64_t sum() const noexcept { return sum_; }
  [[nodiscard]] double mean() const noexcept;
  // The value at percentile p (0 < p <= 100, in steps of 0.001): the bucket of the sample of
  // nearest rank ceil(p * n / 100), computed in integers, reported as that bucket's midpoint
  // clamped to [min, max] (exact below 256). 0 when empty.
  [[nodiscard]] std::uint64_t percentile(double p) const noexcept;

  [[nodiscard]] static std::size_t bucket_of(std::uint64_t value) noexcept {
    if (value < kExact) return static_cast<std::size_t>(value);
    const unsigned msb = 63u - static_cast<unsigned>(__builtin_clzll(value));
    const unsigned shift = msb - kSubBits;
    return kExact + (shift - 1) * kSub + static_cast<std::size_t>((value >> shift) - kSub);
  }
  // The smallest and largest value that fall in `bucket`.
  [[nodiscard]] static std::uint64_t bucket_low(std::size_t bucket) noexcept;
  [[nodiscard]] static std::uint64_t bucket_high(std::size_t bucket) noexcept;
  [[nodiscard]] std::uint64_t bucket_count(std::size_t bucket) const noexcept {
    return counts_[bucket];
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace ipcbench
