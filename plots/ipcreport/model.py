"""The data model of a report: constants, the lecture's table (the lecture's words, as data), the
transports as the input describes them, cases (one per benchmark, every repetition kept), runs
(one per input file) and the Dataset that answers the pictures' and verdicts' queries.

Nothing here lists transport ids: which transports exist, their family, the lecture row they
belong to and whether it is the mechanism the lecture means all come from the input's context key
ipcbench_transports (see load.py).
"""

import re
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
# Latency under a fixed offered load (issue 15): Load/<id>/rate:<r>/bytes:<n>.
LOAD = "Load"
REPORTED_KINDS = PLOTTED_KINDS + PATTERN_KINDS + (LOAD,)

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
                   PAIRS: ("items_per_second", "p50_ns", "p99_ns"),
                   LOAD: ("offered_per_second", "achieved_per_second", "p50_ns", "p99_ns",
                          "uncorrected_p99_ns")}
# Kinds whose required fields are times or rates that a measured case makes positive.
POSITIVE_KINDS = (ROUND_TRIP,) + PATTERN_KINDS

# Percentile counters of a round trip and the fraction of round trips slower than each.
PERCENTILE_TAILS = (("p50_ns", 0.5), ("p90_ns", 0.1), ("p99_ns", 0.01), ("p999_ns", 0.001))


# One machine word: the most a realtime signal's sigval carries. A mechanism whose largest
# message is no bigger carries "very small" data in the lecture's sense.
WORD_BYTES = 8

MB = 1e6  # throughput is reported in MB/s = 10^6 bytes/s
NS_PER_US = 1e3
TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


# The lecture's speed comparison table (../shared/LECTURE.md), row for row: the mechanism (the
# value of lecture_row in ipcbench_transports) and the lecture's words for its speed and data
# volume. The words are the lecture's text; which transports implement a row comes from the input.
LECTURE_TABLE = (
    ("Signal", "fast", "very small"),
    ("Pipe", "fast", "small"),
    ("FIFO queue", "medium", "small"),
    ("Shared memory", "fast", "large"),
    ("Semaphore", "fast", "small"),
    ("Socket", "slow", "large"),
)
SPEED_WORDS = ("fast", "medium", "slow")
VOLUME_WORDS = ("very small", "small", "large")

PLACEMENT_NAMES = {"same_cpu": "same CPU", "different_cpus": "different CPUs",
                   "smt_sibling": "SMT siblings", "same_llc": "same last-level cache",
                   "different_llc": "different last-level caches",
                   "different_socket": "different sockets", "per_case": "CPUs chosen per case",
                   "between_hosts": "between hosts"}
UNKNOWN_PLACEMENT = "unknown"
# Two hosts (`ipcbench --peer=ADDR:PORT`, the consumer on the `--serve` host): a file whose
# context has PEER_KEY is a peer run; its cases get this placement and are kept apart from the
# local runs' (Dataset.peer), shown only in the "Between hosts" section and its claim.
PEER_KEY = "ipcbench_peer_address"
BETWEEN_HOSTS = "between_hosts"
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
    ("latency_cdf.png", "Round-trip (RTT) distribution at one size: the cumulative fraction "
     "of round trips at or below x, log x axis in µs, drawn from every round trip's histogram "
     "bucket merged over the repetitions (or, for a file without ipcbench's histogram side "
     "file, from the reported percentiles only, and the picture says so)."),
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
KILO = 1e3  # pattern rates are drawn in 10^3 messages/s

PLACEMENT_PICTURE = "placement.png"

# Load: a rate is sustained when the replies came at least this fraction as fast as the messages
# were offered, with at most LOAD_MAX_LOSS of them lost (ipcbench's own `sustained` counter uses
# the same two numbers); the report's table asks for a corrected p99 under LOAD_P99_BOUND_NS too.
LOAD_SUSTAINED_FRACTION = 0.98
LOAD_MAX_LOSS = 0.001
LOAD_P99_BOUND_NS = 1_000_000


def load_picture(transport):
    """The name of a transport's latency-against-offered-load picture."""
    return f"load_{transport}.png"


