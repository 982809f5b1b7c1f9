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
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
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
