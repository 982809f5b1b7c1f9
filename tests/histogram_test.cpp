// Histogram against an oracle that does not share its code: the raw samples in a sorted
// std::vector, the nearest rank found by counting, and bucket bounds worked out by halving.
#include "harness/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace ipcbench {
namespace {

using Samples = std::vector<std::uint64_t>;

// The definition histogram.hpp documents: percentile p (in thousandths of a percent, p_milli) is
// the sample of nearest rank, the smallest sample x such that at least p% of the samples are <= x,
// i.e. rank ceil(p * n / 100), at least 1. Found here by walking the sorted samples and counting,
// not by the formula: k samples cover p% when k * 100000 >= p_milli * n.
std::uint64_t nearest_rank_sample(const Samples& sorted, std::uint64_t p_milli) {
  const std::uint64_t n = sorted.size();
  for (std::uint64_t k = 1; k <= n; ++k) {
    if (k * 100'000 >= p_milli * n) return sorted[k - 1];
  }
  return sorted.back();
}

// The documented bucket of a value: exact below 256; above, each power of two [2^e, 2^(e+1)) is
// cut into 128 buckets of width 2^e / 128. Worked out by halving, not with the code's bit tricks.
struct Bounds {
  std::uint64_t low, high;
};
Bounds oracle_bucket(std::uint64_t v) {
  if (v < 256) return {v, v};
  std::uint64_t power = 256;  // the largest power of two <= v
  while (power <= v / 2) power *= 2;
  const std::uint64_t width = power / 128;
  const std::uint64_t low = v / width * width;
  return {low, low + (width - 1)};
}

// What histogram.hpp says percentile() reports for the oracle's sample: the middle of its bucket,
// clamped to the recorded [min, max].
std::uint64_t documented_answer(const Samples& sorted, std::uint64_t p_milli) {
  const Bounds b = oracle_bucket(nearest_rank_sample(sorted, p_milli));
  const std::uint64_t mid = b.low + (b.high - b.low) / 2;
  return std::clamp(mid, sorted.front(), sorted.back());
}

std::unique_ptr<Histogram> histogram_of(const Samples& v) {
  auto h = std::make_unique<Histogram>();  // 59 KB: not on the stack
  for (std::uint64_t x : v) h->record(x);
  return h;
}

// p in thousandths of a percent: the usual ones, plus the smallest step and the top.
const std::vector<std::uint64_t> kPercentiles = {1,     100,   1000,  10000, 25000, 50000,
                                                 75000, 90000, 99000, 99900, 99990, 100000};

// Every percentile of `h` against the oracle over `v`: the answer lies in the oracle sample's
// bucket (so within its relative error, 1/128, and exact below 256) and is the documented value.
void expect_percentiles_match(const Histogram& h, Samples v,
                              const std::vector<std::uint64_t>& ps = kPercentiles) {
  std::sort(v.begin(), v.end());
  for (std::uint64_t p_milli : ps) {
    const double p = static_cast<double>(p_milli) / 1000.0;
    const std::uint64_t want = nearest_rank_sample(v, p_milli);
    const std::uint64_t got = h.percentile(p);
    const Bounds b = oracle_bucket(want);
    SCOPED_TRACE("n=" + std::to_string(v.size()) + " p=" + std::to_string(p) + " oracle sample " +
                 std::to_string(want) + " in [" + std::to_string(b.low) + ", " +
                 std::to_string(b.high) + "], histogram says " + std::to_string(got));
    EXPECT_GE(got, b.low);
    EXPECT_LE(got, b.high);
    EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(want)),
              static_cast<double>(want) / 128.0);
    EXPECT_EQ(got, documented_answer(v, p_milli));
  }
}

// count, min, max, sum and mean against the vector (sum only where it fits in 64 bits).
void expect_summary_matches(const Histogram& h, const Samples& v) {
  ASSERT_FALSE(v.empty());
  EXPECT_EQ(h.count(), v.size());
  EXPECT_EQ(h.min(), *std::min_element(v.begin(), v.end()));
  EXPECT_EQ(h.max(), *std::max_element(v.begin(), v.end()));
  const std::uint64_t sum = std::accumulate(v.begin(), v.end(), std::uint64_t{0});
  EXPECT_EQ(h.sum(), sum);
  long double exact_mean = 0;
  for (std::uint64_t x : v) exact_mean += static_cast<long double>(x);
  exact_mean /= static_cast<long double>(v.size());
  EXPECT_NEAR(h.mean(), static_cast<double>(exact_mean), 1e-9 * static_cast<double>(exact_mean));
}

