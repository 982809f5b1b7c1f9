"""The "Beyond the lecture" section: each mechanism the lecture predates (family BEYOND in the
registry), shown beside the lecture-era mechanism it is built like, with what the repetitions of
this run say about the two (stats.compare: a difference only when significant and larger than
the noise; otherwise a tie). Every sentence is chosen by the measured outcome; none is fixed in
advance."""

from . import stats
from .fmt import fmt_bytes, fmt_mbps, fmt_sig, fmt_us, md_table, placement_title
from .model import ROUND_TRIP, STREAM

# The family transports/transports.def gives the mechanisms beyond the lecture.
BEYOND = "beyond the lecture"

# What each is shown beside, and why: a pairing by construction (the same object, or the same
# socket family underneath), not a result. A transport missing here is shown without a partner.
BESIDE = {
    "eventfd": ("shm_futex", "the same slot ring, woken through an eventfd instead of a futex"),
    "eventfd_sem": ("shm_sem", "the same slot ring, woken through a semaphore-mode eventfd "
                               "instead of a POSIX semaphore"),
    "signalfd": ("rt_signal", "the same realtime signals, read through a signalfd instead of "
                              "sigwaitinfo()"),
    "unix_seqpacket": ("unix_stream", "the same AF_UNIX server sequence, keeping message "
                                      "boundaries"),
    "vmsplice": ("pipe", "the same pipe, fed by vmsplice() from the sender's arena pages (one "
                         "user copy into them) instead of write()'s copy into the pipe's own "
                         "pages"),
    "cma": ("pipe", "one copy straight between the address spaces, against a pipe's copy in "
                    "and copy out"),
    "memfd_pass": ("unix_stream", "a descriptor of a sealed memfd per message crosses the "
                                  "socket instead of the bytes"),
    "io_uring": ("unix_stream", "a Unix stream socket pair whose sends and receives are "
                                "submitted through an io_uring ring instead of system calls"),
    "zeromq": ("unix_stream", "a messaging library over the same Unix sockets"),
    "dbus": ("unix_stream", "a broker (dbus-daemon) between two Unix-socket clients"),
}


def beyond_transports(dataset):
    """The ids of the family BEYOND, registry order."""
    return [t.id for t in dataset.info.values() if t.family == BEYOND]


def _rep_values(case, key):
    return case.values(key) if case is not None else []


def _sizes(dataset, kind, placement, transport):
    return {c.bytes: c for c in dataset.select(kind, placement, transport) if c.bytes is not None}


def rtt_sentence(dataset, placement, t, b):
    """One sentence on the round trip of t beside b at the smallest size both measured, or None
    when they share no measured size."""
    mine, theirs = (_sizes(dataset, ROUND_TRIP, placement, x) for x in (t, b))
    common = sorted(set(mine) & set(theirs))
    if not common:
        return None
    size = common[0]
    a, c = mine[size], theirs[size]
    cmp = stats.compare(_rep_values(a, "p50_ns"), _rep_values(c, "p50_ns"))
    figures = (f"p50 {fmt_us(a.get('p50_ns'))} against {fmt_us(c.get('p50_ns'))}, "
               f"{cmp.n_a} and {cmp.n_b} repetitions")
    if cmp.outcome == stats.TOO_FEW:
        return (f"Round trip at {fmt_bytes(size)}: too few repetitions to compare `{t}` with "
                f"`{b}` ({figures}).")
    if not cmp.differs:
        why = (f"not significant, U test p = {fmt_sig(cmp.p_value, 2)}"
               if cmp.p_value >= stats.ALPHA else
               f"ratio {fmt_sig(cmp.ratio)}x, inside the noise threshold "
               f"{fmt_sig(cmp.threshold)}x")
        return f"Round trip at {fmt_bytes(size)}: `{t}` and `{b}` tie ({figures}; {why})."
    word = "faster" if cmp.outcome == stats.LESS else "slower"
    return (f"Round trip at {fmt_bytes(size)}: `{t}` is {fmt_sig(cmp.ratio)}x {word} than "
            f"`{b}` ({figures}; U test p = {fmt_sig(cmp.p_value, 2)}).")


def stream_outcomes(dataset, placement, t, b):
    """[(size, Comparison of t's bytes/s with b's)] at every size both streamed, ascending."""
    mine, theirs = (_sizes(dataset, STREAM, placement, x) for x in (t, b))
    return [(size, stats.compare(_rep_values(mine[size], "bytes_per_second"),
                                 _rep_values(theirs[size], "bytes_per_second")))
            for size in sorted(set(mine) & set(theirs))]


