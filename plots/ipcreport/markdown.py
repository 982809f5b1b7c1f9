"""REPORT.md and verdicts.json: every section is made here, from the dataset and the verdicts
(data) of verdicts.py; nothing here decides a verdict."""

import json
import os
import statistics

from . import stats
from .beyond import beyond_section
from .hosts import hosts_section
from .model import (FAN_IN, FAN_OUT, LECTURE_TABLE, LIMIT, LOAD, LOAD_MAX_LOSS,
                    LOAD_P99_BOUND_NS, LOAD_SUSTAINED_FRACTION, NS_PER_US, PAIRS, PATTERN_LIST,
                    PATTERNS, PICTURES, ROUND_TRIP, STREAM, TIME_UNIT_NS, cpu_shared,
                    load_sustained, sharing_segments, sharing_words, unique)
from .fmt import (FORMATS, fmt_bytes, fmt_count, fmt_mbps, fmt_rate, fmt_ratio,
                  fmt_sig, fmt_us, md_table, placement_title)
from .pictures import optional_pictures, group_title
from .verdicts import (STATUS_WORDS, PATTERN_CLAIMS, claim_inet_between_hosts,
                       other_claims, table_verdicts, verdicts_json, SPEED_RULE, VOLUME_RULE)


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



def limit_ns(case):
    """A Limit row's time in ns: its p50 counter, else its real time per iteration."""
    ns = case.get("p50_ns")
    if ns is None and case.get("real_time") is not None:
        ns = case.get("real_time") * TIME_UNIT_NS.get(case.time_unit, 1.0)
    return ns


def burst_ratio(small, ratio_key, floor_key):
    """A round trip's burst over a bounce floor measured next to it, "<ratio>x (<burst> /
    <floor>)", from the row's own counters, or "n/a" when it lacks them."""
    ratio = small.get(ratio_key)
    if ratio is None or not small.get("rtt_burst_ns") or not small.get(floor_key):
        return "n/a"
    return (f"{fmt_sig(ratio)}x ({fmt_us(small.get('rtt_burst_ns'))} / "
            f"{fmt_us(small.get(floor_key))})")


def floor_when(whens):
    """When the cache-line floors of a placement's ratios were measured: "between" (bounced by the
    case's own two processes between its burst samples, counter floor_between_bursts) or "after"
    (by two processes forked right after the case: files from an ipcbench before that counter)."""
    between = ("the line bounced by the case's own producer and consumer between its burst "
               "samples (counter floor_between_bursts), so that both are measured in the same "
               "milliseconds")
    after = "the line bounced right after that case"
    if all(w == "between" for w in whens):
        return between
    if all(w == "after" for w in whens):
        return after
    return f"{between}, or, for rows without that counter, {after}"


def distance_to_line(small):
    """The "x cache-line RTT" cell of a round trip: rtt_x_cacheline (rtt_burst_ns / cacheline_ns,
    both timed K back-to-back per pair of clock reads), or "n/a" when the row has no such counter
    (one CPU, a size over 1024 B, a transport that may lose, or a file from an older ipcbench)."""
    return burst_ratio(small, "rtt_x_cacheline", "cacheline_ns")


def distance_to_two_lines(small):
    """The "x two-line RTT" cell of a round trip: rtt_x_two_line (rtt_burst_ns / two_line_ns, the
    bounce of two lines each written by one side, timed alike), or "n/a" when the row has no such
    counter (as for distance_to_line, or a file from an ipcbench before the two-line floor)."""
    return burst_ratio(small, "rtt_x_two_line", "two_line_ns")


def distance_to_copy(peak):
    """The "fraction of the cross-core copy" cell of a peak stream: fraction_of_floor (stream
    bytes/s over the cross-core copy's at that size, measured right after the case on its own
    CPUs), or "n/a" when the row has no such counter (one CPU, or a file from an older
    ipcbench)."""
    fraction = peak.get("fraction_of_floor")
    floor = peak.get("floor_bytes_per_second")
    if fraction is None or not floor:
        return "n/a"
    return f"{fmt_sig(fraction)} (of {fmt_mbps(floor)})"


