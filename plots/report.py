#!/usr/bin/python3
"""Turns ipcbench JSON results into pictures and REPORT.md, or compares two runs.

Usage:
  /usr/bin/python3 plots/report.py --out DIR FILE.json [FILE.json ...]
  /usr/bin/python3 plots/report.py --compare A.json B.json --out DIR

The first form reads one or more files written by `ipcbench --benchmark_out=FILE
--benchmark_out_format=json` (for example a same-CPU run and a different-CPUs run; the placement
is taken from each file) and writes DIR/latency.png, latency_vs_size.png, throughput_vs_size.png,
latency_cdf.png and REPORT.md; when the input has them, also scaling_fan_in.png,
scaling_fan_out.png and scaling_pairs.png (one per many-process pattern: FanIn, FanOut, Pairs) and
placement.png (round trips at two or more CPU placements). A picture whose rows are absent is not
written (a stale copy from an earlier report is removed) and REPORT.md says why. The second form
writes DIR/COMPARE.md with B/A ratios per case.

Every number written comes from the input files. Bad input (a missing file, a file that is not
Google Benchmark JSON, a build whose ipcbench_build_type is not Release, rows missing the fields
this program needs) ends with a message naming the file and the problem and exit status 2.
Standard library and Debian's python3-matplotlib only.
"""

import argparse
import json
import math
import os
import statistics
import sys
from dataclasses import dataclass, field

PROG = "report.py"
EXIT_BAD_INPUT = 2

ROUND_TRIP = "RoundTrip"
STREAM = "Stream"
LIMIT = "Limit"
PLOTTED_KINDS = (ROUND_TRIP, STREAM, LIMIT)
# The many-process patterns of issue 6: one server and N clients, one producer and N consumers,
# N independent pairs at once.
FAN_IN = "FanIn"
FAN_OUT = "FanOut"
PAIRS = "Pairs"
PATTERN_KINDS = (FAN_IN, FAN_OUT, PAIRS)
REPORTED_KINDS = PLOTTED_KINDS + PATTERN_KINDS

# The only build type whose numbers count (the context key ipcbench writes).
RELEASE = "Release"

# Name components Google Benchmark appends that do not identify a case.
TIMING_SUFFIXES = {"manual_time", "real_time", "process_time"}
# key:value name components that describe how long a case ran, not what it measured.
RUN_LENGTH_KEYS = {"iterations", "repeats", "min_time", "min_warmup_time"}
# Words that mark a bare name component as a CPU placement (issue 6 may put one in the name).
PLACEMENT_HINTS = ("cpu", "smt", "llc", "cache", "socket", "core")

# Fields a row must carry for this program to plot it (errored rows are exempt).
REQUIRED_FIELDS = {ROUND_TRIP: ("p50_ns", "p99_ns"), STREAM: ("bytes_per_second",),
                   FAN_IN: ("items_per_second", "p50_ns", "p99_ns"),
                   FAN_OUT: ("items_per_second", "delivery_p50_ns", "delivery_p99_ns"),
                   PAIRS: ("items_per_second", "p50_ns", "p99_ns")}
# Kinds whose required fields are times or rates that a measured case makes positive.
POSITIVE_KINDS = (ROUND_TRIP,) + PATTERN_KINDS

# Percentile counters of a round trip and the fraction of round trips slower than each.
PERCENTILE_TAILS = (("p50_ns", 0.5), ("p90_ns", 0.1), ("p99_ns", 0.01), ("p999_ns", 0.001))

# Relative difference below which two round trips count as the same speed. Run-to-run noise of
# kernel round trips on a virtual machine is of this order (METHOD.md: wake-ups through the
# hypervisor vary), so a smaller difference is no evidence that one mechanism is faster.
SAME_SPEED_TOLERANCE = 0.10

# One machine word: the most a realtime signal's sigval carries. A mechanism whose largest
# message is no bigger carries "very small" data in the lecture's sense.
WORD_BYTES = 8

MB = 1e6  # throughput is reported in MB/s = 10^6 bytes/s
NS_PER_US = 1e3
TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# The lecture's speed comparison table (../shared/LECTURE.md): mechanism, its words for speed and
# data volume, and the transports that implement it. The words are the lecture's text.
LECTURE_ROWS = (
    ("Signal", "fast", "very small", ("signal", "rt_signal")),
    ("Pipe", "fast", "small", ("pipe",)),
    ("FIFO queue", "medium", "small", ("fifo",)),
    ("Shared memory", "fast", "large",
     ("sysv_shm", "shm_spin", "shm_futex", "shm_sem", "shm_condvar")),
    ("Semaphore", "fast", "small", ("sysv_sem",)),
    ("Socket", "slow", "large", ("unix_stream", "unix_dgram", "tcp", "udp")),
)
# Mechanisms the suite measures that the lecture's table has no row for.
EXTRA_ROWS = (
    ("Message queue (extra)", ("posix_mq", "sysv_mq", "boost_mq")),
    ("Threads (extra: in-process baseline)", ("threads",)),
)
SHARED_MEMORY = LECTURE_ROWS[3][3]
IN_PROCESS = ("threads",)  # not inter-process communication: left out of "fastest IPC"
SPEED_WORDS = ("fast", "medium", "slow")

PLACEMENT_NAMES = {"same_cpu": "same CPU", "different_cpus": "different CPUs",
                   "smt_sibling": "SMT siblings", "same_llc": "same last-level cache",
                   "different_llc": "different last-level caches",
                   "different_socket": "different sockets", "per_case": "CPUs chosen per case"}
UNKNOWN_PLACEMENT = "unknown"
# The placement of a file run with --placement=: its context says "per case (...)" and each
# pair case names its own; rows without one in their name (the patterns) are grouped here.
PER_CASE = "per_case"
# Placement kinds from near to far: ipcbench's topology kinds (harness/topology.cpp) and the
# two placements of scripts/run-suite.sh. Kinds not listed follow, in order of appearance.
PLACEMENT_ORDER = ("same_cpu", "smt_sibling", "same_llc", "different_llc", "different_socket",
                   "different_cpus")

PICTURES = (
    ("latency.png", "Round-trip p50 per transport at its smallest measured message size, with a "
     "whisker up to p99, log scale, grouped by placement."),
    ("latency_vs_size.png", "Round-trip p50 against message size, one line per transport, "
     "log-log; sizes a transport cannot carry are absent."),
    ("throughput_vs_size.png", "Stream throughput in MB/s (10^6 bytes/s) against message size, "
     "one line per transport, log-log; sizes a transport cannot carry are absent."),
    ("latency_cdf.png", "Round-trip distribution at one size, drawn from the reported percentiles "
     "(p50, p90, p99, p99.9, max), not from raw samples: the points are measured, the lines "
     "between them are not."),
)




@dataclass(frozen=True)
class Pattern:
    """A many-process pattern (issue 6): what N counts, what its rate and latencies mean, and
    how REPORT.md and its scaling picture show it."""

    kind: str
    n_key: str  # the name parameter that is N ("clients:4")
    title: str
    about: str  # what one case measures, for REPORT.md
    picture: str
    rate_words: str  # what items_per_second counts
    p50_key: str
    p50_words: str
    tail_key: str
    tail_words: str
    columns: tuple  # (header, counter, formatter) of its REPORT.md table after N and the rate


PATTERN_LIST = (
    Pattern(FAN_IN, "clients", "FanIn: one server, N clients",
            "One server process and N client processes, each client doing round trips at the "
            "same time. unix_stream and tcp follow the lecture's server: one listening socket, "
            "one accepted data socket per client, one loop over all of them; datagram sockets "
            "and message queues share one server endpoint and address replies to the sender.",
            "scaling_fan_in.png", "round trips/s, all clients together",
            "p50_ns", "RTT p50 (all clients' round trips merged)",
            "worst_client_p99_ns", "worst client's RTT p99",
            (("RTT p50", "p50_ns", "us"), ("RTT p99", "p99_ns", "us"),
             ("worst client RTT p99", "worst_client_p99_ns", "us"), ("lost", "lost", "count"))),
    Pattern(FAN_OUT, "consumers", "FanOut (mailbox): one producer, N consumers",
            "One producer delivers every message to N consumers. The round is the broadcast: "
            "send to every consumer until the last one acknowledges; the delivery latency is "
            "one-way, from the producer's time stamp to the LAST consumer's receipt.",
            "scaling_fan_out.png", "deliveries/s, all consumers together",
            "delivery_p50_ns", "one-way delivery to the last consumer, p50",
            "delivery_p99_ns", "one-way delivery to the last consumer, p99",
            (("round p50 (send to all, last ack)", "p50_ns", "us"),
             ("delivery to the last p50", "delivery_p50_ns", "us"),
             ("delivery to the last p99", "delivery_p99_ns", "us"), ("lost", "lost", "count"),
             ("CPU ns/msg", "cpu_ns_per_msg", "sig"))),
    Pattern(PAIRS, "pairs", "Pairs: N independent pairs at once",
            "N independent producer-consumer pairs doing round trips at the same time, started "
            "together by a barrier.",
            "scaling_pairs.png", "round trips/s, all pairs together",
            "p50_ns", "RTT p50 (all pairs' round trips merged)",
            "worst_pair_p99_ns", "worst pair's RTT p99",
            (("RTT p50", "p50_ns", "us"), ("RTT p99", "p99_ns", "us"),
             ("worst pair RTT p99", "worst_pair_p99_ns", "us"), ("lost", "lost", "count"))),
)
PATTERNS = {p.kind: p for p in PATTERN_LIST}
# Transports whose FanIn server keeps one data socket per client (the lecture's server).
CONNECTED_SOCKETS = ("unix_stream", "tcp")
KILO = 1e3  # pattern rates are drawn in 10^3 messages/s

PLACEMENT_PICTURE = "placement.png"


class InputError(Exception):
    """Bad input; the message names the file and the problem."""


@dataclass
class Case:
    """One measured (or unsupported) case: a pattern, a transport, its parameters, a placement."""

    kind: str
    subject: str  # the transport id, or the Limit probe's name
    params: dict
    placement: str
    source: str  # the file it came from
    name: str  # the benchmark name as written in the file
    counters: dict = field(default_factory=dict)  # every finite numeric field of the row
    error: str = None  # error_message of an errored case
    unsupported: str = None  # the reason of a case ipcbench did not run
    label: str = ""
    time_unit: str = "ns"  # the unit of real_time and cpu_time in counters
    cpus: str = None  # where a pattern's processes ran, when the file records it

    @property
    def bytes(self):
        """The message size in bytes, or None when the name has none."""
        return self.params.get("bytes")

    @property
    def corrupt(self):
        """True when the harness counted corrupt messages: the numbers are not trustworthy."""
        return self.counters.get("corrupt", 0) > 0

    @property
    def failed_clients(self):
        """True when a pattern counted clients that did not finish: not a full measurement."""
        return self.counters.get("failed_clients", 0) > 0

    @property
    def good(self):
        """True for a case that ran, did not err and delivered intact data: plottable."""
        return (self.error is None and self.unsupported is None and not self.corrupt
                and not self.failed_clients)

    def get(self, key):
        """A counter's value, or None when the row does not carry it."""
        return self.counters.get(key)

    def key(self):
        """What identifies the case across files (the run length does not)."""
        params = tuple(sorted((k, v) for k, v in self.params.items() if k not in RUN_LENGTH_KEYS))
        return (self.kind, self.subject, params, self.placement)


@dataclass
class Run:
    """One input file: its path, its context, its cases, and the rows of kinds not reported."""

    path: str
    context: dict
    cases: list
    ignored: list  # names of rows whose kind this program does not report


