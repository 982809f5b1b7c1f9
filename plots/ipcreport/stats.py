"""Statistics: histograms (merged over repetitions, percentiles from exact integer ranks), the
comparison of two cases over their repetitions, and speed tiers.

How two cases are compared (stated in REPORT.md by markdown.method_section):
- each case contributes one value per repetition (a round trip's p50, a stream's bytes/s);
- at least MIN_REPETITIONS per side, else the comparison is "too few";
- significant: a two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu) gives p < ALPHA;
- large: the ratio of the two medians is at least the noise threshold, the largest of
  MIN_EFFECT and each case's own spread (upper quartile / lower quartile of its repetitions);
- the two differ only when the difference is both significant and large; otherwise tied.
"""

import math
import statistics
from dataclasses import dataclass, field
from fractions import Fraction

# Significance level of the two-sided U test, and the fewest repetitions a side it is run on:
# with 3 a side even completely separated samples give p = 0.1 (exact test), and with ties in
# the values (percentiles from histogram buckets often tie) scipy uses the normal approximation,
# which needs a few more; 5 a side completely separated give p of about 0.01.
ALPHA = 0.05
MIN_REPETITIONS = 5
# The smallest ratio of medians ever called a difference. METHOD.md measured one case moving
# 1.5-2x between runs on the development VM, which repetitions within one run do not all show:
# anything smaller is not a difference that survives a second run.
MIN_EFFECT = 2.5

# Percentiles reported from histograms: (label, p as an exact decimal string).
PERCENTILES = (("p50", "50"), ("p90", "90"), ("p99", "99"), ("p99.9", "99.9"))

TOO_FEW = "too few"
TIED = "tied"
LESS = "less"  # the first case's values are smaller (a faster round trip, a lower rate)
GREATER = "greater"


# ---------------------------------------------------------------------------------------------
# Histograms

@dataclass
class Histogram:
    """A log-linear latency histogram as ipcbench's side file writes it: buckets are
    (low, high, count) with low <= value <= high, non-empty ones only, in ns."""

    count: int
    min: float
    max: float
    sum: float
    buckets: list = field(default_factory=list)  # [(low, high, count)] sorted by low
    latency: str = ""  # "round trip", "one-way producer->consumer", ...

    def merged(self, other):
        """A new histogram holding the samples of both (same bucket scheme)."""
        counts = {}
        for low, high, n in self.buckets + other.buckets:
            counts[(low, high)] = counts.get((low, high), 0) + n
        return Histogram(self.count + other.count, min(self.min, other.min),
                         max(self.max, other.max), self.sum + other.sum,
                         sorted((lo, hi, n) for (lo, hi), n in counts.items()), self.latency)

    @property
    def mean(self):
        """The mean of the samples (exact: from the side file's sum)."""
        return self.sum / self.count if self.count else None

    def rank_bucket(self, p):
        """(value, low, high) for percentile `p` (a decimal string or number): the bucket that
        holds the sample of rank ceil(p * n / 100), computed exactly; value is its midpoint
        clamped to [min, max]. None for an empty histogram."""
        if not self.count:
            return None
        rank = max(1, math.ceil(Fraction(str(p)) * self.count / 100))
        seen = 0
        for low, high, n in self.buckets:
            seen += n
            if seen >= rank:
                value = min(max((low + high) / 2, self.min), self.max)
                return value, low, high
        low, high, _ = self.buckets[-1]
        return min(max((low + high) / 2, self.min), self.max), low, high

    def percentile(self, p):
        """The value reported for percentile `p` (see rank_bucket), or None when empty."""
        found = self.rank_bucket(p)
        return None if found is None else found[0]

    def cdf(self):
        """[(upper edge of a bucket, fraction of samples at or below it)], ascending."""
        out, seen = [], 0
        for _, high, n in self.buckets:
            seen += n
            out.append((min(high, self.max), seen / self.count))
        return out


def merge_all(histograms):
    """One histogram of all the given ones, or None when there are none."""
    out = None
    for h in histograms:
        out = h if out is None else out.merged(h)
    return out


# ---------------------------------------------------------------------------------------------
# Comparing two cases over their repetitions

def spread(values):
    """A case's own noise: upper quartile / lower quartile of its repetitions (1.0 if equal)."""
    if len(values) < 2:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q3 / q1 if q1 > 0 else math.inf


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing the repetitions of case a with those of case b."""

    outcome: str  # LESS (a smaller), GREATER (a larger), TIED or TOO_FEW
    n_a: int
    n_b: int
    median_a: float = None
    median_b: float = None
    ratio: float = None  # larger median / smaller median (>= 1)
    threshold: float = None  # the ratio a difference must reach (noise threshold)
    p_value: float = None

    @property
    def differs(self):
        """True when the two cases differ (significant and larger than the noise)."""
        return self.outcome in (LESS, GREATER)

    def as_dict(self):
        """The comparison as plain data for verdicts.json."""
        return {"outcome": self.outcome, "repetitions": [self.n_a, self.n_b],
                "medians": [self.median_a, self.median_b],
                "ratio": None if self.ratio is None else round(self.ratio, 4),
                "noise_threshold": None if self.threshold is None else round(self.threshold, 4),
                "p_value": None if self.p_value is None else float(f"{self.p_value:.4g}"),
                "alpha": ALPHA}


def compare(a, b):
    """Compares two lists of per-repetition values (positive numbers); see the module doc."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) < MIN_REPETITIONS or len(b) < MIN_REPETITIONS:
        return Comparison(TOO_FEW, len(a), len(b),
                          statistics.median(a) if a else None,
                          statistics.median(b) if b else None)
    from scipy.stats import mannwhitneyu
    median_a, median_b = statistics.median(a), statistics.median(b)
    low, high = sorted((median_a, median_b))
    ratio = high / low if low > 0 else math.inf
    threshold = max(MIN_EFFECT, spread(a), spread(b))
    if a == b or (len(set(a)) == 1 and set(a) == set(b)):
        p_value = 1.0
    else:
        p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if p_value < ALPHA and ratio >= threshold:
        outcome = LESS if median_a < median_b else GREATER
    else:
        outcome = TIED
    return Comparison(outcome, len(a), len(b), median_a, median_b, ratio, threshold, p_value)


def tiers(items, higher_is_better=False):
    """Groups [(name, values)] into tiers, best first: sorted by median (ascending for times,
    descending when higher_is_better), a new tier starts wherever two neighbours differ
    (compare()). None when any item has fewer than MIN_REPETITIONS values."""
    if any(len(values) < MIN_REPETITIONS for _, values in items):
        return None
    ordered = sorted(items, key=lambda item: statistics.median(item[1]),
                     reverse=higher_is_better)
    out = []
    for i, (name, values) in enumerate(ordered):
        if i == 0 or compare(ordered[i - 1][1], values).differs:
            out.append([])
        out[-1].append(name)
    return out