def hardware_section(dataset, placement):
    """Markdown lines: each transport's round trip in cache-line round trips and its peak stream
    as a fraction of the cross-core copy at the same size (both two CPUs only: on one CPU no line
    crosses between two cores), and as a fraction of memcpy at the same size; [] when this
    placement has no Limit rows, no ratio counters and two CPUs."""
    one_cpu = dataset.one_cpu(placement)
    # On one CPU nothing crosses between two caches: a Limit/cacheline_rtt row there (an older
    # ipcbench measured one) is not a floor and is not shown as one.
    line = None if one_cpu else dataset.limit(placement, "cacheline")
    two_line = None if one_cpu else dataset.limit(placement, "two_line")
    pingpong = dataset.limit(placement, "yield_pingpong")
    syscall = dataset.limit(placement, "syscall")
    rows, ks, above = [], [], []  # above: transports whose stream exceeds its floor
    whens = []  # per ratio: its floor bounced between the case's bursts, or right after the case
    for t in dataset.transports:
        small = dataset.small_rtt(placement, t)
        peak = dataset.peak_stream(placement, t)
        if small is None and peak is None:
            continue
        x_line = x_two = fraction = memcpy_text = x_copy = "n/a"
        if small is not None and not one_cpu:
            x_line = distance_to_line(small)
            x_two = distance_to_two_lines(small)
            if x_line != "n/a":
                k = small.get("floor_bounces_per_sample")
                ks.append(str(round(k)) if k else "not recorded")
                whens.append("between" if small.get("floor_between_bursts") else "after")
        if peak is not None and not one_cpu:
            x_copy = distance_to_copy(peak)
            if x_copy != "n/a" and peak.get("fraction_of_floor") > 1:
                above.append(t)
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
        rows.append([t, fmt_us(small.get("p50_ns")) if small else "n/a", x_line, x_two,
                     stream_text, x_copy, memcpy_text, fraction])
    has_ratio = any(r[2] != "n/a" or r[3] != "n/a" or r[5] != "n/a" or r[7] != "n/a"
                    for r in rows)
    if line is None and syscall is None and pingpong is None and not has_ratio and not one_cpu:
        return []
    out = []
    if one_cpu:
        out.append("- Both ends ran on one CPU: there is no cache-line floor on one CPU (no cache "
                   "line crosses between two CPUs' caches), so no round trip is given in "
                   "cache-line round trips here.")
        if pingpong is not None:
            out.append(f"- sched_yield ping-pong on that CPU (Limit/{pingpong.subject}): round "
                       f"trip p50 {fmt_us(limit_ns(pingpong))}, the cost of handing the CPU from "
                       "one process to the other and back; a reference, not a floor")
        same_copies = [c for c in dataset.select(LIMIT, placement)
                       if c.subject.startswith("same_cpu_copy")]
        if same_copies:
            out.append("- a ring written and read by two processes taking turns on that CPU "
                       "(Limit/same_cpu_copy): "
                       + ", ".join(f"{fmt_bytes(c.bytes)} {fmt_mbps(c.get('bytes_per_second'))}"
                                   for c in same_copies)
                       + "; a reference, not a cross-core floor, and no stream is given as a "
                       "fraction of it")
    if line is not None:
        out.append(f"- cache line bounced between the two CPUs (Limit/{line.subject}): round trip "
                   f"p50 {fmt_us(limit_ns(line))} at the start of the run")
    if ks:
        k_text = ", ".join(unique(ks))
        out.append("- x cache-line RTT = rtt_burst_ns / cacheline_ns (counter rtt_x_cacheline): "
                   "the transport's round trip and the cache-line round trip, both timed the "
                   f"same way, K back-to-back round trips per pair of clock reads (K = {k_text}, "
                   "counter floor_bounces_per_sample), on the same CPUs, "
                   + floor_when(whens) + "; "
                   "the per-message p50 is not used, because its pair of clock reads costs about "
                   "as much as one bounce. Only at sizes up to 1024 B and for transports that "
                   "cannot lose; n/a otherwise.")
    copies = [] if one_cpu else [c for c in dataset.select(LIMIT, placement)
                                 if c.subject.startswith("cross_core_copy")]
    if copies:
        out.append("- cross-core copy (Limit/cross_core_copy), n-byte messages streamed from one "
                   "CPU to the other through a ring in shared memory, the writer filling one slot "
                   "while the reader reads and checks every byte of the ones before: " + ", ".join(
                       f"{fmt_bytes(c.bytes)} {fmt_mbps(c.get('bytes_per_second'))}"
                       for c in copies) + " at the start of the run")
    if two_line is not None:
        out.append(f"- two lines bounced between the two CPUs, each written by one side and read "
                   f"by the other (Limit/{two_line.subject}): round trip p50 "
                   f"{fmt_us(limit_ns(two_line))} at the start of the run")
    if any(r[3] != "n/a" for r in rows):
        out.append("- x two-line RTT = rtt_burst_ns / two_line_ns (counter rtt_x_two_line), timed "
                   "like the cache-line ratio. A transport with one channel per direction writes "
                   "its message into a line the reader has been watching and the reply into "
                   "another, as the two-line bounce does: that is the least such a round trip "
                   "can cost. The one-line bounce is lower because each side writes the line it "
                   "has just read; no pair of one-way channels can do that, so it is the "
                   "hardware's absolute floor, not a pair of channels'.")
    if any(r[5] != "n/a" for r in rows):
        out.append("- Fraction of the cross-core copy = stream bytes/s / floor_bytes_per_second "
                   "(counter fraction_of_floor): the cross-core copy at the stream's size, "
                   "measured on the same CPUs right after that case. Its writer and reader "
                   "overlap and it moves nothing that a stream of n-byte messages would not also "
                   "move (no header, no index per message, no second copy), so it is an upper "
                   "bound for such a stream. memcpy copies within one core's cache: a reference, "
                   "not a floor for a stream between two cores.")
        if above:
            out.append("- Above the cross-core copy: " + ", ".join(above) + ". A stream cannot "
                       "move its bytes faster than that copy, so the copy measured next to it was "
                       "slowed (a busy host, or an interruption): rerun before reading these rows.")
    if syscall is not None:
        out.append(f"- trivial system call (Limit/{syscall.subject}): {fmt_us(limit_ns(syscall))}")
    memcpys = [c for c in dataset.select(LIMIT, placement) if c.subject.startswith("memcpy")]
    if memcpys:
        out.append("- memcpy, one thread: " + ", ".join(
            f"{fmt_bytes(c.bytes)} {fmt_mbps(c.get('bytes_per_second'))}" for c in memcpys))
    out.append("")
    if rows:
        out.append(md_table(["Transport", "RTT p50 (smallest size)",
                             "x cache-line RTT (burst / floor)",
                             "x two-line RTT (burst / floor)", "Peak stream (size)",
                             "Fraction of the cross-core copy", "memcpy at that size",
                             "Fraction of memcpy"], rows))
    return out



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