# ---------------------------------------------------------------------------------------------
# Reading the input

def parse_value(text):
    """An int when `text` is one, else the text."""
    try:
        return int(text)
    except ValueError:
        return text


def parse_name(name):
    """Splits a benchmark name into (kind, subject, params, placement or None).

    "RoundTrip/pipe/bytes:64/iterations:2000/manual_time" -> ("RoundTrip", "pipe",
    {"bytes": 64, "iterations": 2000}, None). Tolerant: unknown components are kept as params or
    ignored, never an error; a "placement:X" component or a bare word that names CPUs is the
    placement.
    """
    parts = [p for p in name.split("/") if p]
    kind = parts[0] if parts else ""
    subject = parts[1] if len(parts) > 1 else ""
    params = {}
    placement = None
    for part in parts[2:]:
        if ":" in part:
            key, _, value = part.partition(":")
            if key == "placement":
                placement = value
            else:
                params[key] = parse_value(value)
        elif part in TIMING_SUFFIXES:
            continue
        elif any(hint in part.lower() for hint in PLACEMENT_HINTS):
            placement = part
    return kind, subject, params, placement


def numeric_fields(row):
    """Every finite number in a row (counters, times), as floats."""
    out = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def base_run_name(row):
    """The name shared by a case's repetitions and aggregates ("..._median" -> "...")."""
    run_name = row.get("run_name")
    if isinstance(run_name, str) and run_name:
        return run_name
    name = row["name"]
    aggregate = row.get("aggregate_name")
    if row.get("run_type") == "aggregate" and isinstance(aggregate, str):
        suffix = "_" + aggregate
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def representative_counters(rows):
    """The numbers that stand for a case: its median aggregate when there is one, else its one
    iteration row, else the median of each field over its repetitions."""
    for row in rows:
        if row.get("run_type") == "aggregate" and row.get("aggregate_name") == "median":
            return numeric_fields(row)
    iterations = [numeric_fields(r) for r in rows if r.get("run_type", "iteration") != "aggregate"]
    if not iterations:
        return {}
    if len(iterations) == 1:
        return iterations[0]
    keys = set().union(*iterations)
    return {k: statistics.median([it[k] for it in iterations if k in it]) for k in keys}


def read_json(path):
    """The parsed JSON of `path`; InputError when it cannot be read or is not JSON."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read the file: {e.strerror or e}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON ({e.msg} at line {e.lineno}, "
                         f"column {e.colno})") from None


def check_build_type(path, context):
    """Refuses a run that ipcbench did not write or whose own build type is not a release."""
    build = context.get("ipcbench_build_type")
    if build is None:
        raise InputError(f"{path}: the context has no 'ipcbench_build_type': not written by "
                         "ipcbench (only ipcbench's own release runs can be reported)")
    if build != RELEASE:
        raise InputError(f"{path}: ipcbench_build_type is '{build}', not '{RELEASE}': only a "
                         "release build's numbers count (build with `cmake --preset release`)")


def check_required(path, kind, name, counters):
    """Refuses a row of a reported kind that lacks a field this program needs, or whose round
    trip (or pattern time or rate) is not positive."""
    for key in REQUIRED_FIELDS.get(kind, ()):
        if key not in counters:
            raise InputError(f"{path}: benchmark '{name}' has no numeric field '{key}' "
                             f"(needed for {kind} rows)")
        if kind in POSITIVE_KINDS and counters[key] <= 0:
            what = "rate" if key.endswith("_per_second") else "time"
            raise InputError(f"{path}: benchmark '{name}' has {key} = {counters[key]:g}: a "
                             f"measured {what} is positive")


def file_placement(context):
    """The placement of a file's rows that name none: its ipcbench_placement, PER_CASE for a
    --placement= run (whose context describes it in words), or UNKNOWN_PLACEMENT."""
    placement = str(context.get("ipcbench_placement", UNKNOWN_PLACEMENT))
    return PER_CASE if placement.startswith("per case") else placement


def short_name(name):
    """A benchmark name without its run length and timing suffix, as ipcbench keys its context
    ("FanIn/tcp/clients:2/bytes:64/iterations:300/manual_time"
    -> "FanIn/tcp/clients:2/bytes:64")."""
    parts = [p for p in name.split("/") if p and p not in TIMING_SUFFIXES
             and p.partition(":")[0] not in RUN_LENGTH_KEYS]
    return "/".join(parts)


def pattern_cpus(context, name, label):
    """Where a pattern case's processes ran: the context's ipcbench_placement/<case>, else a
    label that names CPUs (Pairs: "pair 0: cpu0->cpu1, ..."), else None."""
    recorded = context.get(f"ipcbench_placement/{short_name(name)}")
    if recorded is not None:
        return str(recorded)
    return label if "cpu" in label.lower() else None


def load_run(path):
    """Reads and checks one ipcbench JSON file; returns its Run. Raises InputError."""
    data = read_json(path)
    if not (isinstance(data, dict) and isinstance(data.get("context"), dict)
            and isinstance(data.get("benchmarks"), list)):
        raise InputError(f"{path}: not Google Benchmark JSON output (expected an object with a "
                         "'context' object and a 'benchmarks' list)")
    context = data["context"]
    check_build_type(path, context)
    default_placement = file_placement(context)

    groups = {}  # run name -> rows, in order of first appearance
    for i, row in enumerate(data["benchmarks"]):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"]:
            raise InputError(f"{path}: benchmarks[{i}] has no 'name' string")
        groups.setdefault(base_run_name(row), []).append(row)
    if not groups and not any(k.startswith("unsupported/") for k in context):
        raise InputError(f"{path}: the 'benchmarks' list is empty: nothing was measured")

    cases, ignored = [], []
    for run_name, rows in groups.items():
        kind, subject, params, placement = parse_name(run_name)
        if kind not in REPORTED_KINDS:
            ignored.append(run_name)
            continue
        case = Case(kind, subject, params, placement or default_placement, path, run_name)
        errored = [r for r in rows if r.get("error_occurred")]
        if errored:
            case.error = str(errored[0].get("error_message") or "error (no message)")
        else:
            case.counters = representative_counters(rows)
            check_required(path, kind, run_name, case.counters)
        case.label = str(rows[0].get("label", ""))
        case.time_unit = str(rows[0].get("time_unit", "ns"))
        if kind in PATTERN_KINDS:
            case.cpus = pattern_cpus(context, run_name, case.label)
        cases.append(case)

    for key, reason in context.items():
        if key.startswith("unsupported/"):
            name = key[len("unsupported/"):]
            kind, subject, params, placement = parse_name(name)
            if kind in REPORTED_KINDS:
                cases.append(Case(kind, subject, params, placement or default_placement, path,
                                  name, unsupported=str(reason)))
    return Run(path, context, cases, ignored)


class Dataset:
    """The cases of all input files, with the queries the pictures and the report need."""

    def __init__(self, runs):
        self.runs = runs
        self.cases = []
        seen = {}
        for run in runs:
            for case in run.cases:
                other = seen.get(case.key())
                if other is not None:
                    raise InputError(f"{case.source}: case '{case.name}' ({case.placement}) is "
                                     f"also in {other.source}: give one run per placement")
                seen[case.key()] = case
                self.cases.append(case)
        # Order of first appearance: ipcbench registers transports in registry order.
        self.transports = unique(c.subject for c in self.cases if c.kind in (ROUND_TRIP, STREAM))
        # Every transport of any reported kind, those above first (one colour each everywhere).
        self.all_transports = unique(
            self.transports + [c.subject for c in self.cases if c.kind in PATTERN_KINDS])
        # The placements of the pair cases (the lecture's table, the four pictures); a file of
        # pattern rows only still gets its own.
        self.placements = (unique(c.placement for c in self.cases if c.kind in PLOTTED_KINDS)
                           or unique(c.placement for c in self.cases))
        # The groups of pattern rows: the placement of the file each came from.
        self.pattern_placements = unique(c.placement for c in self.cases
                                         if c.kind in PATTERN_KINDS)

    def select(self, kind, placement, transport=None, good=True):
        """Cases of one kind at one placement (and transport), smallest message first."""
        out = [c for c in self.cases if c.kind == kind and c.placement == placement
               and (transport is None or c.subject == transport) and (c.good or not good)]
        return sorted(out, key=lambda c: (c.bytes is None, c.bytes or 0))

    def small_rtt(self, placement, transport):
        """The good round trip at the transport's smallest measured size, or None."""
        cases = [c for c in self.select(ROUND_TRIP, placement, transport) if c.bytes is not None]
        return cases[0] if cases else None

    def rtt_at(self, placement, transport, size):
        """The good round trip at exactly `size` bytes, or None."""
        for c in self.select(ROUND_TRIP, placement, transport):
            if c.bytes == size:
                return c
        return None

    def stream_at(self, placement, transport, size):
        """The good stream at exactly `size` bytes, or None."""
        for c in self.select(STREAM, placement, transport):
            if c.bytes == size:
                return c
        return None

    def peak_stream(self, placement, transport):
        """The good stream case with the highest bytes/s, or None."""
        cases = self.select(STREAM, placement, transport)
        return max(cases, key=lambda c: c.get("bytes_per_second")) if cases else None

    def largest_carried(self, placement, transport):
        """The largest message size the transport carried in a good case, or None."""
        sizes = [c.bytes for kind in (ROUND_TRIP, STREAM)
                 for c in self.select(kind, placement, transport) if c.bytes is not None]
        return max(sizes) if sizes else None

    def limit(self, placement, probe, size=None):
        """The Limit row whose probe name starts with `probe` (at `size`), or None."""
        for c in self.select(LIMIT, placement):
            if c.subject.startswith(probe) and (size is None or c.bytes == size):
                return c
        return None

    def rtt_ranking(self, placement):
        """[(transport, case)] ordered by round-trip p50 at each one's smallest size."""
        pairs = [(t, self.small_rtt(placement, t)) for t in self.transports]
        return sorted([p for p in pairs if p[1] is not None], key=lambda p: p[1].get("p50_ns"))

    def stream_ranking(self, placement):
        """[(transport, case)] ordered by peak stream bytes/s, highest first."""
        pairs = [(t, self.peak_stream(placement, t)) for t in self.transports]
        return sorted([p for p in pairs if p[1] is not None],
                      key=lambda p: -p[1].get("bytes_per_second"))

    def pattern(self, kind, placement, transport=None, good=True):
        """Cases of one pattern in one group (and transport), smallest N first."""
        n_key = PATTERNS[kind].n_key
        out = [c for c in self.cases if c.kind == kind and c.placement == placement
               and (transport is None or c.subject == transport) and (c.good or not good)]
        return sorted(out, key=lambda c: (not isinstance(c.params.get(n_key), int),
                                          c.params.get(n_key) or 0))

    def pattern_transports(self, kind):
        """The transports with a good case of a pattern, in registry order."""
        return [t for t in self.all_transports
                if any(self.pattern(kind, p, t) for p in self.pattern_placements)]

    def rtt_placements(self):
        """The placements that have good round trips, from near to far (PLACEMENT_ORDER)."""
        found = unique(c.placement for c in self.cases if c.kind == ROUND_TRIP and c.good)
        known = [p for p in PLACEMENT_ORDER if p in found]
        return known + [p for p in found if p not in known]

    def placement_rtt(self, transport, placements):
        """{placement: round trip} at the transport's smallest size measured at every one of
        `placements`, or {} when no size was measured at all of them."""
        sizes = None
        for p in placements:
            have = {c.bytes for c in self.select(ROUND_TRIP, p, transport) if c.bytes is not None}
            sizes = have if sizes is None else sizes & have
        if not sizes:
            return {}
        size = min(sizes)
        return {p: self.rtt_at(p, transport, size) for p in placements}

    def sum_counter(self, placement, transport, key, kinds=(ROUND_TRIP, STREAM)):
        """The sum of a counter over every case of the transport that ran, or None if absent."""
        values = [c.get(key) for kind in kinds
                  for c in self.select(kind, placement, transport, good=False)
                  if c.error is None and c.unsupported is None and c.get(key) is not None]
        return sum(values) if values else None