void expect_all_match(const Samples& v) {
  const auto h = histogram_of(v);
  expect_summary_matches(*h, v);
  expect_percentiles_match(*h, v);
}

TEST(Histogram, EmptyReportsZero) {
  auto h = std::make_unique<Histogram>();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->sum(), 0u);
  EXPECT_EQ(h->min(), 0u);
  EXPECT_EQ(h->max(), 0u);
  EXPECT_EQ(h->mean(), 0.0);
  EXPECT_EQ(h->percentile(50), 0u);
  EXPECT_EQ(h->percentile(100), 0u);
}

TEST(Histogram, BucketOfEveryEdgeAndRandomValueIsTheDocumentedOne) {
  Samples values = {0, 1, 254, 255, 256, 257, 258, 511, 512, 513, 515, 516, UINT64_MAX};
  for (unsigned e = 8; e < 64; ++e) {
    const std::uint64_t power = std::uint64_t{1} << e, width = power / 128;
    for (std::uint64_t v : {power - 1, power, power + width - 1, power + width,
                            power + 64 * width - 1, power + 64 * width, 2 * (power - 1) + 1}) {
      values.push_back(v);
    }
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) values.push_back(rng() >> (rng() % 64));
  for (std::uint64_t v : values) {
    const Bounds want = oracle_bucket(v);
    const std::size_t b = Histogram::bucket_of(v);
    ASSERT_LT(b, Histogram::kBuckets) << v;
    ASSERT_EQ(Histogram::bucket_low(b), want.low) << "value " << v;
    ASSERT_EQ(Histogram::bucket_high(b), want.high) << "value " << v;
  }
}

TEST(Histogram, OneSampleIsThatSampleAtEveryPercentile) {
  for (std::uint64_t x :
       Samples{0, 1, 255, 256, 300, 12345, 987654321, std::uint64_t{1} << 62, UINT64_MAX}) {
    SCOPED_TRACE(x);
    const auto h = histogram_of({x});
    EXPECT_EQ(h->count(), 1u);
    EXPECT_EQ(h->min(), x);
    EXPECT_EQ(h->max(), x);
    EXPECT_EQ(h->sum(), x);
    for (std::uint64_t p_milli : kPercentiles) {
      EXPECT_EQ(h->percentile(static_cast<double>(p_milli) / 1000.0), x);  // clamped to [x, x]
    }
  }
}

TEST(Histogram, AllEqualSamplesGiveThatValue) {
  for (std::uint64_t x : Samples{7, 255, 777, 12345, 1'000'000'007}) {
    SCOPED_TRACE(x);
    expect_all_match(Samples(5000, x));
  }
}

TEST(Histogram, UniformSamplesMatchTheSortedSamples) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> dist(1000, 100000);
  Samples v(20000);
  for (auto& x : v) x = dist(rng);
  expect_all_match(v);
}

TEST(Histogram, TwoClustersMatchTheSortedSamples) {
  // 70% near 200 ns (exact buckets), 30% near 2 ms: p50 in the first, p90 in the second.
  std::mt19937_64 rng(2);
  std::uniform_int_distribution<std::uint64_t> near(150, 250), far(1'900'000, 2'100'000);
  Samples v;
  for (int i = 0; i < 7000; ++i) v.push_back(near(rng));
  for (int i = 0; i < 3000; ++i) v.push_back(far(rng));
  std::shuffle(v.begin(), v.end(), rng);
  expect_all_match(v);
  const auto h = histogram_of(v);
  EXPECT_LT(h->percentile(50), 256u);
  EXPECT_GT(h->percentile(90), 1'800'000u);
}

TEST(Histogram, HeavyTailMatchesTheSortedSamples) {
  // Pareto, shape 1.1: a few samples are thousands of times the median.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(1e-9, 1.0);
  Samples v(50000);
  for (auto& x : v) x = static_cast<std::uint64_t>(500.0 / std::pow(u(rng), 1.0 / 1.1));
  expect_all_match(v);
}