def load_sustained(case):
    """True when a Load case's replies kept up with its offered rate (medians over the
    repetitions): achieved >= LOAD_SUSTAINED_FRACTION x offered and at most LOAD_MAX_LOSS lost."""
    offered, achieved = case.get("offered_per_second"), case.get("achieved_per_second")
    if not offered or achieved is None:
        return False
    sent = case.get("sent") or 0
    lost = case.get("lost") or 0
    return (achieved >= LOAD_SUSTAINED_FRACTION * offered
            and lost <= LOAD_MAX_LOSS * max(sent, 1))


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
    counters: dict = field(default_factory=dict)  # the median of each field over repetitions
    reps: list = field(default_factory=list)  # every repetition's numeric fields, in file order
    error: str = None  # error_message of an errored case
    unsupported: str = None  # the reason of a case ipcbench did not run
    label: str = ""
    time_unit: str = "ns"  # the unit of real_time and cpu_time in counters
    cpus: str = None  # where a pattern's processes ran, when the file records it
    histograms: dict = field(default_factory=dict)  # metric -> stats.Histogram, merged over reps

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

    def values(self, key):
        """The per-repetition values of a counter (repetitions that carry it)."""
        return [r[key] for r in self.reps if key in r]

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
    transports: list = field(default_factory=list)  # TransportInfo, registry order
    histogram_file: str = None  # the side file read, or None (older runs: per-row counters)
    peer_address: str = None  # the --serve host of a two-host run (context PEER_KEY), or None

    @property
    def is_peer(self):
        """True for a two-host run (`ipcbench --peer=ADDR:PORT`)."""
        return self.peer_address is not None


@dataclass(frozen=True)
class TransportInfo:
    """One transport as ipcbench describes it in the context key ipcbench_transports."""

    id: str
    family: str
    lecture_row: str  # a LECTURE_TABLE mechanism, or "" for none
    lecture_means: bool  # the mechanism the lecture means by its row (a variant otherwise)
    description: str
    payload: str  # "bytes", "word" or "nothing"
    max_message_bytes: object  # int or None (no limit)
    in_process: bool
    may_lose: bool
    may_coalesce: bool
    busy_polls: bool
    waits_by: str
    forms: dict  # form -> {"supported": bool, "design" or "reason": str}
    unavailable: str = ""  # why this machine cannot run it at all ("" when it can, or older files)

    @property
    def carries_bytes(self):
        """True when the transport carries a byte payload (not a bare notification or a word)."""
        return self.payload == "bytes"

    def form(self, name):
        """The description of one form (pair, fan_in, fan_out, pairs), {} when absent."""
        value = self.forms.get(name) if isinstance(self.forms, dict) else None
        return value if isinstance(value, dict) else {}