def unique(items):
    """The items in order of first appearance, without repeats."""
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def load_dataset(paths):
    """Loads and combines the files; raises InputError on bad input."""
    return Dataset([load_run(p) for p in paths])


# ---------------------------------------------------------------------------------------------
# Formatting

def fmt_sig(value, digits=3):
    """A number with `digits` significant digits and no exponent (12345 -> "12345")."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) >= 10 ** (digits - 1):
        return str(int(value))  # counts and large values: no spurious ".0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def fmt_count(value):
    """A count (messages, samples): an integer when it is one, else three significant digits."""
    if value is None:
        return "n/a"
    return str(int(value)) if float(value).is_integer() else fmt_sig(value)


def fmt_us(ns):
    """Nanoseconds shown in microseconds."""
    return "n/a" if ns is None else f"{fmt_sig(ns / NS_PER_US)} µs"


def fmt_mbps(bytes_per_second):
    """Bytes/s shown in MB/s (10^6 bytes/s)."""
    return "n/a" if bytes_per_second is None else f"{fmt_sig(bytes_per_second / MB)} MB/s"


def fmt_bytes(n):
    """A message size: "64 B", "16 KiB", "1 MiB"."""
    if n is None:
        return "n/a"
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def fmt_ratio(a, b):
    """a/b as "1.23x", or "n/a"."""
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{fmt_sig(a / b)}x"


def fmt_rate(per_second):
    """A message rate: "58098/s"."""
    return "n/a" if per_second is None else f"{fmt_sig(per_second)}/s"


# How a pattern table's counter is shown (Pattern.columns).
FORMATS = {"us": fmt_us, "count": fmt_count, "sig": fmt_sig}


def placement_title(placement):
    """A placement for people: "same CPU", "different CPUs"."""
    return PLACEMENT_NAMES.get(placement, placement.replace("_", " "))


def md_cell(text):
    """Text made safe for one markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows):
    """A markdown table."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Verdicts on the lecture's table

def third_bounds(n):
    """(last rank of the first third, last rank of the second third) for n ranked items."""
    return math.ceil(n / 3), math.ceil(2 * n / 3)


def class_of_rank(rank, n, words):
    """The word of the third that 1-based `rank` falls in, out of `n`."""
    first, second = third_bounds(n)
    return words[0] if rank <= first else words[1] if rank <= second else words[2]


def speed_verdict(dataset, placement, transports, claimed):
    """(measured word, rank text, verdict text) for a row's speed, or None if not measured.

    Rule: rank every transport by round-trip p50 at its smallest measured size; the first third
    is "fast", the second "medium", the last "slow". The row is judged by its fastest transport.
    A row outside its claimed third but within SAME_SPEED_TOLERANCE of that third's nearest p50
    still holds: it is the same speed as a transport inside it.
    """
    ranking = dataset.rtt_ranking(placement)
    n = len(ranking)
    ranked = [(i + 1, t, c) for i, (t, c) in enumerate(ranking) if t in transports]
    if not ranked:
        return None
    rank, best, case = ranked[0]
    measured = class_of_rank(rank, n, SPEED_WORDS)
    p50 = case.get("p50_ns")
    rank_text = f"{rank}/{n}"
    where = f"{best} {fmt_us(p50)} at {fmt_bytes(case.bytes)} is rank {rank_text}"
    if measured == claimed:
        return measured, rank_text, f"**holds**: {where} ({measured})"
    first, second = third_bounds(n)
    lo, hi = {"fast": (1, first), "medium": (first + 1, second), "slow": (second + 1, n)}[claimed]
    if hi < lo:
        return measured, rank_text, (f"**does not hold**: {where} ({measured}); with {n} "
                                     f"transports no rank is '{claimed}'")
    # The transport at the edge of the claimed third nearest to the row, and the row's distance.
    slower = rank > hi
    b_name, b_case = ranking[(hi if slower else lo) - 1]
    ratio = p50 / b_case.get("p50_ns")
    edge = "slowest" if slower else "fastest"
    distance = (f"{fmt_sig(ratio)}x the p50 of the {edge} '{claimed}' transport "
                f"({b_name} {fmt_us(b_case.get('p50_ns'))})")
    if abs(ratio - 1) <= SAME_SPEED_TOLERANCE:
        return measured, rank_text, (f"**holds** (within {SAME_SPEED_TOLERANCE:.0%}): {where} "
                                     f"({measured}), {distance}")
    return measured, rank_text, f"**does not hold**: {where} ({measured}); {distance}"


def volume_word(dataset, placement, transports):
    """(measured word, best transport, its peak case, rank, n, largest size) for a row's volume.

    Rule: "very small" when no transport of the row carried a message larger than one word
    (WORD_BYTES); otherwise "large" when the row's best peak stream throughput ranks in the top
    third of all transports, else "small". None when the row has no stream measurement.
    """
    largest = [dataset.largest_carried(placement, t) for t in transports]
    largest = [s for s in largest if s is not None]
    ranking = dataset.stream_ranking(placement)
    n = len(ranking)
    ranked = [(i + 1, t, c) for i, (t, c) in enumerate(ranking) if t in transports]
    if not ranked or not largest:
        return None
    rank, best, case = ranked[0]
    biggest = max(largest)
    if biggest <= WORD_BYTES:
        word = "very small"
    else:
        word = "large" if rank <= third_bounds(n)[0] else "small"
    return word, best, case, rank, n, biggest


def volume_verdict(dataset, placement, transports, claimed):
    """(measured word, verdict text) for a row's data volume, or None if not measured."""
    found = volume_word(dataset, placement, transports)
    if found is None:
        return None
    word, best, case, rank, n, biggest = found
    where = (f"largest message carried {fmt_bytes(biggest)}; best stream {best} "
             f"{fmt_mbps(case.get('bytes_per_second'))} at {fmt_bytes(case.bytes)}, "
             f"rank {rank}/{n}")
    if word == claimed:
        return word, f"**holds**: {where} ({word})"
    return word, f"**does not hold**: {where} ({word})"


def transport_cells(dataset, placement, transports):
    """The measured cells of one table row: RTT p50, one-way p50, peak stream, per transport."""
    rtt, oneway, stream, present = [], [], [], []
    for t in transports:
        small = dataset.small_rtt(placement, t)
        peak = dataset.peak_stream(placement, t)
        if small is None and peak is None:
            continue
        present.append(t)
        if small is not None:
            rtt.append(f"{t} {fmt_us(small.get('p50_ns'))} ({fmt_bytes(small.bytes)})")
            one = small.get("oneway_p50_ns")
            oneway.append(f"{t} " + (fmt_us(one) if one is not None else "n/a (no time stamp)"))
        if peak is not None:
            stream.append(f"{t} {fmt_mbps(peak.get('bytes_per_second'))} "
                          f"({fmt_bytes(peak.bytes)}, "
                          f"{fmt_count(round(peak.get('items_per_second')))} msg/s)")
    return present, "; ".join(rtt) or "n/a", "; ".join(oneway) or "n/a", "; ".join(stream) or "n/a"


def lecture_table(dataset, placement):
    """The lecture's table for one placement, row for row, with measured cells and verdicts."""
    header = ["Mechanism", "Lecture: speed", "Lecture: data volume", "Transports measured",
              "Round trip p50 (RTT, size)", "One-way p50", "Peak stream throughput (size)",
              "Rank (RTT)", "Speed verdict", "Data volume verdict"]
    rows = []
    for mechanism, speed, volume, transports in LECTURE_ROWS:
        rows.append(table_row(dataset, placement, mechanism, speed, volume, transports))
    for mechanism, transports in EXTRA_ROWS:
        rows.append(table_row(dataset, placement, mechanism, None, None, transports))
    return md_table(header, rows)


def table_row(dataset, placement, mechanism, speed, volume, transports):
    """One row of the lecture's table; speed/volume None for rows the lecture has no words for."""
    present, rtt, oneway, stream = transport_cells(dataset, placement, transports)
    if not present:
        absent = "not measured in this input (" + ", ".join(transports) + ")"
        return [mechanism, speed or "-", volume or "-", "none", "-", "-", "-", "-",
                absent if speed else "-", absent if volume else "-"]
    sv = speed_verdict(dataset, placement, transports, speed or "fast")
    vv = volume_verdict(dataset, placement, transports, volume or "large")
    rank = sv[1] if sv else "-"
    if speed is None:
        speed_text = f"no claim (measured: {sv[0]})" if sv else "no claim"
        volume_text = f"no claim (measured: {vv[0]})" if vv else "no claim"
    else:
        speed_text = sv[2] if sv else "not measured in this input (no round trip)"
        volume_text = vv[1] if vv else "not measured in this input (no stream)"
    return [mechanism, speed or "-", volume or "-", ", ".join(present), rtt, oneway, stream,
            rank, speed_text, volume_text]


# ---------------------------------------------------------------------------------------------
# The lecture's other claims

def not_measured(names):
    """The evidence line of a claim whose transports are absent."""
    return f"**not measured in this input** (needs {', '.join(names)})"


def compare_speed(a_name, a, b_name, b, slower_claimed):
    """Verdict on "a is slower than b" (slower_claimed) from two round-trip cases."""
    ratio = a.get("p50_ns") / b.get("p50_ns")
    text = (f"{a_name} p50 {fmt_us(a.get('p50_ns'))} vs {b_name} {fmt_us(b.get('p50_ns'))} "
            f"at {fmt_bytes(a.bytes)} ({fmt_sig(ratio)}x)")
    if ratio > 1 + SAME_SPEED_TOLERANCE:
        verdict = "holds" if slower_claimed else "does not hold"
        return f"**{verdict}**: {text}: {a_name} is slower"
    if ratio < 1 - SAME_SPEED_TOLERANCE:
        return f"**does not hold**: {text}: {a_name} is faster"
    return (f"**does not hold**: {text}: the same speed within "
            f"{SAME_SPEED_TOLERANCE:.0%}")


def common_rtt_pair(dataset, placement, a, b):
    """The round trips of a and b at their smallest common size, or None."""
    sizes_a = {c.bytes: c for c in dataset.select(ROUND_TRIP, placement, a)}
    for c in dataset.select(ROUND_TRIP, placement, b):
        if c.bytes in sizes_a:
            return sizes_a[c.bytes], c
    return None


def claim_fifo_vs_pipe(dataset, placement):
    """FIFO is "medium" while pipe is "fast": FIFO's RTT must be measurably above pipe's."""
    pair = common_rtt_pair(dataset, placement, "fifo", "pipe")
    if pair is None:
        return [not_measured(["fifo", "pipe"])]
    lines = [compare_speed("fifo", pair[0], "pipe", pair[1], slower_claimed=True)]
    per_size = []
    for f in dataset.select(ROUND_TRIP, placement, "fifo"):
        p = dataset.rtt_at(placement, "pipe", f.bytes)
        if p is not None:
            per_size.append(f"{fmt_bytes(f.bytes)} {fmt_ratio(f.get('p50_ns'), p.get('p50_ns'))}")
    lines.append("fifo/pipe round-trip p50 per size: " + ", ".join(per_size))
    streams = []
    for f in dataset.select(STREAM, placement, "fifo"):
        p = dataset.stream_at(placement, "pipe", f.bytes)
        if p is not None:
            streams.append(f"{fmt_bytes(f.bytes)} "
                           f"{fmt_ratio(f.get('bytes_per_second'), p.get('bytes_per_second'))}")
    if streams:
        lines.append("fifo/pipe stream throughput per size: " + ", ".join(streams))
    return lines