def stream_sentence(dataset, placement, t, b):
    """Where t's stream overtakes b's: the smallest size from which t is faster at every larger
    size both measured; or that it never is, or always is. None without a common size."""
    outcomes = stream_outcomes(dataset, placement, t, b)
    if not outcomes:
        return None
    sizes = ", ".join(fmt_bytes(s) for s, _ in outcomes)
    if any(cmp.outcome == stats.TOO_FEW for _, cmp in outcomes):
        return f"Stream: too few repetitions to compare `{t}` with `{b}` (sizes {sizes})."
    faster = [cmp.outcome == stats.GREATER for _, cmp in outcomes]  # more bytes/s
    slower = [s for (s, cmp) in outcomes if cmp.outcome == stats.LESS]
    start = len(faster)
    while start > 0 and faster[start - 1]:
        start -= 1
    if start == 0:
        return f"Stream: `{t}` moves more bytes/s than `{b}` at every size measured ({sizes})."
    if start < len(faster):
        size, cmp = outcomes[start]
        return (f"Stream: `{t}` overtakes `{b}` from {fmt_bytes(size)} on ({fmt_sig(cmp.ratio)}x "
                f"there), and stays ahead at every larger size measured ({sizes}).")
    ahead = [s for (s, cmp) in outcomes if cmp.outcome == stats.GREATER]
    tied = [s for (s, cmp) in outcomes if cmp.outcome == stats.TIED]
    if not ahead and not slower:
        return f"Stream: `{t}` and `{b}` tie at every size measured ({sizes})."
    parts = []
    if ahead:
        parts.append("more bytes/s at " + ", ".join(fmt_bytes(s) for s in ahead))
    if slower:
        parts.append("fewer at " + ", ".join(fmt_bytes(s) for s in slower))
    if tied:
        parts.append("a tie at " + ", ".join(fmt_bytes(s) for s in tied))
    lead = ("moves more bytes/s than `{b}` at no size measured: " if not ahead
            else "does not stay ahead of `{b}` up to the largest size measured: ").format(b=b)
    return f"Stream: `{t}` " + lead + "; ".join(parts) + "."


def _unsupported_reason(dataset, placement, t):
    for c in dataset.cases:
        if c.subject == t and c.placement == placement and c.unsupported:
            return c.unsupported
    return None


def beyond_section(dataset):
    """The section's lines; [] when the input holds no mechanism of the family BEYOND."""
    ids = beyond_transports(dataset)
    if not ids:
        return []
    lines = ["Mechanisms the lecture predates, each beside the lecture-era mechanism it is built "
             "like (the pairing says why). RTT is the full round trip, p50 over every timed "
             "message; MB/s is 10^6 bytes/s at the size of its highest rate. The sentences "
             "compare the two over this run's repetitions, as the verdicts do: a difference "
             "only when significant and larger than the noise, otherwise a tie.", ""]
    for placement in dataset.placements:
        rows, notes = [], []
        for t in ids:
            info = dataset.info[t]
            partner, why = BESIDE.get(t, (None, "no lecture-era mechanism to compare with"))
            small = dataset.small_rtt(placement, t)
            peak = dataset.peak_stream(placement, t)
            if small is None and peak is None:
                reason = (info.unavailable and "unavailable on this machine: " + info.unavailable
                          ) or _unsupported_reason(dataset, placement, t) or "not in this run"
                rows.append([f"`{t}`", info.description, "not measured", "", "", reason])
                continue
            rtt = (f"{fmt_us(small.get('p50_ns'))} ({fmt_bytes(small.bytes)})"
                   if small is not None else "n/a")
            stream = (f"{fmt_mbps(peak.get('bytes_per_second'))} ({fmt_bytes(peak.bytes)})"
                      if peak is not None else "n/a")
            rows.append([f"`{t}`", info.description, rtt, stream,
                         f"`{partner}`" if partner else "", why])
            if partner is None or partner not in dataset.info:
                continue
            said = [s for s in (rtt_sentence(dataset, placement, t, partner),
                                stream_sentence(dataset, placement, t, partner)) if s]
            if said:
                notes.append(f"- **`{t}` beside `{partner}`.** " + " ".join(said))
        lines += [f"### Placement: {placement_title(placement)}", "",
                  md_table(["mechanism", "built as", "RTT p50", "peak stream", "beside", "why"],
                           rows), ""]
        lines += notes + ([""] if notes else [])
    return lines