TEST(Histogram, ValuesAtBucketEdgesMatchTheSortedSamples) {
  Samples v;
  for (unsigned e = 8; e < 40; ++e) {
    const std::uint64_t power = std::uint64_t{1} << e, width = power / 128;
    for (std::uint64_t x : {power - 1, power, power + width - 1, power + width}) v.push_back(x);
  }
  expect_all_match(v);
}

TEST(Histogram, HugeValuesKeepTheirBucketMinAndMax) {
  // Their sum wraps around 64 bits, so only the count, the extremes and the percentiles count.
  const Samples v = {std::uint64_t{1} << 62, (std::uint64_t{1} << 63) - 1,
                     std::uint64_t{1} << 63, (std::uint64_t{1} << 63) + (std::uint64_t{1} << 56),
                     UINT64_MAX - 1,         UINT64_MAX};
  const auto h = histogram_of(v);
  EXPECT_EQ(h->count(), v.size());
  EXPECT_EQ(h->min(), std::uint64_t{1} << 62);
  EXPECT_EQ(h->max(), UINT64_MAX);
  expect_percentiles_match(*h, v);
}

// Every rank of n = 1000 samples whose neighbours lie in different buckets (each 2% above the
// last, more than a bucket's 1/128): a rank off by one gives a different bucket at every step.
TEST(Histogram, EveryRankOfAThousandSpreadSamplesIsTheNearestRank) {
  Samples v;
  double x = 300;
  for (int i = 0; i < 1000; ++i, x *= 1.02) v.push_back(static_cast<std::uint64_t>(x));
  std::shuffle(v.begin(), v.end(), std::mt19937_64(4));
  std::vector<std::uint64_t> every_step;
  for (std::uint64_t p_milli = 50; p_milli <= 100'000; p_milli += 50) every_step.push_back(p_milli);
  const auto h = histogram_of(v);
  expect_percentiles_match(*h, v, every_step);
}

// At n = 1000, p99.9 is the 999th sample: a rank computed in floating point came out as 1000 and
// reported the maximum, an outlier here.
TEST(Histogram, P999OfAThousandSamplesIsNotTheMaximumOutlier) {
  Samples v;
  for (std::uint64_t i = 0; i < 999; ++i) v.push_back(100 + (i * 37) % 150);  // exact, < 256
  v.push_back(50'000'000);
  const auto h = histogram_of(v);
  Samples sorted = v;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(h->percentile(99.9), sorted[998]);
  expect_all_match(v);
}

TEST(Histogram, MergeEqualsTheUnionOfTheSamples) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(9.0, 1.5);
  Samples a(3000), b(7000);
  for (auto& x : a) x = static_cast<std::uint64_t>(dist(rng));
  for (auto& x : b) x = static_cast<std::uint64_t>(dist(rng)) + 5000;  // other min and max
  auto ha = histogram_of(a);
  ha->merge(*histogram_of(b));
  Samples all = a;
  all.insert(all.end(), b.begin(), b.end());
  expect_summary_matches(*ha, all);
  expect_percentiles_match(*ha, all);
  // An empty histogram changes nothing, in either direction.
  ha->merge(*std::make_unique<Histogram>());
  expect_summary_matches(*ha, all);
  auto empty = std::make_unique<Histogram>();
  empty->merge(*ha);
  expect_summary_matches(*empty, all);
  expect_percentiles_match(*empty, all);
}

TEST(Histogram, ClearForgetsEverySample) {
  auto h = histogram_of({5, 70'000, 123'456'789});
  h->clear();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->sum(), 0u);
  EXPECT_EQ(h->min(), 0u);
  EXPECT_EQ(h->max(), 0u);
  EXPECT_EQ(h->percentile(50), 0u);
  for (std::size_t b = 0; b < Histogram::kBuckets; ++b) ASSERT_EQ(h->bucket_count(b), 0u) << b;
  // Recorded again, it holds only the new samples: neither the old max nor the old min remains.
  const Samples v = {1000, 2000, 3000, 4000};
  for (std::uint64_t x : v) h->record(x);
  expect_summary_matches(*h, v);
  expect_percentiles_match(*h, v);
}

}  // namespace
}  // namespace ipcbench