def claim_pipe_capacity(dataset, placement, context):
    """A pipe has a fixed capacity; a writer with more than that to write blocks."""
    capacity = parse_value(str(context.get("limit_pipe_default_bytes", "")))
    streams = dataset.select(STREAM, placement, "pipe")
    if not streams:
        return [not_measured(["pipe stream"])]
    if not isinstance(capacity, int):
        return ["**not measured in this input**: the context has no limit_pipe_default_bytes"]
    lines = [f"pipe capacity (limit_pipe_default_bytes, F_GETPIPE_SZ): {fmt_bytes(capacity)}"]
    rows = [f"{fmt_bytes(c.bytes)}: {fmt_mbps(c.get('bytes_per_second'))}, "
            f"{fmt_sig(c.get('ctx_switches_per_msg'))} context switches/message" for c in streams]
    lines.append("pipe stream: " + "; ".join(rows))
    switches = [c for c in streams if c.get("ctx_switches_per_msg") is not None]
    above = [c for c in switches if c.bytes >= capacity]
    below = [c for c in switches if c.bytes < capacity]
    if not above:
        lines.append(f"**not measured in this input**: no pipe stream message of "
                     f"{fmt_bytes(capacity)} or more")
        return lines
    big = above[-1]
    blocked = big.get("ctx_switches_per_msg") >= 1
    fewer_below = all(c.get("ctx_switches_per_msg") < big.get("ctx_switches_per_msg")
                      for c in below)
    verdict = "holds" if blocked and fewer_below else "does not hold"
    lines.append(f"**{verdict}**: at {fmt_bytes(big.bytes)} (>= capacity) the two processes "
                 f"switch {fmt_sig(big.get('ctx_switches_per_msg'))} times per message "
                 "(rule: at least 1, and more than at every size below the capacity, shows the "
                 "writer waiting on a full pipe)")
    return lines


def claim_signal_coalescing(dataset, placement):
    """Standard signals collapse while pending; realtime signals queue."""
    lines = []
    std = dataset.select(STREAM, placement, "signal")
    rt = dataset.select(STREAM, placement, "rt_signal")
    if not std:
        return [not_measured(["signal stream"])]
    coalesced = sum(c.get("coalesced") or 0 for c in std)
    sent = sum(c.get("sent") or 0 for c in std)
    lines.append(f"signal stream: {fmt_count(coalesced)} of {fmt_count(sent)} signals sent "
                 f"coalesced ({fmt_sig(100 * coalesced / sent if sent else None)}%)")
    if rt:
        rt_lost = sum((c.get("coalesced") or 0) + (c.get("lost") or 0) for c in rt)
        rt_sent = sum(c.get("sent") or 0 for c in rt)
        lines.append(f"rt_signal stream: {fmt_count(rt_lost)} of {fmt_count(rt_sent)} coalesced or "
                     "lost (realtime signals queue)")
    sizes = {t: dataset.largest_carried(placement, t) for t in ("signal", "rt_signal")}
    carried = [f"{t} {fmt_bytes(size)}" for t, size in sizes.items() if size is not None]
    lines.append("largest message carried: " + ", ".join(carried))
    if coalesced > 0:
        lines.append("**holds**: deliveries of the same standard signal collapsed into one")
    else:
        lines.append("**not observed**: no standard signal coalesced in this run (the receiver "
                     "kept up; this does not contradict the claim)")
    return lines


def claim_datagram_reliability(dataset, placement):
    """UDP is not guaranteed reliable; Unix datagrams on Linux and stream sockets are."""
    names = ("udp", "unix_dgram", "tcp", "unix_stream")
    if dataset.sum_counter(placement, "udp", "lost") is None:
        return [not_measured(["udp"])]
    lines = []
    for t in names:
        stream_lost = dataset.sum_counter(placement, t, "lost", (STREAM,))
        sent = dataset.sum_counter(placement, t, "sent", (STREAM,))
        rtt_lost = dataset.sum_counter(placement, t, "lost", (ROUND_TRIP,))
        parts = []
        if stream_lost is not None:
            parts.append(f"streams lost {fmt_count(stream_lost)} of {fmt_count(sent)} sent")
        if rtt_lost is not None:
            parts.append(f"round trips lost {fmt_count(rtt_lost)}")
        if parts:
            lines.append(f"{t}: " + ", ".join(parts))
    udp_lost = dataset.sum_counter(placement, "udp", "lost")
    if udp_lost > 0:
        lines.append("**holds**: udp lost datagrams on loopback")
    else:
        lines.append("**not observed**: udp lost nothing in this run (no loss is not a proof "
                     "of reliability)")
    return lines


def claim_shared_memory_sync(dataset, placement):
    """Shared memory needs a synchronization mechanism; what that costs (sysv_sem vs sysv_shm)."""
    shm = dataset.small_rtt(placement, "sysv_shm")
    sem = dataset.small_rtt(placement, "sysv_sem")
    if shm is None or sem is None:
        return [not_measured(["sysv_shm", "sysv_sem"])]
    share = sem.get("p50_ns") / shm.get("p50_ns")
    lines = [f"sysv_sem (the semaphore hand-off alone, {fmt_bytes(sem.bytes)}) p50 "
             f"{fmt_us(sem.get('p50_ns'))}; sysv_shm (segment + semaphores, "
             f"{fmt_bytes(shm.bytes)}) p50 {fmt_us(shm.get('p50_ns'))}: the synchronization is "
             f"{fmt_sig(100 * share)}% of the shared-memory round trip"]
    bad = [t for t in SHARED_MEMORY
           if any(c.corrupt for c in dataset.select(ROUND_TRIP, placement, t, good=False)
                  + dataset.select(STREAM, placement, t, good=False))]
    if bad:
        lines.append(f"**does not hold**: corrupt messages counted for {', '.join(bad)}")
    else:
        lines.append("**holds**: every shared-memory transport hands off through a "
                     "synchronization primitive and delivered every checked message intact "
                     "(corrupt = 0); the semaphore is the larger part of the cost")
    return lines


def claim_shared_memory_fastest(dataset, placement):
    """Shared memory is "the fastest IPC": its best RTT beats every other inter-process one."""
    ranking = [(t, c) for t, c in dataset.rtt_ranking(placement) if t not in IN_PROCESS]
    shm = [(t, c) for t, c in ranking if t in SHARED_MEMORY]
    other = [(t, c) for t, c in ranking if t not in SHARED_MEMORY]
    if not shm or not other:
        return [not_measured(["a shared-memory transport", "another IPC transport"])]
    (st, sc), (ot, oc) = shm[0], other[0]
    ratio = fmt_ratio(sc.get("p50_ns"), oc.get("p50_ns"))
    text = (f"best shared memory {st} {fmt_us(sc.get('p50_ns'))} ({fmt_bytes(sc.bytes)}) vs best "
            f"other IPC {ot} {fmt_us(oc.get('p50_ns'))} ({fmt_bytes(oc.bytes)}): {ratio}")
    verdict = "holds" if sc.get("p50_ns") < oc.get("p50_ns") else "does not hold"
    return [f"**{verdict}**: {text}"]


def claim_unix_vs_inet(dataset, placement):
    """Within one host, Unix-domain sockets vs Internet (loopback) sockets."""
    lines = []
    for unix, inet in (("unix_stream", "tcp"), ("unix_dgram", "udp")):
        pair = common_rtt_pair(dataset, placement, inet, unix)
        if pair is None:
            lines.append(f"{unix} vs {inet}: " + not_measured([unix, inet]))
            continue
        lines.append(f"{unix} vs {inet}: "
                     + compare_speed(inet, pair[0], unix, pair[1], slower_claimed=True)
                     + " (claim checked: the Internet socket costs more on one host)")
        a, b = dataset.peak_stream(placement, unix), dataset.peak_stream(placement, inet)
        if a is not None and b is not None:
            lines.append(f"peak stream: {unix} {fmt_mbps(a.get('bytes_per_second'))} "
                         f"({fmt_bytes(a.bytes)}) vs {inet} {fmt_mbps(b.get('bytes_per_second'))} "
                         f"({fmt_bytes(b.bytes)})")
    return lines


def claim_queue_sizes(dataset, placement, context):
    """Message queues keep message boundaries and have a fixed largest message."""
    queues = [t for t in EXTRA_ROWS[0][1]
              if dataset.select(ROUND_TRIP, placement, t, good=False)
              or dataset.select(STREAM, placement, t, good=False)]
    if not queues:
        return [not_measured(list(EXTRA_ROWS[0][1]))]
    lines = []
    limited = False
    for t in queues:
        refused = [c for c in dataset.cases if c.subject == t and c.placement == placement
                   and c.unsupported is not None]
        largest = dataset.largest_carried(placement, t)
        text = f"{t}: largest message carried {fmt_bytes(largest)}"
        if refused:
            limited = True
            first = min(refused, key=lambda c: c.bytes or 0)
            text += f"; {fmt_bytes(first.bytes)} refused: {first.unsupported}"
        lines.append(text)
    limits = [f"{k} = {context[k]}" for k in ("limit_posix_mq_msgsize_max", "limit_sysv_msgmax")
              if k in context]
    if limits:
        lines.append("limits read at run time: " + ", ".join(limits))
    lines.append("**holds**: larger messages are refused by the queues' fixed limit" if limited
                 else "**not observed**: no size in this input reached a queue's limit")
    return lines


CLAIMS = (
    ("Shared memory is the fastest IPC (004)", claim_shared_memory_fastest, False),
    ("A FIFO is \"medium\" while a pipe is \"fast\" (004): FIFO is slower than pipe",
     claim_fifo_vs_pipe, False),
    ("A pipe has a fixed capacity; writing to a full pipe blocks (002, 004)",
     claim_pipe_capacity, True),
    ("Standard signals collapse while pending; signals carry almost no data (002, 004)",
     claim_signal_coalescing, False),
    ("Datagram sockets (UDP) are not guaranteed reliable; stream sockets are (000, 003)",
     claim_datagram_reliability, False),
    ("Shared memory needs a synchronization mechanism, usually a semaphore (002, 004)",
     claim_shared_memory_sync, False),
    ("Unix-domain sockets serve one host, Internet sockets many (001, 003): on one host the "
     "Unix socket is the cheaper one", claim_unix_vs_inet, False),
    ("Message queues keep boundaries and have a fixed size (002)", claim_queue_sizes, True),
)


# ---------------------------------------------------------------------------------------------
# Distance to the hardware

