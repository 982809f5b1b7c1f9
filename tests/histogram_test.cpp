#include "harness/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace ipcbench {
namespace {

// The exact value at percentile p of sorted samples, by the same nearest-rank rule.
std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

void expect_within(std::uint64_t got, std::uint64_t want, double rel) {
  EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(want)),
            rel * static_cast<double>(want) + 1.0)
      << "got " << got << " want " << want;
}

TEST(Histogram, EmptyReportsZero) {
  auto h = std::make_unique<Histogram>();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->percentile(50), 0u);
  EXPECT_EQ(h->max(), 0u);
  EXPECT_EQ(h->mean(), 0.0);
}

TEST(Histogram, PercentileOfOneSampleIsThatSample) {
  for (std::uint64_t v : {0ull, 1ull, 255ull, 256ull, 12345ull, 987654321ull, 1ull << 62}) {
    auto h = std::make_unique<Histogram>();
    h->record(v);
    EXPECT_EQ(h->percentile(50), v);
    EXPECT_EQ(h->percentile(99.9), v);
    EXPECT_EQ(h->max(), v);
    EXPECT_EQ(h->min(), v);
  }
}

TEST(Histogram, SmallValuesAreExact) {
  auto h = std::make_unique<Histogram>();
  for (std::uint64_t v = 1; v <= 100; ++v) h->record(v);
  EXPECT_EQ(h->percentile(50), 50u);
  EXPECT_EQ(h->percentile(90), 90u);
  EXPECT_EQ(h->percentile(99), 99u);
  EXPECT_EQ(h->percentile(100), 100u);
  EXPECT_DOUBLE_EQ(h->mean(), 50.5);
}

TEST(Histogram, BucketsCoverEveryValueWithinRelativePrecision) {
  for (std::size_t b = 0; b + 1 < Histogram::kBuckets; ++b) {
    ASSERT_EQ(Histogram::bucket_high(b) + 1, Histogram::bucket_low(b + 1)) << b;
    ASSERT_EQ(Histogram::bucket_of(Histogram::bucket_low(b)), b);
    ASSERT_EQ(Histogram::bucket_of(Histogram::bucket_high(b)), b);
    const double width = static_cast<double>(Histogram::bucket_high(b) - Histogram::bucket_low(b));
    ASSERT_LE(width / static_cast<double>(std::max<std::uint64_t>(Histogram::bucket_low(b), 1)),
              1.0 / 128);
  }
  EXPECT_EQ(Histogram::bucket_of(UINT64_MAX), Histogram::kBuckets - 1);
}

TEST(Histogram, UniformDistributionPercentiles) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> dist(1000, 100000);
  std::vector<std::uint64_t> v(200000);
  auto h = std::make_unique<Histogram>();
  for (auto& x : v) h->record(x = dist(rng));
  for (double p : {50.0, 90.0, 99.0, 99.9}) expect_within(h->percentile(p), exact_percentile(v, p), 0.008);
  EXPECT_EQ(h->max(), *std::max_element(v.begin(), v.end()));
}

TEST(Histogram, ExponentialDistributionPercentiles) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> dist(1.0 / 20000.0);
  std::vector<std::uint64_t> v(200000);
  auto h = std::make_unique<Histogram>();
  for (auto& x : v) h->record(x = static_cast<std::uint64_t>(dist(rng)) + 1);
  for (double p : {50.0, 90.0, 99.0, 99.9}) expect_within(h->percentile(p), exact_percentile(v, p), 0.008);
  // Analytic check: the median of an exponential with mean m is m ln 2.
  expect_within(h->percentile(50), static_cast<std::uint64_t>(20000 * std::log(2.0)), 0.03);
}

TEST(Histogram, BimodalTailIsSeenByP999) {
  auto h = std::make_unique<Histogram>();
  for (int i = 0; i < 9980; ++i) h->record(1000);
  for (int i = 0; i < 20; ++i) h->record(1'000'000);
  expect_within(h->percentile(99), 1000, 0.008);
  expect_within(h->percentile(99.9), 1'000'000, 0.008);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  auto a = std::make_unique<Histogram>(), b = std::make_unique<Histogram>(),
       all = std::make_unique<Histogram>();
  for (std::uint64_t v = 1; v < 50000; v += 7) {
    (v % 2 ? a : b)->record(v);
    all->record(v);
  }
  a->merge(*b);
  EXPECT_EQ(a->count(), all->count());
  for (double p : {1.0, 50.0, 99.0, 100.0}) EXPECT_EQ(a->percentile(p), all->percentile(p));
  EXPECT_EQ(a->min(), all->min());
  EXPECT_EQ(a->max(), all->max());
}

}  // namespace
}  // namespace ipcbench