def method_section():
    """How the verdicts are decided, for a student (the constants are stats.py's)."""
    return [
        "Every verdict is one of three: **holds**, **does not hold** or **inconclusive**, with "
        "its evidence. They are also written, as data, to `verdicts.json` beside this file.",
        "",
        "- **Repetitions.** ipcbench runs every case several times, interleaved with the other "
        "cases (`--benchmark_repetitions`, `--benchmark_enable_random_interleaving`), and "
        "keeps every repetition. A case's figure is the median over its repetitions; a "
        "verdict compares the repetitions themselves (a round trip's p50 in each, a stream's "
        f"bytes/s in each). With fewer than {stats.MIN_REPETITIONS} repetitions of a case "
        "nothing is compared and the verdict is inconclusive, saying so.",
        f"- **Different, or tied.** Two cases differ only when both: (1) a two-sided "
        f"Mann-Whitney U test over their repetitions gives p < {stats.ALPHA} (it asks whether "
        "one case's repetitions tend to be lower than the other's, without assuming a bell "
        "curve), and (2) the ratio of their medians is at least the **noise threshold**: the "
        f"largest of {stats.MIN_EFFECT:g}x and each case's own spread, the upper quartile of "
        "its repetitions divided by the lower quartile. The floor of "
        f"{stats.MIN_EFFECT:g}x is there because on a shared virtual machine one case moved "
        "1.5-2x between runs (METHOD.md): a smaller difference would not survive a second run. "
        "Otherwise the two are **tied**, and a claim that depends on the tie is inconclusive.",
        "- **Like with like.** Round trips are compared at one message size: the smallest "
        "size of the transports that carry bytes (64 B in the default sweep). A bare "
        "notification (0 B) or a one-word transport is ranked among those, and its evidence "
        "says so (it carries less, which can only favour it). The in-process baseline is "
        "shown, never ranked: it is not inter-process communication.",
        "- **Speed tiers.** The inter-process transports are sorted by median round trip; "
        "a new tier starts wherever two neighbours differ (as above). The number of tiers is "
        "not fixed: a run where every transport is tied has one tier, and then no speed word "
        "can be judged (inconclusive).",
        "- **fast** holds when the transport is " + SPEED_RULE["fast"] + "; **slow** when "
        + SPEED_RULE["slow"] + "; **medium** when " + SPEED_RULE["medium"] + ". A word does "
        "not hold when the transport is significantly on the other side of the same kind of "
        "comparison (for *fast*: outside the fastest tier and significantly slower than its "
        "slowest transport).",
        "- **Data volume** is measured, never taken from what a transport declares: "
        + VOLUME_RULE + ". A verdict holds when the measured word is the lecture's.",
        "- **Each row judges the mechanism the lecture means** (ipcbench's transport list, "
        "`lecture_means`): Shared memory is the SysV segment with its semaphores, not the "
        "lock-free rings; Signal is the standard signal. Variants are judged beside it, each "
        "with its own verdict, and never decide the row. A row with several mechanisms the "
        "lecture means (Socket) holds when all hold and does not hold when one does not.",
        "- Errored, unsupported and corrupt cases are listed at the end and never ranked or "
        "plotted; zero corrupt messages is a check of the harness, not evidence for a claim.",
    ]