def hardware_section(dataset, placement):
    """Markdown lines: each transport's round trip in cache-line round trips and its peak stream
    as a fraction of memcpy at the same size; [] when this placement has no Limit rows and no
    ratio counters."""
    line = dataset.limit(placement, "cacheline")
    syscall = dataset.limit(placement, "syscall")
    rows = []
    for t in dataset.transports:
        small = dataset.small_rtt(placement, t)
        peak = dataset.peak_stream(placement, t)
        if small is None and peak is None:
            continue
        x_line = fraction = memcpy_text = "n/a"
        if small is not None:
            # Best: the floor ipcbench measured on the same CPUs right after this case; then
            # (files from before it did) the Limit row, measured once at the start of the run.
            if small.get("cacheline_p50_ns"):
                x_line = (f"{fmt_ratio(small.get('p50_ns'), small.get('cacheline_p50_ns'))} "
                          f"(of {fmt_us(small.get('cacheline_p50_ns'))} measured next to it)")
            elif line is not None and line.get("p50_ns"):
                x_line = fmt_ratio(small.get("p50_ns"), line.get("p50_ns"))
            elif small.get("rtt_p50_x_cacheline") is not None:
                x_line = f"{fmt_sig(small.get('rtt_p50_x_cacheline'))}x (ipcbench's counter)"
        if peak is not None:
            memcpy = dataset.limit(placement, "memcpy", peak.bytes)
            if memcpy is not None and memcpy.get("bytes_per_second"):
                memcpy_text = fmt_mbps(memcpy.get("bytes_per_second"))
                fraction = fmt_sig(peak.get("bytes_per_second") / memcpy.get("bytes_per_second"))
            elif peak.get("fraction_of_memcpy") is not None:
                fraction = f"{fmt_sig(peak.get('fraction_of_memcpy'))} (ipcbench's counter)"
        if peak is None:
            stream_text = "n/a"
        elif not peak.bytes:  # bare notifications move no bytes: their rate is the figure
            stream_text = f"{fmt_rate(peak.get('items_per_second'))} (no payload)"
        else:
            stream_text = f"{fmt_mbps(peak.get('bytes_per_second'))} ({fmt_bytes(peak.bytes)})"
        rows.append([t, fmt_us(small.get("p50_ns")) if small else "n/a", x_line, stream_text,
                     memcpy_text, fraction])
    has_ratio = any(r[2] != "n/a" or r[5] != "n/a" for r in rows)
    if line is None and syscall is None and not has_ratio:
        return []
    out = []
    if line is not None:
        out.append(f"- cache line bounced between the two CPUs (Limit/{line.subject}): round trip "
                   f"p50 {fmt_us(line.get('p50_ns'))} at the start of the run")
    if any(r[2].endswith("measured next to it)") for r in rows):
        out.append("- x cache-line RTT divides a round trip by the same bounce (2000 round trips) "
                   "measured on the same CPUs right after that case: the floor drifts during a "
                   "run on a shared machine, so a ratio is only fair against a floor measured "
                   "next to it")
    if syscall is not None:
        ns = syscall.get("p50_ns")
        if ns is None and syscall.get("real_time") is not None:
            ns = syscall.get("real_time") * TIME_UNIT_NS.get(syscall.time_unit, 1.0)
        out.append(f"- trivial system call (Limit/{syscall.subject}): {fmt_us(ns)}")
    memcpys = [c for c in dataset.select(LIMIT, placement) if c.subject.startswith("memcpy")]
    if memcpys:
        out.append("- memcpy, one thread: " + ", ".join(
            f"{fmt_bytes(c.bytes)} {fmt_mbps(c.get('bytes_per_second'))}" for c in memcpys))
    out.append("")
    out.append(md_table(["Transport", "RTT p50 (smallest size)", "x cache-line RTT",
                         "Peak stream (size)", "memcpy at that size", "Fraction of memcpy"], rows))
    return out


# ---------------------------------------------------------------------------------------------
# Pictures

def import_pyplot():
    """matplotlib.pyplot on the Agg backend (no display); InputError-like exit if missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("matplotlib is not installed: install the Debian package "
                         "python3-matplotlib and run with /usr/bin/python3") from None
    return plt


def transport_style(dataset):
    """A fixed colour and marker per transport, the same in every picture."""
    import matplotlib
    tab20 = matplotlib.colormaps["tab20"].colors
    colours = tab20[0::2] + tab20[1::2]  # dark shades first: neighbours in the order differ
    markers = "osD^v<>phX*"
    return {t: (colours[i % len(colours)], markers[i % len(markers)])
            for i, t in enumerate(dataset.all_transports)}


def placement_axes(plt, dataset, title, height=5.0):
    """A figure with one panel per placement, side by side, sharing the y axis."""
    n = len(dataset.placements)
    fig, axes = plt.subplots(1, n, figsize=(7.5 * n + 2.5, height), sharex=True,
                             sharey=True, squeeze=False)
    fig.suptitle(title, fontsize=10)
    return fig, list(zip(dataset.placements, axes[0]))


def save(fig, out_dir, name):
    """Writes the figure to out_dir/name and closes it; returns the path."""
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def zero_byte_note(dataset, kind):
    """Transports measured only at 0 bytes, which a log size axis cannot show."""
    zero = [t for t in dataset.transports
            if any(c.bytes == 0 for p in dataset.placements for c in dataset.select(kind, p, t))
            and not any(c.bytes for p in dataset.placements for c in dataset.select(kind, p, t))]
    return ("Not on the log size axis (they carry 0 bytes; see REPORT.md): " + ", ".join(zero)
            if zero else "")


def finish_panel(ax, legend):
    """Adds the legend when the panel has lines, or says that it has nothing to show."""
    if ax.get_legend_handles_labels()[0]:
        if legend:
            ax.legend(fontsize=7, loc="lower left")
    else:
        ax.text(0.5, 0.5, "no measured case to plot\n(see REPORT.md)", ha="center",
                va="center", transform=ax.transAxes)


def plot_latency(plt, dataset, out_dir, style):
    """latency.png: RTT p50 bars per transport at its smallest size, whisker to p99."""
    n = max(len(dataset.transports), 1)
    k = len(dataset.placements)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * n * k + 2), 5.5))
    width = 0.8 / k
    hatches = ("", "//", "..", "xx", "\\\\")
    labels = []
    for ti, t in enumerate(dataset.transports):
        sizes = []
        for pi, p in enumerate(dataset.placements):
            case = dataset.small_rtt(p, t)
            if case is None:
                continue
            sizes.append(fmt_bytes(case.bytes))
            x = ti - 0.4 + width * (pi + 0.5)
            p50 = case.get("p50_ns") / NS_PER_US
            p99 = case.get("p99_ns") / NS_PER_US
            ax.bar(x, p50, width * 0.9, color=style[t][0], edgecolor="black", linewidth=0.5,
                   hatch=hatches[pi % len(hatches)],
                   label=placement_title(p) if k > 1 and ti == first_bar(dataset, p) else None)
            ax.errorbar(x, p50, yerr=[[0], [max(p99 - p50, 0)]], fmt="none", ecolor="black",
                        capsize=3, linewidth=0.8)
        labels.append(f"{t}\n{'/'.join(unique(sizes)) or 'n/a'}")
    ax.set_xticks(range(len(dataset.transports)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("round-trip time (RTT) p50, µs (log scale)\nwhisker: p99")
    ax.set_title("Round trip p50 per transport at its smallest measured message size "
                 "(size under each name)", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    if k > 1 and ax.get_legend_handles_labels()[0]:
        ax.legend(title="placement", fontsize=8)
    if not ax.patches:
        finish_panel(ax, legend=False)
    return save(fig, out_dir, "latency.png")


def first_bar(dataset, placement):
    """Index of the first transport that has a bar at `placement` (for one legend entry)."""
    for i, t in enumerate(dataset.transports):
        if dataset.small_rtt(placement, t) is not None:
            return i
    return -1


def plot_vs_size(plt, dataset, out_dir, style, kind, key, scale, ylabel, title, name):
    """A log-log picture of one counter against message size, one line per transport."""
    fig, panels = placement_axes(plt, dataset, title)
    for placement, ax in panels:
        for t in dataset.transports:
            points = [(c.bytes, c.get(key) / scale) for c in dataset.select(kind, placement, t)
                      if c.bytes and c.get(key)]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker=style[t][1], color=style[t][0], label=t, linewidth=1.2,
                        markersize=5)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size, bytes (log scale)")
        ax.set_title(placement_title(placement), fontsize=9)
        ax.grid(which="both", alpha=0.3)
        ax.xaxis.set_major_formatter(
            plt.FuncFormatter(lambda v, _: fmt_bytes(int(v)) if v >= 1 else ""))
        finish_panel(ax, legend=False)
    panels[0][1].set_ylabel(ylabel)
    handles = {}
    for _, ax in panels:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize=8)
    note = zero_byte_note(dataset, kind)
    if note:
        fig.text(0.01, -0.04, note, fontsize=8)
    return save(fig, out_dir, name)


def cdf_size(dataset):
    """The message size for the distribution picture: the most common smallest RTT size."""
    sizes = [dataset.small_rtt(p, t).bytes for p in dataset.placements for t in dataset.transports
             if dataset.small_rtt(p, t) is not None]
    return max(unique(sizes), key=sizes.count) if sizes else None


def distribution_points(case):
    """[(RTT µs, fraction of round trips slower)] from the case's percentiles and max.

    A percentile is used only when the case has enough samples to resolve it (a p99.9 from
    fewer than 1000 samples is just the maximum); the max sits at 1/samples.
    """
    samples = case.get("samples")
    points = []
    for key, tail in PERCENTILE_TAILS:
        value = case.get(key)
        if value is not None and (samples is None or tail >= 1 / samples):
            points.append((value / NS_PER_US, tail))
    if samples and case.get("max_ns") is not None and (not points or 1 / samples < points[-1][1]):
        points.append((case.get("max_ns") / NS_PER_US, 1 / samples))
    return points


def plot_cdf(plt, dataset, out_dir, style):
    """latency_cdf.png: the round-trip distribution (as a tail plot) of each transport."""
    size = cdf_size(dataset)
    fig, panels = placement_axes(
        plt, dataset, f"Round-trip distribution at {fmt_bytes(size)} (transports that cannot "
        "carry it: their smallest size, in the legend)\ndrawn from the reported percentiles "
        "p50, p90, p99, p99.9 and max (at 1/samples), not from raw samples: points are "
        "measured, lines between them are not", height=5.5)
    for placement, ax in panels:
        for t in dataset.transports:
            case = dataset.rtt_at(placement, t, size) or dataset.small_rtt(placement, t)
            if case is None:
                continue
            points = distribution_points(case)
            if not points:
                continue
            xs, ys = zip(*points)
            label = t if case.bytes == size else f"{t} ({fmt_bytes(case.bytes)})"
            ax.plot(xs, ys, marker=style[t][1], color=style[t][0], label=label, linewidth=1.0,
                    markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("round-trip time (RTT), µs (log scale)")
        ax.set_title(placement_title(placement), fontsize=9)
        ax.grid(which="both", alpha=0.3)
        finish_panel(ax, legend=True)
    panels[0][1].set_ylabel("fraction of round trips slower than x (log scale)")
    return save(fig, out_dir, "latency_cdf.png")


def group_title(dataset, kind, placement):
    """A panel title for one group of pattern rows: its file(s) and their placement."""
    files = unique(os.path.basename(c.source) for c in dataset.cases
                   if c.kind == kind and c.placement == placement)
    return f"{', '.join(files)} ({placement_title(placement)})"


def figure_legend(fig, panels, extra=()):
    """One legend for the whole figure, right of it: each label once, then `extra` handles."""
    handles = {}
    for ax in panels:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    for h in extra:
        handles.setdefault(h.get_label(), h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize=8)


def plain_log_labels(plt, axis):
    """Labels a log axis with plain numbers (30, not 3x10^1), also at the minor ticks 2, 3 and
    5 of each decade, so that a range of less than one decade still has labels."""
    def minor(value, _):
        leading = round(value / 10 ** math.floor(math.log10(value)))
        return f"{value:.10g}" if leading in (2, 3, 5) else ""
    axis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:.10g}"))
    axis.set_minor_formatter(plt.FuncFormatter(minor))


def plot_scaling(plt, dataset, out_dir, style, pattern):
    """scaling_<pattern>.png: aggregate rate (top) and latencies (bottom) against N, one line
    per transport, one column per group of rows (the file's placement). Good cases only."""
    from matplotlib.lines import Line2D
    groups = [p for p in dataset.pattern_placements
              if dataset.pattern(pattern.kind, p, good=False)]
    fig, axes = plt.subplots(2, len(groups), figsize=(7.0 * len(groups) + 1.0, 9.0),
                             sharex=True, sharey="row", squeeze=False)
    fig.suptitle(f"{pattern.title}: aggregate rate and latency against N (log2 axis); "
                 "errored and unsupported cases are absent (listed in REPORT.md)", fontsize=10)
    ns = set()
    for col, placement in enumerate(groups):
        rate_ax, time_ax = axes[0][col], axes[1][col]
        for t in dataset.all_transports:
            cases = [c for c in dataset.pattern(pattern.kind, placement, t)
                     if isinstance(c.params.get(pattern.n_key), int)]
            if not cases:
                continue
            colour, marker = style[t]
            xs = [c.params[pattern.n_key] for c in cases]
            ns.update(xs)
            rate_ax.plot(xs, [c.get("items_per_second") / KILO for c in cases], marker=marker,
                         color=colour, label=t, linewidth=1.2, markersize=5)
            for key, line in ((pattern.p50_key, "-"), (pattern.tail_key, "--")):
                points = [(x, c.get(key) / NS_PER_US) for x, c in zip(xs, cases) if c.get(key)]
                if points:
                    time_ax.plot(*zip(*points), marker=marker, color=colour, linestyle=line,
                                 linewidth=1.0, markersize=4)
        rate_ax.set_title(group_title(dataset, pattern.kind, placement), fontsize=9)
        for ax in (rate_ax, time_ax):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            plain_log_labels(plt, ax.yaxis)
            ax.grid(which="both", alpha=0.3)
        time_ax.set_xlabel(f"N = {pattern.n_key} (log2 scale)")
        finish_panel(rate_ax, legend=False)
        if not time_ax.lines:
            finish_panel(time_ax, legend=False)
    for ax in axes[1]:
        if ns:
            ax.set_xticks(sorted(ns))
            ax.set_xticklabels([str(n) for n in sorted(ns)])
            ax.xaxis.set_minor_locator(plt.NullLocator())
    axes[0][0].set_ylabel(f"{pattern.rate_words},\n10^3 messages/s (log scale)")
    axes[1][0].set_ylabel("µs (log scale)")
    styles = [Line2D([], [], color="black", linestyle="-", label=f"solid: {pattern.p50_words}"),
              Line2D([], [], color="black", linestyle="--",
                     label=f"dashed: {pattern.tail_words}")]
    fig.subplots_adjust(right=0.96)  # the legend sits just right of the panels
    figure_legend(fig, axes[0], styles)
    fig.text(0.01, -0.02, "The pattern pins its processes itself (CPUs per case in REPORT.md); "
             "a column is the group of rows from one file, named by that file's placement.",
             fontsize=8)
    return save(fig, out_dir, pattern.picture)


def plot_placement(plt, dataset, out_dir, style):
    """placement.png: RTT p50 per transport at each placement, near to far, log scale, at the
    smallest size measured at every placement; the far bars carry their p50 / the near p50."""
    placements = dataset.rtt_placements()
    rows = [(t, dataset.placement_rtt(t, placements)) for t in dataset.transports]
    rows = [(t, found) for t, found in rows if found]
    k = len(placements)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(rows) * k + 2), 5.5))
    width = 0.8 / k
    hatches = ("", "//", "..", "xx", "\\\\", "oo")
    for ti, (t, found) in enumerate(rows):
        near = found[placements[0]].get("p50_ns")
        for pi, p in enumerate(placements):
            p50 = found[p].get("p50_ns")
            x = ti - 0.4 + width * (pi + 0.5)
            ax.bar(x, p50 / NS_PER_US, width * 0.9, color=style[t][0], edgecolor="black",
                   linewidth=0.5, hatch=hatches[pi % len(hatches)])
            if pi > 0:
                ax.text(x, p50 / NS_PER_US * 1.05, f"{fmt_sig(p50 / near, 2)}x", ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{t}\n{fmt_bytes(found[placements[0]].bytes)}" for t, found in rows],
                       rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    plain_log_labels(plt, ax.yaxis)
    ax.set_ylabel("round-trip time (RTT) p50, µs (log scale)")
    ax.set_title("Round trip p50 per transport at each CPU placement, near to far (size under "
                 "each name: the smallest measured at every placement)\nnumber above a bar: its "
                 f"p50 / the {placement_title(placements[0])} p50", fontsize=9)
    ax.grid(axis="y", which="both", alpha=0.3)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=hatches[i % len(hatches)],
                             label=placement_title(p)) for i, p in enumerate(placements)],
              title="placement (bar pattern)", fontsize=8)
    return save(fig, out_dir, PLACEMENT_PICTURE)


