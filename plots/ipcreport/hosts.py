"""The "Between hosts" section: a two-host run (ipcbench --peer=ADDR:PORT, the consumer on the
`ipcbench --serve` host; Dataset.peer) beside the same transports over loopback on this host (the
local run on two different CPUs), size for size: round trips, stream rates, the highest sustained
Load rate, and the lecture's claim that AF_INET sockets serve different hosts. Every comparative
word is chosen by stats.compare over the two sides' repetitions (a difference only when
significant and larger than the noise; otherwise a tie); none is fixed in advance. A case present
on one side only is listed as such."""

from . import stats
from .fmt import fmt_bytes, fmt_count, fmt_mbps, fmt_rate, fmt_ratio, fmt_sig, fmt_us, md_table
from .fmt import placement_title
from .load import PEER_KINDS, file_placement
from .model import BETWEEN_HOSTS, LOAD, ROUND_TRIP, STREAM, load_sustained, unique
from .verdicts import STATUS_WORDS, claim_inet_between_hosts

# The local placement a two-host run is set beside when the peer file names none a local run
# has: its producer and consumer run on two CPUs (of two hosts), never on one.
TWO_CPUS = "different_cpus"

NOT_LOCAL = "not in the loopback run"
NOT_PEER = "not run between the hosts"

# The context keys of each host, as ipcbench writes them in a two-host run: (label, this host's
# key, the peer's key).
HOST_KEYS = (("CPU model", "cpu_model", "ipcbench_peer_cpu_model"),
             ("CPUs", "num_cpus", "ipcbench_peer_cpus"),
             ("Kernel", "kernel", "ipcbench_peer_kernel"),
             ("Host name", "host_name", None))


def loopback_placement(dataset):
    """The local placement whose cases stand beside the peer run's, or None: the placement the
    peer file records when a local run has it, else TWO_CPUS, else the first local placement on
    two CPUs (dataset.one_cpu is False)."""
    found = unique(c.placement for c in dataset.cases if c.kind in PEER_KINDS)
    own = file_placement(dataset.peer.runs[0].context)
    for candidate in (own, TWO_CPUS):
        if candidate in found and not dataset.one_cpu(candidate):
            return candidate
    return next((p for p in found if not dataset.one_cpu(p)), None)


def local_run(dataset, placement):
    """The local Run whose cases are at `placement`, or None."""
    return next((r for r in dataset.runs if any(c.placement == placement for c in r.cases)),
                None)


def cases_of(side, placement, kind, transport):
    """{size: case} of every case of one kind and transport at a placement (errored and
    unsupported ones included: they are listed, never dropped); {} for no side."""
    if side is None or placement is None:
        return {}
    return {c.bytes: c for c in side.cases if c.kind == kind and c.placement == placement
            and c.subject == transport}


def not_measured(case, absent):
    """The cell of a case that gave no figure: absent, errored or unsupported; None when it
    gave one."""
    if case is None:
        return absent
    if case.unsupported is not None:
        return f"unsupported: {case.unsupported}"
    if case.error is not None:
        return f"errored: {case.error}"
    return None


def difference(hosts, loopback, key, lower, higher):
    """The outcome of comparing the two sides' repetitions of one counter (stats.compare, the
    two-host run first), in words chosen by that outcome."""
    cmp = stats.compare(hosts.values(key), loopback.values(key))
    if cmp.outcome == stats.TOO_FEW:
        return f"not compared (at least {stats.MIN_REPETITIONS} repetitions a side are needed)"
    what = {stats.LESS: f"between hosts {lower}", stats.GREATER: f"between hosts {higher}",
            stats.TIED: "tied"}[cmp.outcome]
    return (f"{what} ({fmt_sig(cmp.ratio)}x, U test p = {cmp.p_value:.2g}, noise threshold "
            f"{fmt_sig(cmp.threshold)}x)")


def problems(loopback, hosts):
    """Lost and corrupt messages of both sides (summed over repetitions), where non-zero."""
    out = []
    for side, case in (("loopback", loopback), ("between hosts", hosts)):
        if case is None or not case.reps:
            continue
        for key in ("lost", "corrupt"):
            total = sum(case.values(key))
            if total:
                out.append(f"{side}: {key} {fmt_count(total)} (over {len(case.reps)} "
                           "repetitions)")
    return "; ".join(out) or "none"


def repetitions(loopback, hosts):
    """"loopback, hosts" repetition counts of a row."""
    return ", ".join(str(len(c.reps)) if c is not None and c.reps else "-"
                     for c in (loopback, hosts))


def sizes(local, peer):
    """The sizes of a table: each size where either side has a case that ran (or errored),
    smallest first; a size neither side ran (unsupported or absent on both) is left out."""
    ran = {b for side in (local, peer) for b, c in side.items() if c.unsupported is None}
    return sorted(ran, key=lambda b: (b is None, b or 0))