def status_md(status):
    """A status in bold words."""
    return f"**{STATUS_WORDS[status]}**"


def verdict_md(verdict):
    """"**holds**: evidence" for one verdict."""
    return f"{status_md(verdict.status)}: {verdict.sentence}"


def lecture_table(dataset, placement, table):
    """The lecture's table for one placement, row for row, with measured cells and verdicts
    (`table` from verdicts.table_verdicts); then every transport of no lecture row."""
    header = ["Mechanism", "Lecture: speed", "Lecture: data volume", "Transports measured",
              "Round trip p50 (RTT, size)", "One-way p50", "Peak stream throughput (size)",
              "Speed verdict", "Data volume verdict"]
    rows = []
    for mechanism, speed, volume in LECTURE_TABLE:
        members = dataset.lecture_row(mechanism)
        present, rtt, oneway, stream = transport_cells(dataset, placement,
                                                       [t.id for t in members])
        verdicts = table[mechanism]

        def cell(kind):
            row = verdicts[kind]
            parts = [verdict_md(row) if not present else status_md(row.status)]
            for v in verdicts["members"]:
                if v.claim.startswith(kind + "/"):
                    tag = "" if v.lecture_means else " (variant)"
                    parts.append(f"{v.subject}{tag}: {verdict_md(v)}")
            return "<br>".join(parts)

        names = [t.id + ("" if t.lecture_means else " (variant)") for t in members
                 if t.id in present]
        rows.append([mechanism, speed, volume, ", ".join(names) or "none", rtt, oneway, stream,
                     cell("speed"), cell("volume")])
    for info in dataset.unlisted():
        present, rtt, oneway, stream = transport_cells(dataset, placement, [info.id])
        if not present:
            continue
        what = "in-process baseline: shown, not ranked" if info.in_process else "no lecture row"
        rows.append([f"{info.id} ({info.family}, {what})", "-", "-", info.id, rtt, oneway,
                     stream, "no claim", "no claim"])
    return md_table(header, rows)


def claims_section(dataset):
    """The lecture's other claims: per claim, per placement, each verdict with its evidence."""
    by_title = {}
    for p in dataset.placements:
        context = next((r.context for r in dataset.runs
                        if any(c.placement == p for c in r.cases)), {})
        for v in other_claims(dataset, p, context):
            by_title.setdefault(v.title, []).append(v)
    out = []
    for title, verdicts in by_title.items():
        out += [f"### {title}", ""]
        for v in verdicts:
            who = v.subject + (" (variant)" if v.lecture_means is False else "")
            out.append(f"- {placement_title(v.placement)}" + (f", {who}" if v.subject else "")
                       + f": {verdict_md(v)}")
        out.append("")
    hosts = claim_inet_between_hosts(dataset)
    out += [f"### {hosts.title}", "",
            f"- {placement_title(hosts.placement)}" + (f", {hosts.subject}" if hosts.subject
                                                       else "") + f": {verdict_md(hosts)}", ""]
    return out


def histogram_note(dataset):
    """Where the percentiles come from: the side files, or (older files) the row counters."""
    with_side = [r for r in dataset.input_runs if r.histogram_file]
    without = [r for r in dataset.input_runs if not r.histogram_file]
    out = []
    if with_side:
        out += ["Percentiles of the files with a histogram side file ("
                + ", ".join(f"`{os.path.basename(r.histogram_file)}`" for r in with_side)
                + ") come from every round trip's log-linear histogram, merged over the "
                "repetitions: the rank of p is ceil(p * n / 100), computed exactly, and the "
                "value shown is the middle of the bucket holding that rank, within the "
                "measured min and max (values below 256 ns are exact; above, a bucket is 1/128 "
                "of its power of two).", ""]
    if without:
        out += ["These files have no histogram side file ("
                + ", ".join(f"`{os.path.basename(r.path)}`" for r in without)
                + "; written by an older ipcbench): their percentiles are the per-row "
                "counters (the median over repetitions), and latency_cdf.png draws them "
                "from those five percentiles, not from the full distribution.", ""]
    return out