def optional_pictures(dataset):
    """[(name, caption, why it is not drawn or None)] for the pictures that need pattern or
    placement rows."""
    out = []
    for pattern in PATTERN_LIST:
        caption = (f"{pattern.title}: top, {pattern.rate_words} (10^3 messages/s) against N; "
                   f"bottom, solid {pattern.p50_words}, dashed {pattern.tail_words} (µs); one "
                   "line per transport, log2 N axis, log y axes; errored cases absent.")
        rows = [c for c in dataset.cases if c.kind == pattern.kind]
        if not rows:
            why = f"the input has no {pattern.kind} rows"
        elif not any(c.good for c in rows):
            why = f"no {pattern.kind} case ran without error (see the list of errored cases)"
        else:
            why = None
        out.append((pattern.picture, caption, why))
    placements = dataset.rtt_placements()
    caption = ("Round-trip p50 per transport at each CPU placement found in the input, near to "
               "far, log scale; the number above a bar is its p50 divided by the nearest "
               "placement's.")
    if len(placements) < 2:
        why = ("the input has good round trips at one placement only ("
               + (", ".join(placement_title(p) for p in placements) or "none") + ")")
    elif not any(dataset.placement_rtt(t, placements) for t in dataset.transports):
        why = "no transport has a round trip of one size at every placement"
    else:
        why = None
    out.append((PLACEMENT_PICTURE, caption, why))
    return out


def write_pictures(dataset, out_dir):
    """Writes the four pictures and those of optional_pictures() that have data (removing a
    stale copy of the others); returns the paths written."""
    plt = import_pyplot()
    style = transport_style(dataset)
    optional = []
    for name, _, why in optional_pictures(dataset):
        if why is not None:
            stale = os.path.join(out_dir, name)
            if os.path.exists(stale):
                os.remove(stale)  # an earlier report's picture would show rows this input lacks
        elif name == PLACEMENT_PICTURE:
            optional.append(plot_placement(plt, dataset, out_dir, style))
        else:
            pattern = next(p for p in PATTERN_LIST if p.picture == name)
            optional.append(plot_scaling(plt, dataset, out_dir, style, pattern))
    return [
        plot_latency(plt, dataset, out_dir, style),
        plot_vs_size(plt, dataset, out_dir, style, ROUND_TRIP, "p50_ns", NS_PER_US,
                     "round-trip time (RTT) p50, µs (log scale)",
                     "Round trip p50 against message size", "latency_vs_size.png"),
        plot_vs_size(plt, dataset, out_dir, style, STREAM, "bytes_per_second", MB,
                     "stream throughput, MB/s = 10^6 bytes/s (log scale)",
                     "Stream throughput against message size", "throughput_vs_size.png"),
        plot_cdf(plt, dataset, out_dir, style),
    ] + optional


# ---------------------------------------------------------------------------------------------
# REPORT.md

MACHINE_KEYS = (
    ("CPU model", "cpu_model"), ("CPUs (num_cpus)", "num_cpus"), ("CPUs online", "cpus_online"),
    ("Kernel", "kernel"), ("Host", "host_name"), ("Virtual machine", "virtual_machine"),
    ("Pinning", "ipcbench_cpus"), ("Placement", "ipcbench_placement"),
    ("Profile", "ipcbench_profile"), ("Build type", "ipcbench_build_type"),
    ("Git revision", "ipcbench_git_revision"), ("Date", "date"),
    ("Clock source", "clock_source"), ("Clock read, ns", "clock_overhead_ns"),
    ("CPU governor", "cpu_governor"), ("SMT active", "smt_active"),
    ("Warnings", "ipcbench_warnings"),
)


def machine_section(runs):
    """The machine table: one column per input file."""
    header = ["", *[os.path.basename(r.path) for r in runs]]
    rows = [[label, *[r.context.get(key, "not recorded") for r in runs]]
            for label, key in MACHINE_KEYS]
    out = [md_table(header, rows)]
    limits = sorted({k for r in runs for k in r.context if k.startswith("limit_")})
    if limits:
        out += ["", "Limits read at run time (first file): " + "; ".join(
            f"{k[len('limit_'):]} = {runs[0].context.get(k, 'n/a')}" for k in limits)]
    hosts = unique((r.context.get("host_name"), r.context.get("cpu_model")) for r in runs)
    if len(hosts) > 1:
        out += ["", "**Warning**: the input files come from different machines."]
    return out


def rules_section():
    """How the verdicts are computed, stated once."""
    return [
        "How the verdicts are computed (per placement):",
        "",
        "- **Speed**: every transport is ranked by its round-trip p50 at its smallest measured "
        "message size (shown beside each figure). Ranks in the first third (rounded up) are "
        "*fast*, the second third *medium*, the rest *slow*. A row is judged by its fastest "
        "transport. When the verdict does not hold, the ratio compares the row's p50 with the "
        "nearest transport inside the claimed third; within "
        f"{SAME_SPEED_TOLERANCE:.0%} of it the claim still holds (the same speed, see below).",
        f"- **Data volume**: *very small* when no transport of the row carried a message larger "
        f"than {WORD_BYTES} bytes (one word); otherwise *large* when the row's best peak stream "
        "throughput ranks in the first third of all transports' peak throughputs, else *small*.",
        f"- **Same speed**: two round trips within {SAME_SPEED_TOLERANCE:.0%} of each other count "
        "as the same speed (run-to-run noise on a virtual machine is of that order).",
        "- Errored, unsupported and corrupt cases are listed at the end and never ranked or "
        "plotted.",
    ]


def all_cases_section(dataset, placement):
    """Every measured round trip and stream at one placement, with its main counters."""
    rtt_rows = [[c.subject, fmt_bytes(c.bytes), fmt_us(c.get("p50_ns")), fmt_us(c.get("p90_ns")),
                 fmt_us(c.get("p99_ns")), fmt_us(c.get("p999_ns")), fmt_us(c.get("max_ns")),
                 fmt_us(c.get("oneway_p50_ns")), fmt_count(c.get("samples")),
                 fmt_sig(c.get("cpu_ns_per_msg")), fmt_count(c.get("lost"))]
                for t in dataset.transports for c in dataset.select(ROUND_TRIP, placement, t)]
    stream_rows = [[c.subject, fmt_bytes(c.bytes), fmt_mbps(c.get("bytes_per_second")),
                    fmt_sig(c.get("items_per_second")), fmt_count(c.get("sent")),
                    fmt_count(c.get("received")), fmt_count(c.get("lost")),
                    fmt_count(c.get("coalesced")), fmt_sig(c.get("ctx_switches_per_msg"))]
                   for t in dataset.transports for c in dataset.select(STREAM, placement, t)]
    out = []
    if rtt_rows:
        out += ["Round trips (RTT = full round trip; one-way from the sender's time stamp):", "",
                md_table(["Transport", "Size", "p50", "p90", "p99", "p99.9", "max",
                          "one-way p50", "samples", "CPU ns/msg", "lost"], rtt_rows), ""]
    if stream_rows:
        out += ["Streams (MB/s = 10^6 bytes/s, received):", "",
                md_table(["Transport", "Size", "Throughput", "msg/s", "sent", "received", "lost",
                          "coalesced", "ctx switches/msg"], stream_rows), ""]
    return out