class Dataset:
    """The cases of all input files, with the queries the pictures and the report need.

    A two-host run (Run.is_peer) is kept apart: `runs`, `cases` and every query below are the
    local runs' only; the peer run is `peer`, a Dataset of its own (None without one), which
    only the "Between hosts" section and its claim read."""

    def __init__(self, runs):
        peers = [r for r in runs if r.is_peer]
        if len(peers) > 1:
            raise InputError(f"{peers[1].path}: a second two-host run (context '{PEER_KEY}'), "
                             f"after {peers[0].path}: give one peer run")
        self.runs = [r for r in runs if not r.is_peer]
        if peers and not self.runs:
            raise InputError(f"{peers[0].path}: a two-host run (context '{PEER_KEY}' = "
                             f"'{peers[0].peer_address}') is reported beside this host's own "
                             "runs, and none was given: give the local runs too (e.g. "
                             "different_cpus.json same_cpu.json peer.json, as "
                             "scripts/run-suite.sh --peer=ADDR:PORT passes them)")
        self.peer = Dataset._of(peers) if peers else None
        self.input_runs = list(runs)  # every input file, local and peer, in command-line order
        self._collect()

    @classmethod
    def _of(cls, runs):
        """A Dataset of exactly these runs (the peer side: not split again)."""
        dataset = cls.__new__(cls)
        dataset.peer = None
        dataset.runs = list(runs)
        dataset.input_runs = list(runs)
        dataset._collect()
        return dataset

    def _collect(self):
        """Gathers the cases, transports and placements of self.runs."""
        runs = self.runs
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
        # The transports as the input describes them (registry order; the first file that
        # describes one wins: every file of one build describes the same registry).
        self.info = {}
        for run in runs:
            for t in run.transports:
                self.info.setdefault(t.id, t)
        # Registry order, then (should a row name a transport the registry omits) appearance.
        measured = unique(c.subject for c in self.cases if c.kind in (ROUND_TRIP, STREAM))
        self.transports = ([t for t in self.info if t in measured]
                           + [t for t in measured if t not in self.info])
        # Every transport of any reported kind, those above first (one colour each everywhere).
        # Registry order again: with --benchmark_enable_random_interleaving the rows of a file
        # come in the order they ran, which is random.
        patterned = unique(c.subject for c in self.cases if c.kind in PATTERN_KINDS + (LOAD,))
        self.all_transports = unique(self.transports + [t for t in self.info if t in patterned]
                                     + patterned)
        # The placements of the pair cases (the lecture's table, the four pictures); a file of
        # pattern rows only still gets its own.
        self.placements = (unique(c.placement for c in self.cases if c.kind in PLOTTED_KINDS)
                           or unique(c.placement for c in self.cases))
        # The groups of pattern rows: the placement of the file each came from.
        self.pattern_placements = unique(c.placement for c in self.cases
                                         if c.kind in PATTERN_KINDS)
        # The placements of the Load rows (a run of --placement= names each case's).
        self.load_placements = unique(c.placement for c in self.cases if c.kind == LOAD)

    def lecture_row(self, mechanism):
        """The TransportInfo of every transport whose lecture_row is `mechanism`, registry order."""
        return [t for t in self.info.values() if t.lecture_row == mechanism]

    def unlisted(self):
        """Transports with no lecture row, registry order (message queues, the baseline...)."""
        rows = {m for m, _, _ in LECTURE_TABLE}
        return [t for t in self.info.values() if t.lecture_row not in rows]

    def in_process(self, transport):
        """True for an in-process baseline (shown, never ranked among inter-process ones)."""
        info = self.info.get(transport)
        return bool(info and info.in_process)

    def carries_bytes(self, transport):
        """True when the transport carries a byte payload (unknown transports: judged by rows)."""
        info = self.info.get(transport)
        return info.carries_bytes if info else True

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

    def one_cpu(self, placement):
        """True when the two ends of this placement's pair cases shared one CPU: the placement
        same_cpu, a Limit/yield_pingpong row (ipcbench's one-CPU probe, in place of the
        cache-line floor), or a file whose ipcbench_cpus names one CPU for both ends."""
        if placement == "same_cpu" or self.limit(placement, "yield_pingpong") is not None:
            return True
        for run in self.runs:
            if not any(c.placement == placement for c in run.cases):
                continue
            found = re.search(r"producer=cpu(\d+) consumer=cpu(\d+)",
                              str(run.context.get("ipcbench_cpus", "")))
            if found and found.group(1) == found.group(2):
                return True
        return False

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

    def load(self, placement, transport, good=True):
        """The Load cases of one transport at one placement, lowest offered rate first."""
        out = [c for c in self.cases if c.kind == LOAD and c.placement == placement
               and c.subject == transport and (c.good or not good)]
        return sorted(out, key=lambda c: (not isinstance(c.params.get("rate"), int),
                                          c.params.get("rate") or 0))

    def load_transports(self):
        """The transports with a good Load case, registry order (then order of appearance)."""
        found = [t for t in self.all_transports
                 if any(self.load(p, t) for p in self.load_placements)]
        return [t for t in self.info if t in found] + [t for t in found if t not in self.info]

    def highest_sustained(self, placement, transport, bound_ns=LOAD_P99_BOUND_NS):
        """The good Load case with the highest offered rate that was sustained with a corrected
        p99 at most `bound_ns`, or None."""
        ok = [c for c in self.load(placement, transport)
              if load_sustained(c) and c.get("p99_ns") is not None and c.get("p99_ns") <= bound_ns]
        return ok[-1] if ok else None

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


def cpu_shared(case):
    """A pattern case's cpu_shared counter: 1 when two of its processes were pinned to one CPU,
    0 when each had its own, None for a row from before ipcbench wrote it."""
    value = case.get("cpu_shared")
    return None if value is None else int(round(value))


def sharing_segments(cases):
    """`cases` (smallest N first) cut wherever cpu_shared changes: a scaling line, ratio or
    verdict never spans such a change, since sharing a CPU changes what is measured. Rows
    without the counter all fall in one segment."""
    segments = []
    for case in cases:
        if segments and cpu_shared(segments[-1][-1]) == cpu_shared(case):
            segments[-1].append(case)
        else:
            segments.append([case])
    return segments


def sharing_words(case):
    """What a segment's sharing is called where it starts."""
    return {1: "shares CPUs", 0: "every process on its own CPU"}.get(cpu_shared(case),
                                                                     "sharing not recorded")


def unique(items):
    """The items in order of first appearance, without repeats."""
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out