def rtt_figures(case):
    """{p50, p90, p99, p999, max, samples} of a round trip: from its merged histogram when the
    side file gave one, else the per-row counters (median over repetitions)."""
    h = case.histograms.get("rtt")
    if h is not None and h.count:
        return {"p50": h.percentile("50"), "p90": h.percentile("90"),
                "p99": h.percentile("99"), "p999": h.percentile("99.9"), "max": h.max,
                "samples": h.count}
    return {"p50": case.get("p50_ns"), "p90": case.get("p90_ns"), "p99": case.get("p99_ns"),
            "p999": case.get("p999_ns"), "max": case.get("max_ns"),
            "samples": sum(case.values("samples")) or case.get("samples")}


def all_cases_section(dataset, placement):
    """Every measured round trip and stream at one placement, with its main counters."""
    rtt_rows = []
    for t in dataset.transports:
        for c in dataset.select(ROUND_TRIP, placement, t):
            f = rtt_figures(c)
            spread = stats.spread(c.values("p50_ns"))
            rtt_rows.append([c.subject, fmt_bytes(c.bytes), fmt_us(f["p50"]), fmt_us(f["p90"]),
                             fmt_us(f["p99"]), fmt_us(f["p999"]), fmt_us(f["max"]),
                             fmt_us(c.get("oneway_p50_ns")), fmt_count(f["samples"]),
                             str(len(c.reps)), "n/a" if spread is None else f"{fmt_sig(spread)}x",
                             fmt_sig(c.get("cpu_ns_per_msg")), fmt_count(c.get("lost"))])
    stream_rows = [[c.subject, fmt_bytes(c.bytes), fmt_mbps(c.get("bytes_per_second")),
                    fmt_sig(c.get("items_per_second")), fmt_count(c.get("sent")),
                    fmt_count(c.get("received")), fmt_count(c.get("lost")),
                    fmt_count(c.get("coalesced")), fmt_sig(c.get("ctx_switches_per_msg"))]
                   for t in dataset.transports for c in dataset.select(STREAM, placement, t)]
    out = []
    if rtt_rows:
        out += ["Round trips (RTT = full round trip; one-way from the sender's time stamp):", "",
                md_table(["Transport", "Size", "p50", "p90", "p99", "p99.9", "max",
                          "one-way p50", "samples", "repetitions", "spread of p50 (Q3/Q1)",
                          "CPU ns/msg", "lost"], rtt_rows), ""]
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


def cpus_cell(case):
    """Where a pattern case ran, and whether its processes shared CPUs (counter cpu_shared)."""
    text = case.cpus or "not recorded"
    if cpu_shared(case) == 1 and "shares CPUs" not in text:
        text += " (shares CPUs)"
    return text


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
                        + [cpus_cell(c)])
    return md_table(header, rows) if rows else "No case ran without error in this group."


def n_cases(dataset, pattern, placement, transport):
    """A transport's good cases of a pattern with a numeric N, smallest N first."""
    return [c for c in dataset.pattern(pattern.kind, placement, transport)
            if isinstance(n_of(pattern, c), int)]


def scaling_spans(dataset, pattern, placement, transport):
    """[(case at the smallest N, case at the largest N)] of each run of a transport's good cases
    with one cpu_shared value (smallest N first) that spans at least two values of N: a ratio
    or a growth word is never taken across a change of cpu_shared."""
    return [(seg[0], seg[-1])
            for seg in sharing_segments(n_cases(dataset, pattern, placement, transport))
            if n_of(pattern, seg[0]) != n_of(pattern, seg[-1])]


def sharing_changes(dataset, pattern, placement, transport):
    """Where cpu_shared changes as N grows ("shares CPUs from N=4"), or "" when it never does."""
    segments = sharing_segments(n_cases(dataset, pattern, placement, transport))
    return "; ".join(f"{sharing_words(seg[0])} from N={n_of(pattern, seg[0])}"
                     for seg in segments[1:])


def span_words(pattern, a, b, changes):
    """"N = 1 -> 2" of a span, with its sharing when the transport's sharing changes."""
    text = f"N = {n_of(pattern, a)} -> {n_of(pattern, b)}"
    return text + (f" ({sharing_words(a)})" if changes else "")