def rtt_rows(dataset, placement, transport):
    """The round-trip table's rows of one transport, one per size of either side."""
    local = cases_of(dataset, placement, ROUND_TRIP, transport)
    peer = cases_of(dataset.peer, BETWEEN_HOSTS, ROUND_TRIP, transport)
    rows = []
    for size in sizes(local, peer):
        a, b = local.get(size), peer.get(size)
        a_gap, b_gap = not_measured(a, NOT_LOCAL), not_measured(b, NOT_PEER)
        row = [fmt_bytes(size)]
        row += [a_gap, ""] if a_gap else [fmt_us(a.get("p50_ns")), fmt_us(a.get("p99_ns"))]
        row += [b_gap, ""] if b_gap else [fmt_us(b.get("p50_ns")), fmt_us(b.get("p99_ns"))]
        both = not a_gap and not b_gap
        row += [fmt_ratio(b.get("p50_ns"), a.get("p50_ns")) if both else "n/a",
                repetitions(a, b),
                difference(b, a, "p50_ns", "faster", "slower") if both else "n/a",
                problems(None if a_gap else a, None if b_gap else b)]
        rows.append(row)
    return rows


def stream_rows(dataset, placement, transport):
    """The stream table's rows of one transport, one per size of either side."""
    local = cases_of(dataset, placement, STREAM, transport)
    peer = cases_of(dataset.peer, BETWEEN_HOSTS, STREAM, transport)
    rows = []
    for size in sizes(local, peer):
        a, b = local.get(size), peer.get(size)
        a_gap, b_gap = not_measured(a, NOT_LOCAL), not_measured(b, NOT_PEER)
        row = [fmt_bytes(size)]
        for case, gap in ((a, a_gap), (b, b_gap)):
            row += [gap, ""] if gap else [fmt_mbps(case.get("bytes_per_second")),
                                          fmt_sig(case.get("items_per_second"))]
        both = not a_gap and not b_gap
        row += [fmt_ratio(b.get("bytes_per_second"), a.get("bytes_per_second")) if both
                else "n/a", repetitions(a, b),
                difference(b, a, "bytes_per_second", "lower", "higher") if both else "n/a",
                problems(None if a_gap else a, None if b_gap else b)]
        rows.append(row)
    return rows


def sustained(case):
    """True when a Load case was sustained: its counter `sustained` is 1 in every repetition
    (ipcbench's own test; load_sustained for a row without the counter)."""
    values = case.values("sustained")
    return all(v == 1 for v in values) if values else load_sustained(case)


def load_lines(dataset, placement, transport):
    """The Load rows of one transport: the highest rate sustained on each side, with its
    corrected and uncorrected p99, when both sides have Load rows; else which side has them."""
    sides = (("loopback", dataset, placement), ("two-host", dataset.peer, BETWEEN_HOSTS))
    found = {name: (side.load(p, transport) if p is not None else [])
             for name, side, p in sides}
    errored = [c for name, side, p in sides if p is not None
               for c in side.load(p, transport, good=False) if not c.good]
    out = []
    if all(found.values()):
        best = {name: next((c for c in reversed(cases) if sustained(c)), None)
                for name, cases in found.items()}

        def cells(label, fn):
            return [label] + [fn(best[name]) if best[name] is not None else "none sustained"
                              for name, _, _ in sides]
        table = [cells("highest rate sustained", lambda c: fmt_rate(c.params.get("rate"))),
                 cells("corrected p99 there", lambda c: fmt_us(c.get("p99_ns"))),
                 cells("uncorrected p99 there", lambda c: fmt_us(c.get("uncorrected_p99_ns"))),
                 ["rates measured (/s)"] + [", ".join(str(c.params.get("rate")) for c in
                                                      found[name]) for name, _, _ in sides]]
        out += ["Latency under load (a rate is sustained when its counter `sustained` is 1 in "
                "every repetition; corrected latency from each message's intended send time):",
                "", md_table(["Load", "Loopback", "Between hosts"], table), ""]
    elif any(found.values()):
        for name, cases in found.items():
            if cases:
                other = "the two-host run" if name == "loopback" else "the loopback run"
                out += [f"Load: rows in the {name} run only (rates "
                        + ", ".join(str(c.params.get("rate")) for c in cases)
                        + f" /s), none in {other}: not set side by side.", ""]
    if errored:
        out += ["Load cases without a figure: " + "; ".join(
            f"`{c.name}` ({not_measured(c, '') or 'corrupt data'})" for c in errored), ""]
    return out