# ---------------------------------------------------------------------------------------------
# CPU placement

def placement_cpus(dataset, placement):
    """The CPUs of a placement as the input records them: its entry in ipcbench_placements
    ("same_llc=cpu0,cpu1 (...)") or the file's ipcbench_cpus; "not recorded" otherwise."""
    for run in dataset.runs:
        if not any(c.placement == placement for c in run.cases):
            continue
        for entry in str(run.context.get("ipcbench_placements", "")).split(";"):
            kind, _, where = entry.strip().partition("=")
            if kind == placement and where:
                return where
        if run.context.get("ipcbench_cpus") is not None:
            return str(run.context["ipcbench_cpus"])
    return "not recorded"


def on_virtual_machine(dataset):
    """The context value that says the run was on a virtual machine, or None."""
    for run in dataset.runs:
        vm = str(run.context.get("virtual_machine", ""))
        if vm.startswith("yes"):
            return f"virtual_machine = '{vm}'"
        warnings = str(run.context.get("ipcbench_warnings", ""))
        if "hypervisor" in warnings:
            return f"ipcbench_warnings = '{warnings}'"
    return None


def placement_section(dataset):
    """Markdown lines: RTT p50 per transport and placement, and each far/near ratio."""
    placements = dataset.rtt_placements()
    if len(placements) < 2:
        found = ", ".join(placement_title(p) for p in placements) or "none"
        return [f"Not measured in this input: good round trips at one placement only ({found}). "
                "`ipcbench --placement=all` runs every kind of CPU pair the machine has; "
                "scripts/run-suite.sh runs different CPUs and the same CPU."]
    near, far = placements[0], placements[1:]
    out = ["Where the two ends ran (from the input): " + "; ".join(
        f"{placement_title(p)}: {placement_cpus(dataset, p)}" for p in placements) + ".", "",
        "Round-trip p50 (RTT) per transport at the smallest message size measured at every "
        "placement; a ratio is the p50 at that placement divided by the p50 at the "
        f"nearest one ({placement_title(near)}). Transports without a size common to every "
        "placement are left out.", ""]
    header = (["Transport", "Size"] + [f"RTT p50, {placement_title(p)}" for p in placements]
              + [f"{placement_title(p)} / {placement_title(near)}" for p in far])
    rows, ratios = [], {p: [] for p in far}
    for t in dataset.transports:
        found = dataset.placement_rtt(t, placements)
        if not found:
            continue
        rows.append([t, fmt_bytes(found[near].bytes)]
                    + [fmt_us(found[p].get("p50_ns")) for p in placements]
                    + [fmt_ratio(found[p].get("p50_ns"), found[near].get("p50_ns")) for p in far])
        for p in far:
            ratios[p].append((found[p].get("p50_ns") / found[near].get("p50_ns"), t))
    out.append(md_table(header, rows))
    out.append("")
    for p in far:
        if ratios[p]:
            low, high = min(ratios[p]), max(ratios[p])
            median = statistics.median(r for r, _ in ratios[p])
            out.append(f"- {placement_title(p)} / {placement_title(near)} over "
                       f"{len(ratios[p])} transports: from {fmt_sig(low[0])}x ({low[1]}) to "
                       f"{fmt_sig(high[0])}x ({high[1]}), median {fmt_sig(median)}x.")
    vm = on_virtual_machine(dataset)
    if vm is not None:
        out.append(f"- This run is on a virtual machine ({vm}): a wake-up of a process waiting "
                   "on another CPU goes through the hypervisor (the interrupt that wakes the "
                   "other virtual CPU, and that CPU's return from idle, are handled by the host), "
                   "which a hand-off on the same CPU avoids; the ratios above include that cost.")
    return out


# ---------------------------------------------------------------------------------------------
# Many processes at once (FanIn, FanOut, Pairs)

def n_of(pattern, case):
    """N of a pattern case (clients, consumers or pairs)."""
    return case.params.get(pattern.n_key)


def pattern_table(dataset, pattern, placement):
    """Every good case of a pattern in one group: N, the aggregate rate, its columns, CPUs."""
    header = ["Transport", f"N ({pattern.n_key})", pattern.rate_words, "Size"]
    header += [h for h, _, _ in pattern.columns] + ["CPUs"]
    rows = []
    for t in dataset.all_transports:
        for c in dataset.pattern(pattern.kind, placement, t):
            rows.append([t, fmt_count(n_of(pattern, c)), fmt_rate(c.get("items_per_second")),
                         fmt_bytes(c.bytes)]
                        + [FORMATS[f](c.get(key)) for _, key, f in pattern.columns]
                        + [c.cpus or "not recorded"])
    return md_table(header, rows) if rows else "No case ran without error in this group."


def scaling_ends(dataset, pattern, placement, transport):
    """(case at the smallest N, case at the largest N) of a transport, or None when it has good
    cases at fewer than two values of N."""
    cases = [c for c in dataset.pattern(pattern.kind, placement, transport)
             if isinstance(n_of(pattern, c), int)]
    if len(cases) < 2 or n_of(pattern, cases[0]) == n_of(pattern, cases[-1]):
        return None
    return cases[0], cases[-1]


def change(key, a, b, fmt):
    """"x -> y (y/x)" for one counter of two cases."""
    return (f"{fmt(a.get(key))} -> {fmt(b.get(key))} "
            f"({fmt_ratio(b.get(key), a.get(key))})")


def scaling_table(dataset, pattern, placement):
    """Per transport, how the rate and the latencies change from the smallest to the largest N."""
    header = ["Transport", "N", pattern.rate_words, pattern.p50_words, pattern.tail_words]
    rows = []
    for t in dataset.all_transports:
        ends = scaling_ends(dataset, pattern, placement, t)
        if ends is None:
            continue
        a, b = ends
        rows.append([t, f"{n_of(pattern, a)} -> {n_of(pattern, b)} "
                        f"({fmt_ratio(n_of(pattern, b), n_of(pattern, a))})",
                     change("items_per_second", a, b, fmt_rate),
                     change(pattern.p50_key, a, b, fmt_us),
                     change(pattern.tail_key, a, b, fmt_us)])
    return md_table(header, rows) if rows else None


def growth_word(ratio):
    """How a latency changed, with SAME_SPEED_TOLERANCE as the noise floor."""
    if ratio > 1 + SAME_SPEED_TOLERANCE:
        return "grows"
    if ratio < 1 - SAME_SPEED_TOLERANCE:
        return "shrinks"
    return f"stays within {SAME_SPEED_TOLERANCE:.0%}"


def not_good(dataset, kind, placement, transports=None):
    """The cases of a pattern in one group that are not plotted (errored, unsupported...)."""
    return [c for c in dataset.cases if c.kind == kind and c.placement == placement
            and not c.good and (transports is None or c.subject in transports)]


def problem_text(case):
    """A short description of why a case is not plotted."""
    if case.error is not None:
        return f"{case.name} errored: {case.error}"
    if case.unsupported is not None:
        return f"{case.name} unsupported"
    return f"{case.name}: corrupt data or failed clients"


def claim_server(dataset, placement):
    """The lecture's server (001, 003): one master socket and one data socket per client,
    served in a loop. Evidence, per connection-oriented socket: its FanIn cases with N > 1."""
    pattern = PATTERNS[FAN_IN]
    lines = []
    for t in CONNECTED_SOCKETS:
        good = [c for c in dataset.pattern(FAN_IN, placement, t) if (n_of(pattern, c) or 0) > 1]
        bad = [c for c in not_good(dataset, FAN_IN, placement, (t,)) if c.unsupported is None]
        if bad:
            lines.append(f"{t}: **does not hold**: " + "; ".join(problem_text(c) for c in bad))
        elif good:
            lost = sum(c.get("lost") or 0 for c in good)
            verdict = "holds" if lost == 0 else "does not hold"
            lines.append(f"{t}: **{verdict}**: one server with one listening socket and one "
                         "accepted data socket per client served every client in one loop at N = "
                         + ", ".join(str(n_of(pattern, c)) for c in good)
                         + f" clients; every round trip checked: lost {fmt_count(lost)}, "
                         "corrupt 0, no failed client")
        else:
            lines.append(f"{t}: " + not_measured([f"FanIn/{t} with more than one client"]))
        ends = scaling_ends(dataset, pattern, placement, t)
        if ends is not None:
            a, b = ends
            lines.append(f"{t}, serving in one loop, N = {n_of(pattern, a)} -> "
                         f"{n_of(pattern, b)} clients: each client's round trip p50 "
                         f"{change('p50_ns', a, b, fmt_us)}, worst client p99 "
                         f"{change('worst_client_p99_ns', a, b, fmt_us)}; all clients "
                         f"together {change('items_per_second', a, b, fmt_rate)} for "
                         f"{fmt_ratio(n_of(pattern, b), n_of(pattern, a))} the clients")
    return lines


def claim_mailbox(dataset, placement):
    """The lecture's mailbox (002) can broadcast to several processes. Evidence: FanOut at N > 1
    with every copy checked; and how delivery to the last consumer changes with N."""
    pattern = PATTERNS[FAN_OUT]
    good = [c for c in dataset.pattern(FAN_OUT, placement) if (n_of(pattern, c) or 0) > 1]
    bad = [c for c in not_good(dataset, FAN_OUT, placement) if c.unsupported is None]
    if not good and not bad:
        return [not_measured(["FanOut with more than one consumer"])]
    lines = []
    if good:
        lost = sum((c.get("lost") or 0) + (c.get("reordered") or 0) for c in good)
        transports = unique(c.subject for c in good)
        most = max(n_of(pattern, c) for c in good)
        verdict = "holds" if lost == 0 else "does not hold"
        lines.append(f"**{verdict}**: one producer delivered every message to each of up to "
                     f"{most} consumers over {len(transports)} transports "
                     f"({', '.join(transports)}), every copy checked: lost or reordered "
                     f"{fmt_count(lost)}, corrupt 0")
    for c in bad:
        lines.append(f"errored, not counted: {problem_text(c)}")
    labels = unique(c.label for c in good if c.label)
    if labels:
        lines.append("how the transports broadcast (the rows' labels): " + " / ".join(labels))
    growth = []
    for t in dataset.all_transports:
        ends = scaling_ends(dataset, pattern, placement, t)
        if ends is None:
            continue
        a, b = ends
        ratio = b.get("delivery_p50_ns") / a.get("delivery_p50_ns")
        growth.append((t, a, b, growth_word(ratio)))
    if growth:
        lines.append("one-way delivery to the last consumer, p50, from the smallest to the "
                     "largest N: " + "; ".join(
                         f"{t} {change('delivery_p50_ns', x, y, fmt_us)} "
                         f"(N = {n_of(pattern, x)} -> {n_of(pattern, y)})"
                         for t, x, y, _ in growth))
        grows = [t for t, _, _, word in growth if word == "grows"]
        lines.append(f"measured: delivery to the last consumer grows by more than "
                     f"{SAME_SPEED_TOLERANCE:.0%} with N for {len(grows)} of {len(growth)} "
                     f"transports" + (f" ({', '.join(grows)})" if grows else "")
                     + "; the others: " + (", ".join(f"{t} {w}" for t, _, _, w in growth
                                                     if w != "grows") or "none"))
    return lines