def change(key, a, b, fmt):
    """"x -> y (y/x)" for one counter of two cases."""
    return (f"{fmt(a.get(key))} -> {fmt(b.get(key))} "
            f"({fmt_ratio(b.get(key), a.get(key))})")


def scaling_table(dataset, pattern, placement):
    """Per transport, how the rate and the latencies change from the smallest to the largest N."""
    header = ["Transport", "N", pattern.rate_words, pattern.p50_words, pattern.tail_words]
    rows, notes = [], []
    for t in dataset.all_transports:
        changes = sharing_changes(dataset, pattern, placement, t)
        for a, b in scaling_spans(dataset, pattern, placement, t):
            rows.append([t, f"{n_of(pattern, a)} -> {n_of(pattern, b)} "
                            f"({fmt_ratio(n_of(pattern, b), n_of(pattern, a))})"
                            + (f", {sharing_words(a)}" if changes else ""),
                         change("items_per_second", a, b, fmt_rate),
                         change(pattern.p50_key, a, b, fmt_us),
                         change(pattern.tail_key, a, b, fmt_us)])
        if changes:
            notes.append(f"- {t}: {changes} (counter cpu_shared): no ratio is taken across "
                         "that change, since sharing a CPU changes what is measured")
    if not rows and not notes:
        return None
    return "\n".join(([md_table(header, rows)] if rows else []) + ([""] if rows and notes else [])
                     + notes)


def growth_word(a, b, key):
    """How a latency changed from case a to case b, judged like every comparison
    (stats.compare over their repetitions)."""
    cmp = stats.compare(a.values(key), b.values(key))
    return {stats.LESS: "grows", stats.GREATER: "shrinks", stats.TIED: "tied",
            stats.TOO_FEW: "too few repetitions to tell"}[cmp.outcome]


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


def mailbox_growth(dataset, placement):
    """Lines on how one-way delivery to the last consumer changes with N (no claim)."""
    pattern = PATTERNS[FAN_OUT]
    growth = []
    for t in dataset.all_transports:
        changes = sharing_changes(dataset, pattern, placement, t)
        for x, y in scaling_spans(dataset, pattern, placement, t):
            growth.append((t, x, y, growth_word(x, y, "delivery_p50_ns"), changes))
    if not growth:
        return []
    return ["one-way delivery to the last consumer, p50, from the smallest to the largest N "
            "with the same CPU sharing (compared over repetitions like every verdict): "
            + "; ".join(f"{t} {change('delivery_p50_ns', x, y, fmt_us)} "
                        f"({span_words(pattern, x, y, changes)}: {word})"
                        for t, x, y, word, changes in growth)]


def pairs_facts(dataset, placement):
    """No lecture claim: the measured facts of N pairs sharing the machine."""
    cpus = next((r.context.get("num_cpus") for r in dataset.runs
                 if any(c.placement == placement for c in r.cases)), None)
    pattern = PATTERNS[PAIRS]
    ns = sorted({n_of(pattern, c) for c in dataset.pattern(PAIRS, placement)
                 if isinstance(n_of(pattern, c), int)})
    if not ns:
        return ["not measured in this input (no good Pairs case)"]
    return [f"the lecture states no claim about pairs sharing a machine; measured: N = "
            f"{', '.join(str(n) for n in ns)} pairs on {fmt_count(cpus) if cpus else 'n/a'} "
            "CPUs (context num_cpus); the table above gives each transport's aggregate rate and "
            "worst pair p99 as N grows"]


