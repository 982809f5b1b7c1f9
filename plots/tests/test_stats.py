"""Tests of plots/ipcreport/stats.py and the histogram side file: percentiles checked against
sorted raw samples (an independent oracle: samples bucketed by fixtures.bucket_of, a separate
re-implementation of ipcbench's log-linear buckets, and ranks computed in integer permille), the
comparison of two cases over repetitions, and speed tiers."""

import gzip
import os
import random
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import load, stats  # noqa: E402

# Percentiles as (decimal text the report uses, permille for the oracle).
PERCENTILES = (("50", 500), ("90", 900), ("99", 990), ("99.9", 999))


def histogram_of(samples, hist_id=1):
    """The Histogram the report reads for these samples (through the side-file parser)."""
    line = fixtures.histogram_line(hist_id, "RoundTrip/pipe/bytes:64", samples)
    return load.parse_histogram_line("side", 2, line)[3]


def oracle(samples, permille):
    """The sorted sample at rank ceil(permille * n / 1000), in integers."""
    ordered = sorted(samples)
    rank = max(1, (permille * len(ordered) + 999) // 1000)
    return ordered[rank - 1]


class Percentiles(unittest.TestCase):
    """Percentiles from histogram buckets against sorted raw samples."""

    def check(self, samples):
        h = histogram_of(samples)
        for text, permille in PERCENTILES:
            value, low, high = h.rank_bucket(text)
            expected = oracle(samples, permille)
            self.assertLessEqual(low, expected, (text, len(samples)))
            self.assertLessEqual(expected, high, (text, len(samples)))
            self.assertEqual(fixtures.bucket_of(expected), (low, high))
            self.assertTrue(min(samples) <= value <= max(samples))

    def test_random_samples_of_many_sizes(self):
        rng = random.Random(7)
        for n in (1, 2, 3, 10, 99, 100, 101, 999, 1000, 1001, 12345):
            self.check([int(rng.lognormvariate(9, 1.2)) + rng.randrange(300) for _ in range(n)])

    def test_exact_below_256(self):
        samples = list(range(1, 201))
        h = histogram_of(samples)
        self.assertEqual(h.percentile("50"), 100)
        self.assertEqual(h.percentile("99"), 198)
        self.assertEqual(h.percentile("99.9"), 200)

    def test_p999_of_1000_is_not_the_outlier_max(self):
        # Floating point would make rank = ceil(99.9 * 1000 / 100) = ceil(999.0000000000001) =
        # 1000: the outlier. The exact rank is 999.
        samples = [50_000 + 7 * i for i in range(999)] + [9_000_000]
        h = histogram_of(samples)
        value, low, high = h.rank_bucket("99.9")
        self.assertLess(high, 9_000_000)
        self.assertLess(value, 100_000)
        self.assertTrue(low <= sorted(samples)[998] <= high)
        self.check(samples)

    def test_one_sample_is_every_percentile(self):
        h = histogram_of([123_457])
        for text, _ in PERCENTILES:
            self.assertEqual(h.percentile(text), 123_457)  # the midpoint clamped to [min, max]

    def test_merging_repetitions_is_the_histogram_of_all_samples(self):
        rng = random.Random(3)
        a = [int(rng.lognormvariate(10, 0.5)) for _ in range(500)]
        b = [int(rng.lognormvariate(10.5, 0.5)) for _ in range(700)]
        merged = histogram_of(a).merged(histogram_of(b))
        whole = histogram_of(a + b)
        self.assertEqual(merged.buckets, whole.buckets)
        self.assertEqual((merged.count, merged.min, merged.max, merged.sum),
                         (whole.count, whole.min, whole.max, whole.sum))
        for text, permille in PERCENTILES:
            _, low, high = merged.rank_bucket(text)
            self.assertTrue(low <= oracle(a + b, permille) <= high)

    def test_cdf_ends_at_one(self):
        h = histogram_of([300, 400, 500, 70_000])
        points = h.cdf()
        self.assertEqual(points[-1][1], 1.0)
        self.assertEqual([y for _, y in points], sorted(y for _, y in points))

    def test_buckets_of_the_oracle(self):
        self.assertEqual(fixtures.bucket_of(255), (255, 255))
        self.assertEqual(fixtures.bucket_of(256), (256, 257))
        self.assertEqual(fixtures.bucket_of(511), (510, 511))
        self.assertEqual(fixtures.bucket_of(1 << 20), (1 << 20, (1 << 20) + 8191))


class SideFile(unittest.TestCase):
    """A run with ipcbench's histogram side file: loaded, matched by hist_id, merged."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-stats-test-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def test_a_gzipped_side_file_is_read_when_the_plain_one_is_absent(self):
        document = fixtures.synthetic({("RoundTrip", "pipe", 64): {"p50_ns": 50_000}},
                                      repetitions=5)
        lines = []
        for rep, row in enumerate(document["benchmarks"]):
            row["hist_id"] = rep
            lines.append(fixtures.histogram_line(rep, "RoundTrip/pipe/bytes:64", [300 + rep] * 7))
        document["context"]["ipcbench_histograms"] = "run.json.hist.jsonl"
        plain = os.path.join(self.dir, "run.json.hist.jsonl")
        fixtures.write_side_file(plain, lines)
        with open(plain, "rb") as f, gzip.open(plain + ".gz", "wb") as z:
            z.write(f.read())
        os.remove(plain)
        run = load.load_run(fixtures.write_json(self.dir, "run.json", document))
        case = next(c for c in run.cases if c.subject == "pipe")
        self.assertEqual(case.histograms["rtt"].count, 35)
        self.assertEqual(case.histograms["rtt"].max, 304)

    def test_a_broken_gzipped_side_file_is_refused_naming_it(self):
        document = fixtures.synthetic({("RoundTrip", "pipe", 64): {"p50_ns": 50_000}},
                                      repetitions=5)
        document["context"]["ipcbench_histograms"] = "run.json.hist.jsonl"
        with open(os.path.join(self.dir, "run.json.hist.jsonl.gz"), "wb") as f:
            f.write(b"not gzip at all")
        with self.assertRaises(load.InputError) as caught:
            load.load_run(fixtures.write_json(self.dir, "run.json", document))
        self.assertIn("run.json.hist.jsonl.gz", str(caught.exception))

    def test_histograms_merge_over_repetitions_and_give_the_percentiles(self):
        rng = random.Random(11)
        document = fixtures.synthetic({("RoundTrip", "pipe", 64): {"p50_ns": 50_000}},
                                      repetitions=5)
        lines, everything = [], []
        for rep, row in enumerate(document["benchmarks"]):
            samples = [int(rng.lognormvariate(10.8, 0.3)) for _ in range(400)]
            everything += samples
            row["hist_id"] = 10 + rep
            lines.append(fixtures.histogram_line(10 + rep, "RoundTrip/pipe/bytes:64", samples))
            lines.append(fixtures.histogram_line(10 + rep, "RoundTrip/pipe/bytes:64",
                                                 [s // 2 for s in samples], "oneway_fwd",
                                                 "one-way producer->consumer"))
        # A benchmark-function call Google Benchmark made while sizing the run: no row names it.
        lines.append(fixtures.histogram_line(99, "RoundTrip/pipe/bytes:64", [1, 2, 3]))
        document["context"]["ipcbench_histograms"] = "run.json.hist.jsonl"
        fixtures.write_side_file(os.path.join(self.dir, "run.json.hist.jsonl"), lines)
        run = load.load_run(fixtures.write_json(self.dir, "run.json", document))
        case = next(c for c in run.cases if c.subject == "pipe")
        self.assertEqual(set(case.histograms), {"rtt", "oneway_fwd"})
        rtt = case.histograms["rtt"]
        self.assertEqual(rtt.count, 2000)
        self.assertEqual(rtt.latency, "round trip")
        for text, permille in PERCENTILES:
            _, low, high = rtt.rank_bucket(text)
            self.assertTrue(low <= oracle(everything, permille) <= high, text)
        self.assertTrue(run.histogram_file.endswith("run.json.hist.jsonl"))

    def test_a_line_of_another_case_is_refused(self):
        document = fixtures.synthetic({("RoundTrip", "pipe", 64): {"p50_ns": 50_000}},
                                      repetitions=1)
        document["benchmarks"][0]["hist_id"] = 1
        document["context"]["ipcbench_histograms"] = "x.hist.jsonl"
        fixtures.write_side_file(os.path.join(self.dir, "x.hist.jsonl"),
                                 [fixtures.histogram_line(1, "RoundTrip/fifo/bytes:64", [5])])
        with self.assertRaisesRegex(load.InputError, "hist_id 1 is case 'RoundTrip/fifo"):
            load.load_run(fixtures.write_json(self.dir, "x.json", document))


class Compare(unittest.TestCase):
    """Two cases differ only when significant and larger than the noise threshold."""

    def test_large_separated_difference(self):
        cmp = stats.compare([10, 11, 10.5, 9.8, 10.2], [40, 41, 39, 42, 40.5])
        self.assertEqual(cmp.outcome, stats.LESS)
        self.assertLess(cmp.p_value, stats.ALPHA)
        self.assertEqual(stats.compare([40, 41, 39, 42, 40.5], [10, 11, 10.5, 9.8, 10.2]).outcome,
                         stats.GREATER)

    def test_significant_but_smaller_than_the_floor_is_tied(self):
        cmp = stats.compare([10, 11, 10.5, 9.8, 10.2], [20, 21, 19, 22, 20.5])  # 2x < 2.5x
        self.assertLess(cmp.p_value, stats.ALPHA)
        self.assertEqual(cmp.outcome, stats.TIED)

    def test_large_but_overlapping_is_tied(self):
        cmp = stats.compare([1, 100, 2, 90, 3], [50, 60, 40, 45, 55])
        self.assertEqual(cmp.outcome, stats.TIED)

    def test_noisy_case_raises_the_threshold(self):
        noisy = [10, 30, 12, 40, 11, 35, 13, 38, 20]  # upper / lower quartile = 35 / 12
        cmp = stats.compare(noisy, [x * 2.8 for x in (10, 10.2, 9.9, 10.1, 10, 9.8, 10.3)])
        self.assertGreater(cmp.threshold, stats.MIN_EFFECT)
        self.assertEqual(cmp.outcome, stats.TIED)

    def test_too_few_repetitions(self):
        cmp = stats.compare([1, 1, 1], [100, 100, 100])
        self.assertEqual(cmp.outcome, stats.TOO_FEW)

    def test_tiers_from_significant_gaps(self):
        items = [("a", [1, 1.05, 0.95, 1.02, 0.98]), ("b", [1.3, 1.25, 1.35, 1.3, 1.28]),
                 ("c", [10, 10.5, 9.5, 10.2, 9.8]), ("d", [100, 105, 95, 102, 98])]
        self.assertEqual(stats.tiers(items), [["a", "b"], ["c"], ["d"]])
        self.assertEqual(stats.tiers(items, higher_is_better=True), [["d"], ["c"], ["b", "a"]])
        self.assertIsNone(stats.tiers(items + [("e", [1, 2])]))


if __name__ == "__main__":
    unittest.main()
