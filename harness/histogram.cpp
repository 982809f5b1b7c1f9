#include "harness/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace ipcbench {

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double Histogram::mean() const noexcept {
  return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0;
}

std::uint64_t Histogram::bucket_low(std::size_t bucket) noexcept {
  if (bucket < kExact) return bucket;
  const std::size_t shift = (bucket - kExact) / kSub + 1;
  const std::uint64_t top = (bucket - kExact) % kSub + kSub;
  return top << shift;
}

std::uint64_t Histogram::bucket_high(std::size_t bucket) noexcept {
  if (bucket < kExact) return bucket;
  const std::size_t shift = (bucket - kExact) / kSub + 1;
  return bucket_low(bucket) + ((std::uint64_t{1} << shift) - 1);
}

std::uint64_t Histogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  // The nearest rank, ceil(p * n / 100), in exact integer arithmetic with p in thousandths of a
  // percent: in floating point, p99.9 of 1000 samples comes out as rank 1000, the maximum.
  // Split as n = q * 100000 + r so that no product overflows: rank = q * p + ceil(r * p / 100000).
  const auto p_milli = static_cast<std::uint64_t>(std::llround(std::clamp(p, 0.0, 100.0) * 1000.0));
  const std::uint64_t q = count_ / 100'000, r = count_ % 100'000;
  auto rank = q * p_milli + (r * p_milli + 99'999) / 100'000;
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t mid = bucket_low(i) + (bucket_high(i) - bucket_low(i)) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace ipcbench