def pattern_claim_lines(dataset, pattern, placement):
    """(heading, lines) of the lecture's claim on a pattern in one group of rows."""
    if pattern.kind == PAIRS:
        return "Many pairs at once (no claim in the lecture)", pairs_facts(dataset, placement)
    verdicts = PATTERN_CLAIMS[pattern.kind](dataset, placement)
    title = verdicts[0].title if verdicts else pattern.title
    lines = [(f"{v.subject}: " if v.subject else "") + verdict_md(v) for v in verdicts]
    if not verdicts:
        lines = ["**inconclusive**: no transport of the input is a lecture server socket "
                 "(a SOCK_STREAM socket of the Socket row with a fan-in form)"]
    if pattern.kind == FAN_OUT:
        good = [c for c in dataset.pattern(FAN_OUT, placement) if (n_of(pattern, c) or 0) > 1]
        labels = unique(c.label for c in good if c.label)
        if labels:
            lines.append("how the transports broadcast (the rows' labels): " + " / ".join(labels))
        lines += mailbox_growth(dataset, placement)
    if pattern.kind == FAN_IN:
        for t in unique(v.subject for v in verdicts if v.subject):
            changes = sharing_changes(dataset, pattern, placement, t)
            for a, b in scaling_spans(dataset, pattern, placement, t):
                lines.append(f"{t}, serving in one loop, N = {n_of(pattern, a)} -> "
                             f"{n_of(pattern, b)} clients"
                             + (f" ({sharing_words(a)})" if changes else "")
                             + ": each client's round trip p50 "
                             f"{change('p50_ns', a, b, fmt_us)}, worst client p99 "
                             f"{change('worst_client_p99_ns', a, b, fmt_us)}; all clients "
                             f"together {change('items_per_second', a, b, fmt_rate)} for "
                             f"{fmt_ratio(n_of(pattern, b), n_of(pattern, a))} the clients")
    return title, lines


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
    for p in groups:
        out += [f"#### {group_title(dataset, pattern.kind, p)}", "",
                pattern_table(dataset, pattern, p), ""]
        absent = not_good(dataset, pattern.kind, p)
        if absent:
            out += ["Not plotted (listed at the end): "
                    + ", ".join(f"`{c.name}`" for c in absent), ""]
        scaling = scaling_table(dataset, pattern, p)
        if scaling:
            out += ["From the smallest to the largest N with the same CPU sharing (ratio = "
                    "largest / smallest; never across a change of cpu_shared):", "",
                    scaling, ""]
        title, lines = pattern_claim_lines(dataset, pattern, p)
        out += [f"{title}:", ""] + [f"- {line}" for line in lines] + [""]
    return out


# ---------------------------------------------------------------------------------------------
# Latency under load

def first_unsustained_above(dataset, placement, transport, case):
    """The good Load case of the lowest offered rate above `case`'s that was not sustained,
    or None."""
    rate = case.params.get("rate") or 0
    for c in dataset.load(placement, transport):
        if (c.params.get("rate") or 0) > rate and not load_sustained(c):
            return c
    return None


def load_rows(dataset, placement):
    """[(transport, highest sustained case, highest sustained with p99 under the bound, first
    unsustained case above the highest sustained, the rates measured)] for every transport with
    a good Load case at `placement`; a case is None when there is none."""
    out = []
    for t in dataset.load_transports():
        cases = dataset.load(placement, t)
        if not cases:
            continue
        best = dataset.highest_sustained(placement, t, bound_ns=float("inf"))
        bounded = dataset.highest_sustained(placement, t)
        above = (first_unsustained_above(dataset, placement, t, best) if best is not None
                 else next((c for c in cases if not load_sustained(c)), None))
        out.append((t, best, bounded, above, [c.params.get("rate") for c in cases]))
    return out


def omission_sentence(rows):
    """What coordinated omission hides, in this input's numbers: for the transport whose
    corrected p99 past its highest sustained rate is furthest above the uncorrected one, the two
    p99 side by side at that highest sustained rate and at the first rate past it."""
    found = [(t, best, above) for t, best, _, above, _ in rows if best is not None]
    if not found:
        return ("No transport sustained any of its rates in this input, so it has no rate at "
                "which to set the corrected and uncorrected p99 side by side.")

    def gap(item):
        case = item[2] or item[1]
        return (case.get("p99_ns") or 0) / max(case.get("uncorrected_p99_ns") or 1, 1)
    t, best, above = max(found, key=gap)
    text = (f"What coordinated omission hides: at {t}'s highest sustained rate, "
            f"{fmt_rate(best.params.get('rate'))}, the corrected p99 was "
            f"{fmt_us(best.get('p99_ns'))} and the uncorrected p99 "
            f"{fmt_us(best.get('uncorrected_p99_ns'))}")
    if above is not None:
        text += (f"; past it, at {fmt_rate(above.params.get('rate'))}, where the schedule fell "
                 f"behind, the corrected p99 was {fmt_us(above.get('p99_ns'))} against an "
                 f"uncorrected p99 of {fmt_us(above.get('uncorrected_p99_ns'))}: a closed loop "
                 "reports the second and never sees the queue behind the late messages.")
    else:
        text += ("; no rate above it was left unsustained in this input, so the sweep did not "
                 "reach the knee.")
    return text