def hosts_table(dataset):
    """This host and the peer, from the peer file's own context."""
    context = dataset.peer.runs[0].context
    rows = [["Address", "not recorded", dataset.peer.runs[0].peer_address]]
    for label, here, there in HOST_KEYS:
        rows.append([label, str(context.get(here, "not recorded")),
                     str(context.get(there, "not recorded")) if there else "not recorded"])
    return (md_table(["", "This host (producer)", "Peer (consumer, `--serve`)"], rows)
            + "\n\nPinning as the two-host run records it (ipcbench_cpus): "
            + str(context.get("ipcbench_cpus", "not recorded")) + ".")


def loopback_words(dataset, placement):
    """Which local run the loopback columns come from, and whether it is this host's."""
    if placement is None:
        return ["No local run on two different CPUs was given, so the loopback columns are "
                "empty: give the local run beside the peer run (scripts/run-suite.sh --peer "
                "does).", ""]
    run = local_run(dataset, placement)
    cpus = run.context.get("ipcbench_cpus", "CPUs not recorded")
    text = (f"Loopback: the same transports within this host, from `{run.path}` (placement "
            f"{placement_title(placement)}, {cpus}).")
    peer = dataset.peer.runs[0].context
    here = [(k, str(run.context.get(k)), str(peer.get(k))) for k in ("host_name", "cpu_model")
            if run.context.get(k) != peer.get(k)]
    out = [text, ""]
    if here:
        out += ["**Warning**: the loopback run and the two-host run were recorded on different "
                "machines (" + "; ".join(f"{k}: '{a}' and '{b}'" for k, a, b in here)
                + "): the two sides differ in more than the network.", ""]
    return out


def unsupported_line(dataset):
    """The transports the two-host run did not run, grouped by the reason its context gives."""
    by_reason = {}
    for c in dataset.peer.cases:
        if c.unsupported is not None:
            by_reason.setdefault(c.unsupported, [])
            if c.subject not in by_reason[c.unsupported]:
                by_reason[c.unsupported].append(c.subject)
    return [f"Not run between the hosts ({', '.join(ts)}): {reason}"
            for reason, ts in by_reason.items()]


def hosts_section(dataset):
    """Markdown lines of the "Between hosts" section, or [] without a peer run."""
    if dataset.peer is None:
        return []
    run = dataset.peer.runs[0]
    placement = loopback_placement(dataset)
    out = ["## Between hosts", "",
           f"`{run.path}` ran against `ipcbench --serve` at {run.peer_address}: the producer on "
           "this host, the consumer on the peer.", "", hosts_table(dataset), "",
           "Across hosts one-way latency is not reported: the two hosts' clocks differ, so a "
           "time stamp written on one and read on the other would measure the offset between "
           "the clocks along with the message. Only round trips, timed on this host's clock, "
           "and rates are shown.", ""]
    units = run.context.get("ipcbench_peer_units")
    if units:
        out += [f"ipcbench's note on these rows (ipcbench_peer_units): {units}.", ""]
    out += loopback_words(dataset, placement)
    out += ["RTT p50 and p99 are the median over a case's repetitions of each repetition's "
            "percentile; MB/s is 10^6 bytes/s received. hosts / loopback is the ratio of the two "
            "medians. Difference: the two sides' repetitions compared as every verdict compares "
            f"them (two-sided U test, p < {stats.ALPHA}, and a ratio of medians of at least the "
            f"noise threshold, {stats.MIN_EFFECT:g}x or either side's own spread; at least "
            f"{stats.MIN_REPETITIONS} repetitions each); otherwise tied. Lost and corrupt: summed "
            "over repetitions, where not zero.", ""]
    transports = [t for t in unique([t for t in dataset.peer.info] + dataset.peer.all_transports)
                  if any(c.subject == t and c.kind in PEER_KINDS and c.unsupported is None
                         for c in dataset.peer.cases)]
    for t in transports:
        out += [f"### {t}", ""]
        rtt = rtt_rows(dataset, placement, t)
        if rtt:
            out += ["Round trips (RTT, the full round trip):", "",
                    md_table(["Size", "Loopback RTT p50", "Loopback RTT p99",
                              "Between hosts RTT p50", "Between hosts RTT p99",
                              "hosts / loopback (p50)", "Repetitions (loopback, hosts)",
                              "Difference (p50)", "Lost, corrupt"], rtt), ""]
        stream = stream_rows(dataset, placement, t)
        if stream:
            out += ["Streams (received):", "",
                    md_table(["Size", "Loopback MB/s", "Loopback msg/s", "Between hosts MB/s",
                              "Between hosts msg/s", "hosts / loopback (MB/s)",
                              "Repetitions (loopback, hosts)", "Difference (MB/s)",
                              "Lost, corrupt"], stream), ""]
        out += load_lines(dataset, placement, t)
    skipped = unsupported_line(dataset)
    if skipped:
        out += [f"- {line}" for line in skipped] + [""]
    verdict = claim_inet_between_hosts(dataset)
    out += [f"{verdict.title}: **{STATUS_WORDS[verdict.status]}**: {verdict.sentence}", ""]
    return out
