#include "harness/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace ipcbench {
namespace {

// The oracle: the sample of nearest rank in the sorted raw samples, the rank counted in integers
// from p in thousandths of a percent (rank = ceil(p_milli * n / 100000), at least 1).
std::uint64_t sorted_sample(std::vector<std::uint64_t> v, std::uint64_t p_milli) {
  std::sort(v.begin(), v.end());
  const std::uint64_t n = v.size();
  std::uint64_t rank = (p_milli * n + 99'999) / 100'000;
  rank = std::clamp<std::uint64_t>(rank, 1, n);
  return v[rank - 1];
}
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& v, double p) {
  return sorted_sample(v, static_cast<std::uint64_t>(std::llround(p * 1000)));
}

// The reported value must be in the bucket of the oracle's sample (the value itself below 256).
void expect_in_bucket_of(std::uint64_t got, std::uint64_t want) {
  EXPECT_EQ(Histogram::bucket_of(got), Histogram::bucket_of(want))
      << "got " << got << " want " << want;
  if (want < Histogram::kExact) {
    EXPECT_EQ(got, want);
  }
}

void check_against_sorted(const std::vector<std::uint64_t>& v) {
  auto h = std::make_unique<Histogram>();
  for (std::uint64_t x : v) h->record(x);
  for (std::uint64_t p_milli : {1ull, 100ull, 1000ull, 25000ull, 50000ull, 90000ull, 99000ull,
                                99900ull, 99990ull, 100000ull}) {
    SCOPED_TRACE("n=" + std::to_string(v.size()) + " p=" + std::to_string(p_milli) + "/1000");
    expect_in_bucket_of(h->percentile(static_cast<double>(p_milli) / 1000.0),
                        sorted_sample(v, p_milli));
  }
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
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    expect_within(h->percentile(p), exact_percentile(v, p), 0.008);
    expect_in_bucket_of(h->percentile(p), exact_percentile(v, p));
  }
  EXPECT_EQ(h->max(), *std::max_element(v.begin(), v.end()));
}

TEST(Histogram, ExponentialDistributionPercentiles) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> dist(1.0 / 20000.0);
  std::vector<std::uint64_t> v(200000);
  auto h = std::make_unique<Histogram>();
  for (auto& x : v) h->record(x = static_cast<std::uint64_t>(dist(rng)) + 1);
  for (double p : {50.0, 90.0, 99.0, 99.9})
    expect_within(h->percentile(p), exact_percentile(v, p), 0.008);
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

// At n = 1000, p99.9 is the 999th sample: floating point rounded the rank up to 1000 and
// reported the maximum, an outlier here.
TEST(Histogram, P999OfAThousandSamplesIsNotTheMaximumOutlier) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t i = 0; i < 999; ++i) v.push_back(100 + (i * 37) % 150);  // all exact, < 256
  v.push_back(50'000'000);                                                    // the outlier
  auto h = std::make_unique<Histogram>();
  for (std::uint64_t x : v) h->record(x);
  EXPECT_EQ(h->percentile(99.9), sorted_sample(v, 99'900));
  EXPECT_LT(h->percentile(99.9), 256u);
  EXPECT_EQ(Histogram::bucket_of(h->percentile(100)), Histogram::bucket_of(50'000'000));
  EXPECT_EQ(h->max(), 50'000'000u);
  check_against_sorted(v);
}

TEST(Histogram, PercentilesOfOneSampleMatchTheSortedSample) {
  for (std::uint64_t x : {0ull, 7ull, 255ull, 300ull, 123456789ull}) check_against_sorted({x});
}

TEST(Histogram, PercentilesMatchSortedSamplesAtManySizes) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> dist(8.0, 1.5);
  for (std::size_t n : {1u, 2u, 3u, 10u, 99u, 100u, 101u, 999u, 1000u, 1001u, 10000u, 100000u}) {
    std::vector<std::uint64_t> v(n);
    for (auto& x : v) x = static_cast<std::uint64_t>(dist(rng));
    check_against_sorted(v);
  }
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