def load_section(dataset):
    """Markdown lines for the Load pattern: what it measures, per placement the table of the
    highest sustained rates, and what coordinated omission hides."""
    out = ["## Latency under load (`Load/<transport>/rate:<r>/bytes:<n>`)", "",
           "The producer sends on a fixed schedule (message k due at t0 + k/r) and never waits "
           "for a reply; the consumer echoes each message and a receiver thread of the producer "
           "times the replies. The corrected latency runs from each message's intended send time "
           "(written into it), the uncorrected from its actual send time. A rate is sustained "
           f"when the replies came at least {LOAD_SUSTAINED_FRACTION:.0%} as fast as offered "
           f"with at most {LOAD_MAX_LOSS:.1%} lost; the bound on the corrected p99 is "
           f"{fmt_us(LOAD_P99_BOUND_NS)}.", ""]
    if not any(c.kind == LOAD for c in dataset.cases):
        return out + ["Not measured in this input (no Load rows).", ""]
    for p in dataset.load_placements:
        rows = load_rows(dataset, p)
        out += [f"### Placement: {placement_title(p)}", ""]
        if not rows:
            out += ["No Load case ran without error at this placement (listed at the end).", ""]
            continue
        table = []
        for t, best, bounded, above, rates in rows:
            table.append([
                t,
                fmt_rate(bounded.params.get("rate")) if bounded else "none",
                fmt_rate(best.params.get("rate")) if best else "none",
                fmt_us(best.get("p99_ns")) if best else "n/a",
                fmt_us(best.get("uncorrected_p99_ns")) if best else "n/a",
                (f"{fmt_rate(above.params.get('rate'))}: corrected p99 "
                 f"{fmt_us(above.get('p99_ns'))}, uncorrected "
                 f"{fmt_us(above.get('uncorrected_p99_ns'))}" if above else "not reached"),
                ", ".join(str(r) for r in rates)])
        out += [md_table(["Transport", "highest rate sustained with corrected p99 ≤ "
                          f"{fmt_us(LOAD_P99_BOUND_NS)}", "highest rate sustained",
                          "corrected p99 there", "uncorrected p99 there",
                          "first rate not sustained", "rates measured (/s)"], table), "",
                omission_sentence(rows), ""]
        absent = [c for c in dataset.cases if c.kind == LOAD and c.placement == p and not c.good]
        if absent:
            out += ["Not plotted (listed at the end): "
                    + ", ".join(f"`{c.name}`" for c in absent), ""]
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
             + ", ".join(f"`{r.path}`" for r in dataset.input_runs)
             + ". Every number below comes from these files.", "",
             "Units: RTT is the full round trip (A sends, B replies, A receives), never halved; "
             "one-way latency comes from the sender's CLOCK_MONOTONIC time stamp; MB/s means "
             "10^6 bytes/s; p50/p99 are percentiles over every timed message.", ""]
    lines += histogram_note(dataset)
    lines += ["", "## Machine", ""]
    lines += machine_section(dataset.runs)
    lines += ["", "## Pictures", ""]
    for name, caption in PICTURES:
        lines += [f"![{name}]({name})", "", f"*{name}*: {caption}", ""]
    for name, caption, why in optional_pictures(dataset):
        if why is None:
            lines += [f"![{name}]({name})", "", f"*{name}*: {caption}", ""]
        else:
            lines += [f"*{name}*: not produced: {why}.", ""]
    lines += ["## How the verdicts are decided", ""] + method_section()
    lines += ["", "## The lecture's table, measured", ""]
    lines += ["Each cell's first word is the row's verdict (the mechanisms the lecture means); "
              "below it, every transport of the row with its own verdict and evidence."]
    for p in dataset.placements:
        lines += ["", f"### Placement: {placement_title(p)}", "",
                  lecture_table(dataset, p, table_verdicts(dataset, p))]
    lines += ["", "## The lecture's other claims", ""]
    lines += claims_section(dataset)
    beyond = beyond_section(dataset)
    if beyond:
        lines += ["## Beyond the lecture", ""] + beyond
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
    lines += load_section(dataset)
    lines += hosts_section(dataset)
    lines += ["## Every measured case", ""]
    for p in dataset.placements:
        lines += [f"### Placement: {placement_title(p)}", ""]
        lines += all_cases_section(dataset, p)
    lines += problems_section(dataset)
    path = os.path.join(out_dir, "REPORT.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_verdicts(verdicts, out_dir):
    """Writes verdicts.json (the list of verdicts.verdicts_json); returns its path."""
    path = os.path.join(out_dir, "verdicts.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(verdicts_json(verdicts), f, indent=1, ensure_ascii=False)
        f.write("\n")
    return path