def claim_pairs(dataset, placement):
    """No lecture claim: the measured facts of N pairs sharing the machine."""
    cpus = next((r.context.get("num_cpus") for r in dataset.runs
                 if any(c.placement == placement for c in r.cases)), None)
    pattern = PATTERNS[PAIRS]
    ns = sorted({n_of(pattern, c) for c in dataset.pattern(PAIRS, placement)
                 if isinstance(n_of(pattern, c), int)})
    if not ns:
        return [not_measured(["Pairs"])]
    return [f"the lecture states no claim about pairs sharing a machine; measured: N = "
            f"{', '.join(str(n) for n in ns)} pairs on {fmt_count(cpus) if cpus else 'n/a'} "
            "CPUs (context num_cpus); the table above gives each transport's aggregate rate and "
            "worst pair p99 as N grows"]


PATTERN_CLAIMS = {
    FAN_IN: ("A server keeps one master (listening) socket and one data socket per client, and "
             "serves its clients in a loop (001, 003)", claim_server),
    FAN_OUT: ("A mailbox can broadcast to several processes (002)", claim_mailbox),
    PAIRS: ("Many pairs at once (no claim in the lecture)", claim_pairs),
}


def cpus_note(dataset, pattern):
    """Where the pattern's processes ran, and whether two groups repeated one configuration."""
    cases = [c for c in dataset.cases if c.kind == pattern.kind and c.good]
    if not any(c.cpus for c in cases):
        return (f"The {pattern.kind} rows do not record their CPUs; the pattern pins its "
                "processes itself, so a group's placement is that of the file it came from, "
                "not necessarily of these processes.")
    text = ("The pattern pins its processes itself (CPUs column: from the context's "
            "ipcbench_placement/<case> or the row's label); a group is the rows of one file, "
            "named by that file's placement, which applies to its RoundTrip and Stream rows.")
    groups = unique(c.placement for c in cases)
    if len(groups) > 1:
        by_case = {}
        for c in cases:
            by_case.setdefault((c.subject, n_of(pattern, c)), {})[c.placement] = c.cpus
        shared = [where for where in by_case.values() if len(where) > 1]
        if shared and all(len(set(where.values())) == 1 for where in shared):
            titles = ", ".join(placement_title(g) for g in groups)
            text += (f" In this input every {pattern.kind} case present in several groups ran "
                     f"on the same CPUs in each: the groups ({titles}) are repeated "
                     "measurements of one configuration, not different placements.")
    return text


def pattern_section(dataset, pattern):
    """Markdown lines for one pattern: what it measures, its tables, the lecture's claim."""
    out = [f"### {pattern.title} (`{pattern.kind}/<transport>/{pattern.n_key}:<n>`)", "",
           pattern.about, ""]
    groups = [p for p in dataset.pattern_placements
              if any(c.kind == pattern.kind and c.placement == p for c in dataset.cases)]
    if not groups:
        return out + [f"Not measured in this input (no {pattern.kind} rows).", ""]
    out += [cpus_note(dataset, pattern), ""]
    title, claim = PATTERN_CLAIMS[pattern.kind]
    for p in groups:
        out += [f"#### {group_title(dataset, pattern.kind, p)}", "",
                pattern_table(dataset, pattern, p), ""]
        absent = not_good(dataset, pattern.kind, p)
        if absent:
            out += ["Not plotted (listed at the end): "
                    + ", ".join(f"`{c.name}`" for c in absent), ""]
        scaling = scaling_table(dataset, pattern, p)
        if scaling:
            out += ["From the smallest to the largest N (ratio = largest / smallest):", "",
                    scaling, ""]
        out += [f"{title}:", ""] + [f"- {line}" for line in claim(dataset, p)] + [""]
    return out


def problems_section(dataset):
    """Errored, unsupported and corrupt cases, and rows of kinds this report does not show."""
    rows = []
    for c in dataset.cases:
        if c.error is not None:
            rows.append([c.name, placement_title(c.placement), "errored", c.error])
        elif c.unsupported is not None:
            rows.append([c.name, placement_title(c.placement), "unsupported", c.unsupported])
        elif c.corrupt:
            rows.append([c.name, placement_title(c.placement), "corrupt data",
                         f"{fmt_count(c.get('corrupt'))} corrupt messages ({c.label})"])
        elif c.failed_clients:
            rows.append([c.name, placement_title(c.placement), "failed clients",
                         f"{fmt_count(c.get('failed_clients'))} clients did not finish"])
    out = ["## Errored, unsupported and corrupt cases (not plotted)", ""]
    out.append(md_table(["Case", "Placement", "Status", "Reason"], rows) if rows
               else "None: every case ran and delivered intact data.")
    ignored = [(os.path.basename(r.path), name) for r in dataset.runs for name in r.ignored]
    if ignored:
        kinds = unique(name.split("/")[0] for _, name in ignored)
        out += ["", f"Rows of kinds this report does not show yet ({', '.join(kinds)}): "
                f"{len(ignored)} rows, left out."]
    return out


def write_report(dataset, out_dir):
    """Writes REPORT.md; returns its path."""
    lines = ["# ipcbench report", "",
             "Generated by plots/report.py from: "
             + ", ".join(f"`{r.path}`" for r in dataset.runs)
             + ". Every number below comes from these files.", "",
             "Units: RTT is the full round trip (A sends, B replies, A receives), never halved; "
             "one-way latency comes from the sender's CLOCK_MONOTONIC time stamp; MB/s means "
             "10^6 bytes/s; p50/p99 are percentiles over every timed message.", "",
             "## Machine", ""]
    lines += machine_section(dataset.runs)
    lines += ["", "## Pictures", ""]
    for name, caption in PICTURES:
        lines += [f"![{name}]({name})", "", f"*{name}*: {caption}", ""]
    for name, caption, why in optional_pictures(dataset):
        if why is None:
            lines += [f"![{name}]({name})", "", f"*{name}*: {caption}", ""]
        else:
            lines += [f"*{name}*: not produced: {why}.", ""]
    lines += ["## The lecture's table, measured", ""]
    lines += rules_section()
    for p in dataset.placements:
        lines += ["", f"### Placement: {placement_title(p)}", "", lecture_table(dataset, p)]
    lines += ["", "## The lecture's other claims", ""]
    for title, claim, wants_context in CLAIMS:
        lines += [f"### {title}", ""]
        for p in dataset.placements:
            context = next((r.context for r in dataset.runs
                            if any(c.placement == p for c in r.cases)), {})
            evidence = claim(dataset, p, context) if wants_context else claim(dataset, p)
            lines.append(f"- {placement_title(p)}:")
            lines += [f"  - {e}" for e in evidence]
        lines.append("")
    hardware = [(p, hardware_section(dataset, p)) for p in dataset.placements]
    lines += ["## Distance to the hardware", ""]
    if any(h for _, h in hardware):
        for p, h in hardware:
            lines += [f"### Placement: {placement_title(p)}", ""]
            lines += h or ["Not measured at this placement (no Limit rows)."]
            lines.append("")
    else:
        lines += ["Not measured in this input (no Limit/* rows).", ""]
    lines += ["## CPU placement", ""] + placement_section(dataset) + [""]
    lines += ["## Many processes at once", "",
              "Rates are messages per second of all processes together (FanIn and Pairs: round "
              "trips/s; FanOut: deliveries/s, one per consumer per message); RTT is the full "
              "round trip; FanOut's delivery is one-way to the last consumer.", ""]
    for pattern in PATTERN_LIST:
        lines += pattern_section(dataset, pattern)
    lines += ["## Every measured case", ""]
    for p in dataset.placements:
        lines += [f"### Placement: {placement_title(p)}", ""]
        lines += all_cases_section(dataset, p)
    lines += problems_section(dataset)
    path = os.path.join(out_dir, "REPORT.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Comparing two runs

# What is compared per kind: round trips by their percentiles, streams by their throughput.
COMPARED = {ROUND_TRIP: (("p50_ns", "RTT p50", fmt_us), ("p99_ns", "RTT p99", fmt_us)),
            STREAM: (("bytes_per_second", "throughput", fmt_mbps),)}


def write_compare(a, b, out_dir):
    """Writes COMPARE.md: B/A ratios of p50, p99 and throughput for every case in both runs."""
    def keyed(run):
        return {c.key()[:3]: c for c in run.cases if c.kind in (ROUND_TRIP, STREAM)}

    cases_a, cases_b = keyed(a), keyed(b)
    rows, only = [], []
    for key, ca in cases_a.items():
        cb = cases_b.get(key)
        if cb is None:
            only.append([ca.name, os.path.basename(a.path)])
            continue
        if not (ca.good and cb.good):
            why = ca.error or ca.unsupported or cb.error or cb.unsupported or "corrupt data"
            rows.append([ca.name, "not compared: " + why, "", "", ""])
            continue
        for counter, label, fmt in COMPARED[ca.kind]:
            if ca.get(counter) is not None and cb.get(counter) is not None:
                rows.append([ca.name, label, fmt(ca.get(counter)), fmt(cb.get(counter)),
                             fmt_ratio(cb.get(counter), ca.get(counter))])
    only += [[cb.name, os.path.basename(b.path)] for key, cb in cases_b.items()
             if key not in cases_a]
    lines = ["# ipcbench: two runs compared", "",
             f"A = `{a.path}`, B = `{b.path}`. Ratio = B/A: above 1 means B took longer "
             "(RTT) or moved more data (throughput).", "", "## Machines", ""]
    lines += machine_section([a, b])
    lines += ["", "## Cases in both runs", "",
              md_table(["Case", "Measure", "A", "B", "B/A"], rows), ""]
    if only:
        lines += ["## Cases in one run only", "", md_table(["Case", "Only in"], only), ""]
    path = os.path.join(out_dir, "COMPARE.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Command line

def parse_args(argv):
    """The command line; argparse exits with status 2 on a usage error."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Turn ipcbench JSON results into pictures and REPORT.md, or "
        "compare two runs (--compare A.json B.json).")
    parser.add_argument("--out", required=True, help="folder to write the report into")
    parser.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                        help="write COMPARE.md with B/A ratios per case instead of a report")
    parser.add_argument("files", nargs="*", metavar="FILE.json",
                        help="ipcbench JSON files (e.g. a same-CPU and a different-CPUs run)")
    args = parser.parse_args(argv)
    if args.compare and args.files:
        parser.error("give either --compare A.json B.json or FILE.json ..., not both")
    if not args.compare and not args.files:
        parser.error("no input: give at least one FILE.json")
    return args


def main(argv=None):
    """Runs the program; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.compare:
            a, b = (load_run(p) for p in args.compare)
            make_dir(args.out)
            written = [write_compare(a, b, args.out)]
        else:
            dataset = load_dataset(args.files)
            make_dir(args.out)
            written = write_pictures(dataset, args.out) + [write_report(dataset, args.out)]
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        print(f"{PROG}: error: cannot write to {args.out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in written:
        print(path)
    return 0


def make_dir(path):
    """Creates the output folder; InputError naming it when that fails."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise InputError(f"{path}: cannot create the output folder: {e.strerror or e}") from None


if __name__ == "__main__":
    sys.exit(main())
