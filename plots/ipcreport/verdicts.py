"""Verdicts on the lecture's claims, as data: each is a status (holds, does_not_hold,
inconclusive) with its evidence, per placement. Markdown is made from them in markdown.py; they
are written as they are to verdicts.json.

Which transports a claim judges comes from the input (ipcbench_transports): the lecture row of
each transport, whether it is the mechanism the lecture means (lecture_means) or a variant, its
payload, whether it runs in one process. The tests every claim applies are in the functions'
docstrings and, for students, in markdown.method_section.
"""

import statistics
from dataclasses import dataclass, field

from . import stats
from .model import BETWEEN_HOSTS, LECTURE_TABLE, ROUND_TRIP, STREAM, FAN_IN, FAN_OUT, \
    PATTERNS, WORD_BYTES, unique

HOLDS = "holds"
DOES_NOT_HOLD = "does_not_hold"
INCONCLUSIVE = "inconclusive"
STATUS_WORDS = {HOLDS: "holds", DOES_NOT_HOLD: "does not hold", INCONCLUSIVE: "inconclusive"}


@dataclass
class Verdict:
    """One claim judged at one placement (for one transport when `subject` names one)."""

    claim: str  # a stable identifier: "speed/Pipe", "speed/Pipe/pipe", "fifo_slower_than_pipe"
    title: str  # the claim in words
    placement: str
    status: str  # HOLDS, DOES_NOT_HOLD or INCONCLUSIVE
    sentence: str  # the evidence in one sentence, computed from the data
    evidence: dict = field(default_factory=dict)  # the numbers behind it
    subject: str = ""  # the transport or lecture row judged
    lecture_means: bool = None  # True: the lecture's mechanism; False: a variant; None: n/a

    def as_json(self):
        """The verdict as verdicts.json writes it."""
        return {"claim": self.claim, "title": self.title, "placement": self.placement,
                "subject": self.subject, "lecture_means": self.lecture_means,
                "status": self.status,
                "evidence": dict(self.evidence, sentence=self.sentence)}


def combine(statuses):
    """A row's status from its members': holds if all hold, does not hold if any does not,
    else inconclusive (also when there are none)."""
    if statuses and all(s == HOLDS for s in statuses):
        return HOLDS
    if any(s == DOES_NOT_HOLD for s in statuses):
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def fmt_ns(ns):
    """Nanoseconds in µs with three significant digits, for evidence sentences."""
    if ns is None:
        return "n/a"
    us = ns / 1e3
    return f"{us:.3g} µs" if us < 1000 else f"{us:.0f} µs"


def fmt_bps(value):
    """Bytes/s in MB/s (10^6), for evidence sentences."""
    return "n/a" if value is None else f"{value / 1e6:.4g} MB/s"


def comparison_words(a, b, cmp, unit):
    """"a (median x) vs b (median y): ratio r, p = ..., threshold t -> outcome"."""
    fmt = fmt_ns if unit == "ns" else fmt_bps
    if cmp.outcome == stats.TOO_FEW:
        return (f"{a} vs {b}: only {cmp.n_a} and {cmp.n_b} repetitions (at least "
                f"{stats.MIN_REPETITIONS} each are needed)")
    what = {stats.LESS: f"{a} is lower", stats.GREATER: f"{a} is higher",
            stats.TIED: "tied"}[cmp.outcome]
    return (f"{a} {fmt(cmp.median_a)} vs {b} {fmt(cmp.median_b)} (medians of "
            f"{cmp.n_a} and {cmp.n_b} repetitions): {cmp.ratio:.3g}x, U test p = "
            f"{cmp.p_value:.2g}, noise threshold {cmp.threshold:.3g}x: {what}")


# ---------------------------------------------------------------------------------------------
# What the input offers

def socket_kind(info):
    """("unix"|"inet"|None, "stream"|"dgram"|None) from a socket transport's description."""
    text = info.description.upper()
    family = "unix" if "AF_UNIX" in text else "inet" if "AF_INET" in text else None
    kind = "stream" if "SOCK_STREAM" in text else "dgram" if "SOCK_DGRAM" in text else None
    return family, kind


def meant(dataset, mechanism):
    """The ids of the transports the lecture means by a row, registry order."""
    return [t.id for t in dataset.lecture_row(mechanism) if t.lecture_means]


def variants(dataset, mechanism):
    """The ids of a row's variants (lecture_means false), registry order."""
    return [t.id for t in dataset.lecture_row(mechanism) if not t.lecture_means]


def inter_process_bytes(dataset):
    """Transports that carry a byte payload between processes (the ranked population)."""
    return [t for t in dataset.transports
            if not dataset.in_process(t) and dataset.carries_bytes(t)]


def reference_size(dataset, placement):
    """The message size round trips are compared at: the smallest size with a good round trip
    of an inter-process transport that carries bytes, or None."""
    sizes = [c.bytes for t in inter_process_bytes(dataset)
             for c in dataset.select(ROUND_TRIP, placement, t) if c.bytes]
    return min(sizes) if sizes else None


def rtt_values(case):
    """A round trip's per-repetition p50s."""
    return case.values("p50_ns") if case is not None else []


def speed_population(dataset, placement, transport):
    """(size, {transport: round-trip case}, note) of the population a transport's speed is judged
    in: every inter-process byte transport at one message size (like with like), plus the
    transport itself. A bare notification or one-word transport joins the byte transports at the
    reference size, and the note says so."""
    own = dataset.small_rtt(placement, transport)
    if own is None:
        return None, {}, ""
    note = ""
    if dataset.carries_bytes(transport):
        size = own.bytes
    else:
        size = reference_size(dataset, placement)
        if size is None:
            return own.bytes, {transport: own}, ""
        note = (f"{transport} carries {own.bytes} B: it is ranked among {size} B messages of "
                "the transports that carry bytes (it carries less, which can only favour it)")
    cases = {t: dataset.rtt_at(placement, t, size) for t in inter_process_bytes(dataset)}
    cases = {t: c for t, c in cases.items() if c is not None}
    cases[transport] = own
    return size, cases, note


def tier_evidence(tiers_found, cases, key):
    """The tiers as data: [[{transport, median}]] best first."""
    return [[{"transport": t, "median": statistics.median(cases[t].values(key))} for t in tier]
            for tier in tiers_found]


# ---------------------------------------------------------------------------------------------
# The lecture's table: speed

SPEED_RULE = {
    "fast": "in the fastest tier, and significantly faster than the fastest transport of the "
            "slowest tier",
    "slow": "in the slowest tier, and significantly slower than the slowest transport of the "
            "fastest tier",
    "medium": "in neither the fastest nor the slowest tier, and significantly different from "
              "both the fastest tier's slowest and the slowest tier's fastest transport",
}


def judge_word(word, transport, tiers_found, values, lower_is_better=True):
    """(status, measured position, [comparison evidence]) for a speed word given tiers (best
    first) and {transport: per-repetition values}. See SPEED_RULE; the opposite of each rule,
    with the same kind of direct comparison, is "does not hold"."""
    k = len(tiers_found)
    index = next(i for i, tier in enumerate(tiers_found) if transport in tier)
    best, worst = tiers_found[0], tiers_found[-1]
    better = stats.LESS if lower_is_better else stats.GREATER
    worse = stats.GREATER if lower_is_better else stats.LESS
    position = ("fastest tier" if index == 0 else "slowest tier" if index == k - 1
                else f"tier {index + 1} of {k}")

    def against(other):
        return other, stats.compare(values[transport], values[other])

    checks = []
    status = INCONCLUSIVE
    if word == "fast":
        if index == 0:
            checks.append(against(worst[0]))
            status = HOLDS if checks[-1][1].outcome == better else INCONCLUSIVE
        else:
            checks.append(against(best[-1]))
            status = DOES_NOT_HOLD if checks[-1][1].outcome == worse else INCONCLUSIVE
    elif word == "slow":
        if index == k - 1:
            checks.append(against(best[-1]))
            status = HOLDS if checks[-1][1].outcome == worse else INCONCLUSIVE
        else:
            checks.append(against(worst[0]))
            status = DOES_NOT_HOLD if checks[-1][1].outcome == better else INCONCLUSIVE
    elif word == "medium":
        if 0 < index < k - 1:
            checks += [against(best[-1]), against(worst[0])]
            ok = checks[0][1].outcome == worse and checks[1][1].outcome == better
            status = HOLDS if ok else INCONCLUSIVE
        elif index == 0:
            checks.append(against(worst[0]))
            status = DOES_NOT_HOLD if checks[-1][1].outcome == better else INCONCLUSIVE
        else:
            checks.append(against(best[-1]))
            status = DOES_NOT_HOLD if checks[-1][1].outcome == worse else INCONCLUSIVE
    return status, position, checks


def speed_verdict(dataset, placement, mechanism, transport, word, lecture_means):
    """Is `transport` "fast", "medium" or "slow" (the lecture's `word`) among the inter-process
    transports at one message size? Tiers from the data (stats.tiers on per-repetition round-trip
    p50s); the test is SPEED_RULE[word]."""
    claim = f"speed/{mechanism}/{transport}"
    title = f"{mechanism} is {word} (lecture's speed), judged for {transport}"
    size, cases, note = speed_population(dataset, placement, transport)
    base = {"word": word, "size_bytes": size, "rule": SPEED_RULE[word]}
    if not cases:
        return Verdict(claim, title, placement, INCONCLUSIVE,
                       f"{transport}: no round trip measured at this placement", base,
                       transport, lecture_means)
    if note:
        base["note"] = note
    if len(cases) < 2:
        return Verdict(claim, title, placement, INCONCLUSIVE,
                       f"{transport}: no other inter-process transport to rank it against",
                       base, transport, lecture_means)
    values = {t: rtt_values(c) for t, c in cases.items()}
    few = sorted(t for t, v in values.items() if len(v) < stats.MIN_REPETITIONS)
    if few:
        base["too_few_repetitions"] = few
        return Verdict(claim, title, placement, INCONCLUSIVE,
                       f"too few repetitions to rank (fewer than {stats.MIN_REPETITIONS}: "
                       f"{', '.join(few)})", base, transport, lecture_means)
    found = stats.tiers(list(values.items()))
    base["tiers"] = tier_evidence(found, cases, "p50_ns")
    if len(found) == 1:
        return Verdict(claim, title, placement, INCONCLUSIVE,
                       f"all {len(cases)} inter-process transports at {size} B are tied (one "
                       f"tier): '{word}' cannot be told apart here", base, transport,
                       lecture_means)
    status, position, checks = judge_word(word, transport, found, values)
    base["position"] = position
    base["comparisons"] = [dict(c.as_dict(), against=o) for o, c in checks]
    where = (f"{transport} ({cases[transport].bytes} B, ranked among {size} B messages)"
             if note else f"{transport} at {size} B")
    sentence = (f"{where} is in the {position} of {len(found)} "
                f"({', '.join(str(len(t)) for t in found)} transports, fastest first); "
                + "; ".join(comparison_words(transport, o, c, "ns") for o, c in checks)
                + (f" ({note})" if note else ""))
    return Verdict(claim, title, placement, status, sentence, base, transport, lecture_means)


# ---------------------------------------------------------------------------------------------
# The lecture's table: data volume

def stream_values(case):
    """A stream's per-repetition bytes/s."""
    return case.values("bytes_per_second") if case is not None else []


def largest_stream_size(dataset, placement):
    """The largest message size a good stream of an inter-process byte transport ran at."""
    sizes = [c.bytes for t in inter_process_bytes(dataset)
             for c in dataset.select(STREAM, placement, t) if c.bytes]
    return max(sizes) if sizes else None


VOLUME_RULE = ("*very small*: the largest message it carried is at most one word "
               f"({WORD_BYTES} B); *large*: it streamed the largest size any inter-process "
               "transport streamed (L) and is above the lowest stream-throughput tier at L, "
               "significantly faster than that tier's fastest transport; *small*: it carries "
               "more than a word but a size below L was its largest (a larger one refused at its "
               "limit), or is in the lowest throughput tier at L, "
               "significantly slower than the highest tier's slowest transport")


def measured_volume(dataset, placement, transport):
    """(word or None, evidence dict, sentence) of a transport's measured data volume."""
    largest = dataset.largest_carried(placement, transport)
    if largest is None:
        return None, {}, f"{transport}: nothing measured at this placement"
    evidence = {"largest_carried_bytes": largest}
    if largest <= WORD_BYTES:
        return "very small", evidence, (f"{transport}: the largest message it carried is "
                                        f"{largest} B (at most one word)")
    size = largest_stream_size(dataset, placement)
    evidence["largest_streamed_bytes"] = size
    if size is None:
        return None, evidence, f"{transport}: no stream measured at this placement"
    if largest < size:
        refused = sorted(c.bytes for c in dataset.cases
                         if c.subject == transport and c.placement == placement
                         and c.unsupported is not None and c.bytes and c.bytes > largest)
        evidence["refused_bytes"] = refused
        if not refused:
            return None, evidence, (f"{transport}: the largest message it carried is {largest} "
                                    f"B; it did not run at the {size} B other transports "
                                    "streamed, and no larger size was refused")
        return "small", evidence, (f"{transport}: the largest message it carried is {largest} "
                                   f"B, below the {size} B other transports streamed "
                                   f"({refused[0]} B was refused at its limit)")
    cases = {t: dataset.stream_at(placement, t, size) for t in inter_process_bytes(dataset)}
    cases = {t: c for t, c in cases.items() if c is not None}
    values = {t: stream_values(c) for t, c in cases.items()}
    few = sorted(t for t, v in values.items() if len(v) < stats.MIN_REPETITIONS)
    if few:
        evidence["too_few_repetitions"] = few
        return None, evidence, (f"too few repetitions to rank throughput (fewer than "
                                f"{stats.MIN_REPETITIONS}: {', '.join(few)})")
    found = stats.tiers(list(values.items()), higher_is_better=True)
    evidence["throughput_tiers"] = tier_evidence(found, cases, "bytes_per_second")
    if len(found) == 1:
        return None, evidence, (f"all {len(cases)} transports' stream throughputs at {size} B "
                                "are tied (one tier)")
    lowest = len(found) - 1
    index = next(i for i, tier in enumerate(found) if transport in tier)
    if index < lowest:
        other = found[lowest][0]  # the highest throughput of the lowest tier
        cmp = stats.compare(values[transport], values[other])
        word = "large" if cmp.outcome == stats.GREATER else None
    else:
        other = found[0][-1]  # the lowest throughput of the highest tier
        cmp = stats.compare(values[transport], values[other])
        word = "small" if cmp.outcome == stats.LESS else None
    evidence["comparison"] = dict(cmp.as_dict(), against=other)
    where = "the lowest" if index == lowest else "the highest" if index == 0 else "a middle"
    return word, evidence, (f"{transport} streamed {size} B messages in {where} of "
                            f"{len(found)} throughput tiers; "
                            + comparison_words(transport, other, cmp, "bps"))


def volume_verdict(dataset, placement, mechanism, transport, word, lecture_means):
    """Does `transport` carry the lecture's data volume `word`? See VOLUME_RULE: measured from
    the sizes that ran and stream throughput, never from declared capabilities alone."""
    measured, evidence, sentence = measured_volume(dataset, placement, transport)
    evidence.update(word=word, measured=measured, rule=VOLUME_RULE)
    largest = evidence.get("largest_carried_bytes")
    if measured is None and word == "very small" and largest is not None and largest > WORD_BYTES:
        status = DOES_NOT_HOLD  # whatever else it is, it carried more than one word
        sentence += f": it carried {largest} B, more than one word"
    elif measured is None:
        status = INCONCLUSIVE
    else:
        status = HOLDS if measured == word else DOES_NOT_HOLD
        sentence += f": measured '{measured}'"
    return Verdict(f"volume/{mechanism}/{transport}",
                   f"{mechanism} carries '{word}' data volumes, judged for {transport}",
                   placement, status, sentence, evidence, transport, lecture_means)


def table_verdicts(dataset, placement):
    """{mechanism: {"speed": row Verdict, "volume": row Verdict, "members": [Verdict]}} for the
    lecture's table: each measured transport of a row judged on its own (the lecture's mechanism
    and each variant), the row by the mechanisms the lecture means (combine())."""
    out = {}
    for mechanism, speed_word, volume_word in LECTURE_TABLE:
        members = []
        for kind, word, judge in (("speed", speed_word, speed_verdict),
                                  ("volume", volume_word, volume_verdict)):
            judged = []
            for info in dataset.lecture_row(mechanism):
                if info.id not in dataset.transports:
                    continue
                judged.append(judge(dataset, placement, mechanism, info.id, word,
                                    info.lecture_means))
            members += judged
            main = [v for v in judged if v.lecture_means]
            claim = f"{kind}/{mechanism}"
            title = (f"{mechanism} is {word} (the lecture's speed)" if kind == "speed"
                     else f"{mechanism} carries '{word}' data volumes (the lecture's word)")
            if not main:
                row = Verdict(claim, title, placement, INCONCLUSIVE,
                              "not measured in this input (no transport the lecture means by "
                              f"'{mechanism}' ran at this placement)", {"word": word},
                              mechanism)
            else:
                row = Verdict(claim, title, placement, combine([v.status for v in main]),
                              "; ".join(f"{v.subject}: {STATUS_WORDS[v.status]}" for v in main),
                              {"word": word, "judged": [v.subject for v in main]}, mechanism)
            out.setdefault(mechanism, {"members": []})[kind] = row
        out[mechanism]["members"] = members
    return out


# ---------------------------------------------------------------------------------------------
# The lecture's other claims

def not_measured(claim, title, placement, needs, subject=""):
    """An inconclusive verdict for a claim whose transports or cases are absent."""
    return Verdict(claim, title, placement, INCONCLUSIVE,
                   f"not measured in this input (needs {needs})", {"needs": needs}, subject)


def common_rtt(dataset, placement, a, b):
    """The round trips of a and b at their smallest common size, or (None, None)."""
    sizes = {c.bytes: c for c in dataset.select(ROUND_TRIP, placement, a)}
    for c in dataset.select(ROUND_TRIP, placement, b):
        if c.bytes in sizes:
            return sizes[c.bytes], c
    return None, None


def slower_claim(dataset, placement, claim, title, slow, fast):
    """"`slow` has a slower round trip than `fast`" at their smallest common size: holds when it
    is significantly slower beyond the noise, does not hold when significantly faster,
    inconclusive when tied or with too few repetitions."""
    a, b = common_rtt(dataset, placement, slow, fast)
    if a is None:
        return not_measured(claim, title, placement, f"round trips of {slow} and {fast} at one "
                            "size", f"{slow} vs {fast}")
    cmp = stats.compare(rtt_values(a), rtt_values(b))
    status = {stats.GREATER: HOLDS, stats.LESS: DOES_NOT_HOLD}.get(cmp.outcome, INCONCLUSIVE)
    evidence = dict(cmp.as_dict(), size_bytes=a.bytes, compared=[slow, fast])
    sentence = f"at {a.bytes} B: " + comparison_words(slow, fast, cmp, "ns")
    return Verdict(claim, title, placement, status, sentence, evidence, f"{slow} vs {fast}")


def claim_fifo_vs_pipe(dataset, placement, context):
    """FIFO "medium" and pipe "fast": the FIFO's round trip is slower than the pipe's."""
    title = "A FIFO is slower than a pipe (lecture: FIFO medium, pipe fast) (004)"
    fifo, pipe = meant(dataset, "FIFO queue"), meant(dataset, "Pipe")
    if not fifo or not pipe:
        return [not_measured("fifo_slower_than_pipe", title, placement,
                             "the transports the lecture means by 'FIFO queue' and 'Pipe'")]
    return [slower_claim(dataset, placement, "fifo_slower_than_pipe", title, fifo[0], pipe[0])]


def claim_shared_memory_fastest(dataset, placement, context):
    """Shared memory is the fastest IPC: each shared-memory transport (the lecture's and each
    variant) against every inter-process byte transport of another lecture row or none, at the
    reference size: holds when significantly faster than all of them, does not hold when one of
    them is significantly faster, inconclusive otherwise."""
    title = "Shared memory is the fastest IPC (004)"
    out = []
    size = reference_size(dataset, placement)
    shared = [t for t in dataset.lecture_row("Shared memory") if t.id in dataset.transports]
    others = [t for t in inter_process_bytes(dataset)
              if dataset.info.get(t) is None or dataset.info[t].lecture_row != "Shared memory"]
    for info in shared:
        claim = f"shared_memory_fastest/{info.id}"
        own = dataset.rtt_at(placement, info.id, size) if size else None
        rivals = {t: dataset.rtt_at(placement, t, size) for t in others} if size else {}
        rivals = {t: c for t, c in rivals.items() if c is not None}
        if own is None or not rivals:
            v = not_measured(claim, title, placement, f"round trips of {info.id} and other IPC "
                             f"at {size} B", info.id)
            v.lecture_means = info.lecture_means
            out.append(v)
            continue
        comparisons = {t: stats.compare(rtt_values(own), rtt_values(c)) for t, c in rivals.items()}
        faster = [t for t, c in comparisons.items() if c.outcome == stats.GREATER]
        if any(c.outcome == stats.TOO_FEW for c in comparisons.values()):
            status = INCONCLUSIVE
        elif faster:
            status = DOES_NOT_HOLD
        elif all(c.outcome == stats.LESS for c in comparisons.values()):
            status = HOLDS
        else:
            status = INCONCLUSIVE
        # The one comparison that decides: a faster rival, else the closest one.
        key = faster[0] if faster else min(
            comparisons, key=lambda t: statistics.median(rtt_values(rivals[t])))
        sentence = (f"at {size} B against {len(rivals)} other inter-process transports: "
                    + comparison_words(info.id, key, comparisons[key], "ns")
                    + (f"; significantly faster than {info.id}: {', '.join(faster)}"
                       if faster else ""))
        evidence = {"size_bytes": size, "decisive": dict(comparisons[key].as_dict(),
                                                          against=key),
                    "outcomes": {t: c.outcome for t, c in comparisons.items()}}
        out.append(Verdict(claim, title, placement, status, sentence, evidence, info.id,
                           info.lecture_means))
    if not shared:
        out.append(not_measured("shared_memory_fastest", title, placement,
                                "a transport of the lecture row 'Shared memory'"))
    return out


def claim_semaphore_share(dataset, placement, context):
    """Shared memory needs a semaphore, and the semaphore is the larger part of its cost: the
    semaphore hand-off alone (the lecture's Semaphore) against the shared-memory round trip (the
    lecture's Shared memory). The share's range runs from the lower quartile of the semaphore's
    repetitions over the upper quartile of the shared memory's to the reverse; holds when the
    whole range is above one half, does not hold when it is all below, else inconclusive."""
    title = ("Shared memory needs a semaphore, and the semaphore is the larger part of its "
             "cost (002, 004)")
    claim = "semaphore_share_of_shared_memory"
    shm, sem = meant(dataset, "Shared memory"), meant(dataset, "Semaphore")
    a = dataset.small_rtt(placement, shm[0]) if shm else None
    b = dataset.small_rtt(placement, sem[0]) if sem else None
    if a is None or b is None:
        return [not_measured(claim, title, placement, "round trips of the lecture's shared "
                             "memory and semaphore")]
    shm_v, sem_v = rtt_values(a), rtt_values(b)
    share = statistics.median(sem_v) / statistics.median(shm_v)
    evidence = {"shared_memory": shm[0], "semaphore": sem[0], "share": round(share, 4),
                "repetitions": [len(shm_v), len(sem_v)]}
    head = (f"{sem[0]} (the semaphore hand-off alone, {b.bytes} B) "
            f"{fmt_ns(statistics.median(sem_v))} is {share:.0%} of {shm[0]} (segment + "
            f"semaphores, {a.bytes} B) {fmt_ns(statistics.median(shm_v))}")
    if min(len(shm_v), len(sem_v)) < stats.MIN_REPETITIONS:
        return [Verdict(claim, title, placement, INCONCLUSIVE,
                        head + f"; too few repetitions (fewer than {stats.MIN_REPETITIONS})",
                        evidence, shm[0])]
    q_shm = statistics.quantiles(shm_v, n=4, method="inclusive")
    q_sem = statistics.quantiles(sem_v, n=4, method="inclusive")
    low, high = q_sem[0] / q_shm[2], q_sem[2] / q_shm[0]
    evidence["share_range"] = [round(low, 4), round(high, 4)]
    if low > 0.5:
        status = HOLDS
        words = "more than half in every quartile pairing: the semaphore is the larger part"
    elif high < 0.5:
        status = DOES_NOT_HOLD
        words = ("less than half in every quartile pairing: the copy and the rest are the "
                 "larger part")
    else:
        status = INCONCLUSIVE
        words = "the range crosses one half: which part is larger cannot be told"
    return [Verdict(claim, title, placement, status,
                    f"{head}; range {low:.0%}-{high:.0%}: {words}", evidence, shm[0])]


def all_reps(dataset, placement, transport, kinds, key):
    """[(case, [per-repetition value])] of a counter over a transport's good cases."""
    out = []
    for kind in kinds:
        for c in dataset.select(kind, placement, transport):
            values = c.values(key)
            if values:
                out.append((c, values))
    return out


# An event (a lost message, a collapsed signal) counts as observed when at least this many
# repetitions saw it: one occurrence alone could be a glitch of one run.
MIN_OCCURRENCES = 2


def occurrences(found):
    """(outcome, repetitions that saw the event, repetitions) over [(case, per-repetition
    counts)]: "seen" in at least MIN_OCCURRENCES repetitions, "never", "once", or "too few"
    when a case has fewer than stats.MIN_REPETITIONS repetitions."""
    n = sum(len(vs) for _, vs in found)
    seen = sum(1 for _, vs in found for v in vs if v > 0)
    if min(len(vs) for _, vs in found) < stats.MIN_REPETITIONS:
        return "too few", seen, n
    if seen >= MIN_OCCURRENCES:
        return "seen", seen, n
    return ("never" if seen == 0 else "once"), seen, n


def occurrence_words(outcome):
    """A note for the evidence sentence when the outcome decides nothing."""
    if outcome == "too few":
        return f" (fewer than {stats.MIN_REPETITIONS} repetitions of some case)"
    if outcome == "once":
        return f" (one repetition only: at least {MIN_OCCURRENCES} are needed)"
    return ""


def claim_signal_coalescing(dataset, placement, context):
    """Repeats of a standard signal collapse while pending: in a signal stream the receiver
    counts fewer than were sent. Holds when at least MIN_OCCURRENCES repetitions of the streams
    counted collapsed signals, does not hold when none did, inconclusive when one did or with
    too few repetitions. The variants (realtime signals) get the same test: they should not
    collapse, so for them it should not hold."""
    title = "Repeats of a standard signal collapse into one while pending (002)"
    out = []
    for info in dataset.lecture_row("Signal"):
        if info.id not in dataset.transports:
            continue
        claim = f"signal_coalescing/{info.id}"
        found = all_reps(dataset, placement, info.id, (STREAM,), "coalesced")
        if not found:
            v = not_measured(claim, title, placement, f"a {info.id} stream", info.id)
            v.lecture_means = info.lecture_means
            out.append(v)
            continue
        sent = sum(sum(c.values("sent")) for c, _ in found)
        collapsed = sum(sum(vs) for _, vs in found)
        outcome, seen, n = occurrences(found)
        status = {"seen": HOLDS, "never": DOES_NOT_HOLD}.get(outcome, INCONCLUSIVE)
        sentence = (f"{info.id} streams: {collapsed:.0f} of {sent:.0f} signals sent collapsed; "
                    f"{seen} of {n} repetitions counted collapsed signals"
                    + occurrence_words(outcome))
        out.append(Verdict(claim, title, placement, status, sentence,
                           {"sent": sent, "coalesced": collapsed, "repetitions": n,
                            "repetitions_with_coalescing": seen},
                           info.id, info.lecture_means))
    return out or [not_measured("signal_coalescing", title, placement,
                                "a transport of the lecture row 'Signal'")]


def claim_datagrams_lose(dataset, placement, context):
    """Datagram sockets are not guaranteed reliable: for each socket the registry says may lose
    (UDP), a full-rate stream loses messages: holds when at least MIN_OCCURRENCES repetitions
    of its streams lost messages (counted by sequence gaps), does not hold when none did. The
    other sockets get the opposite claim (stream sockets, and Unix datagrams on Linux, are
    reliable): holds when no repetition of any round trip or stream lost a message, does not
    hold when at least MIN_OCCURRENCES did. One repetition alone, or too few repetitions:
    inconclusive."""
    out = []
    for info in dataset.lecture_row("Socket"):
        if info.id not in dataset.transports:
            continue
        lossy = info.may_lose
        claim = f"{'datagrams_lose' if lossy else 'socket_reliable'}/{info.id}"
        title = ("Datagram sockets (UDP) are not guaranteed reliable: a full-rate stream loses "
                 "messages (000, 003)" if lossy else
                 "Stream sockets (and Unix datagrams on Linux) are reliable: no message lost "
                 "(000, 003)")
        kinds = (STREAM,) if lossy else (ROUND_TRIP, STREAM)
        found = all_reps(dataset, placement, info.id, kinds, "lost")
        if not found:
            out.append(not_measured(claim, title, placement, f"{info.id} streams", info.id))
            continue
        lost = sum(sum(vs) for _, vs in found)
        sent = sum(sum(c.values("sent")) for c, _ in found)
        outcome, seen, n = occurrences(found)
        if lossy:
            status = {"seen": HOLDS, "never": DOES_NOT_HOLD}.get(outcome, INCONCLUSIVE)
        else:
            status = {"seen": DOES_NOT_HOLD, "never": HOLDS}.get(outcome, INCONCLUSIVE)
        sentence = (f"{info.id}: {lost:.0f} messages lost over {n} repetitions of "
                    f"{len(found)} cases" + (f" ({sent:.0f} sent in streams)" if sent else "")
                    + f"; {seen} of {n} repetitions lost messages" + occurrence_words(outcome))
        out.append(Verdict(claim, title, placement, status, sentence,
                           {"lost": lost, "sent_in_streams": sent, "repetitions": n,
                            "repetitions_with_loss": seen},
                           info.id, info.lecture_means))
    return out


def claim_unix_vs_inet(dataset, placement, context):
    """On one host a Unix-domain socket is cheaper than the Internet socket of the same type
    (stream with stream, datagram with datagram): the AF_INET round trip is slower."""
    title = ("Unix-domain sockets serve one host, Internet sockets many (001, 003): on one host "
             "the Internet socket is slower")
    sockets = {}
    for info in dataset.lecture_row("Socket"):
        family, kind = socket_kind(info)
        if family and kind and info.id in dataset.transports:
            sockets.setdefault(kind, {}).setdefault(family, info.id)
    out = []
    for kind, pair in sorted(sockets.items()):
        if "unix" in pair and "inet" in pair:
            out.append(slower_claim(dataset, placement, f"inet_slower_than_unix/{kind}", title,
                                    pair["inet"], pair["unix"]))
    return out or [not_measured("inet_slower_than_unix", title, placement,
                                "an AF_UNIX and an AF_INET socket of one type")]


def claim_pipe_capacity(dataset, placement, context):
    """A pipe has a fixed capacity; a writer with more to write than fits blocks. A message of B
    bytes through a pipe of capacity C (limit_pipe_default_bytes) needs at least B/C hand-offs,
    each a wait: holds when, at the largest streamed size B >= 4C, every repetition switched
    context at least B/C - 1 times per message; does not hold when every repetition switched at
    most twice (one wake-up each way: the writer never found the pipe full); else inconclusive."""
    title = "A pipe has a fixed capacity; writing to a full pipe blocks (002, 004)"
    claim = "pipe_capacity_blocks"
    pipe = meant(dataset, "Pipe")
    try:
        capacity = int(str(context.get("limit_pipe_default_bytes", "")))
    except ValueError:
        capacity = None
    if not pipe or capacity is None or capacity <= 0:
        return [not_measured(claim, title, placement, "a pipe stream and "
                             "limit_pipe_default_bytes in the context")]
    found = [(c, c.values("ctx_switches_per_msg"))
             for c in dataset.select(STREAM, placement, pipe[0])
             if c.bytes and c.bytes >= 4 * capacity and c.values("ctx_switches_per_msg")]
    if not found:
        return [not_measured(claim, title, placement, f"a {pipe[0]} stream of at least "
                             f"{4 * capacity} B (four times the capacity)", pipe[0])]
    case, values = found[-1]
    bound = case.bytes / capacity - 1
    evidence = {"capacity_bytes": capacity, "size_bytes": case.bytes, "bound": bound,
                "ctx_switches_per_msg": values}
    sentence = (f"{pipe[0]} stream of {case.bytes} B through a {capacity} B pipe: "
                f"{min(values):.3g}-{max(values):.3g} context switches per message over "
                f"{len(values)} repetitions (a full pipe forces at least {bound:.3g})")
    if len(values) < stats.MIN_REPETITIONS:
        status = INCONCLUSIVE
        sentence += f"; fewer than {stats.MIN_REPETITIONS} repetitions"
    elif all(v >= bound for v in values):
        status = HOLDS
    elif all(v <= 2 for v in values):
        status = DOES_NOT_HOLD
    else:
        status = INCONCLUSIVE
    return [Verdict(claim, title, placement, status, sentence, evidence, pipe[0], True)]


def claim_queue_sizes(dataset, placement, context):
    """Message queues have a fixed largest message: for each transport of a family named for
    queues, holds when it carried messages up to a size and a larger one was refused at its
    limit; does not hold when it carried a message larger than the limit it declares; else
    inconclusive (no size in the input reached the limit)."""
    title = "Message queues keep message boundaries and have a fixed largest message (002)"
    out = []
    for info in dataset.info.values():
        if "queue" not in info.family.lower() or info.lecture_row == "FIFO queue":
            continue
        if info.id not in dataset.transports:
            continue
        claim = f"queue_fixed_size/{info.id}"
        largest = dataset.largest_carried(placement, info.id)
        if largest is None:
            out.append(not_measured(claim, title, placement, f"{info.id} cases", info.id))
            continue
        refused = sorted((c.bytes, c.unsupported) for c in dataset.cases
                         if c.subject == info.id and c.placement == placement
                         and c.unsupported is not None and c.bytes and c.bytes > largest)
        limit = info.max_message_bytes
        evidence = {"largest_carried_bytes": largest, "declared_max_bytes": limit,
                    "refused": [{"bytes": b, "reason": r} for b, r in refused]}
        if limit is not None and largest > limit:
            status = DOES_NOT_HOLD
            sentence = f"{info.id} carried {largest} B, above the {limit:.0f} B it declares"
        elif refused:
            status = HOLDS
            sentence = (f"{info.id} carried up to {largest} B; {refused[0][0]} B refused: "
                        f"{refused[0][1]}")
        else:
            status = INCONCLUSIVE
            sentence = (f"{info.id} carried every size in the input (up to {largest} B): no "
                        "size reached a limit")
        out.append(Verdict(claim, title, placement, status, sentence, evidence, info.id,
                           info.lecture_means))
    return out or [not_measured("queue_fixed_size", title, placement, "a message queue")]


CLAIMS = (
    claim_shared_memory_fastest,
    claim_fifo_vs_pipe,
    claim_pipe_capacity,
    claim_signal_coalescing,
    claim_datagrams_lose,
    claim_semaphore_share,
    claim_unix_vs_inet,
    claim_queue_sizes,
)


def other_claims(dataset, placement, context):
    """Every verdict of CLAIMS at one placement, in order."""
    out = []
    for claim in CLAIMS:
        out += claim(dataset, placement, context)
    return out


# ---------------------------------------------------------------------------------------------
# The many-process patterns

def lecture_servers(dataset):
    """The lecture's server sockets: connection-oriented (SOCK_STREAM) sockets of the Socket
    row whose fan-in form is supported (one listening socket, one data socket per client)."""
    return [t.id for t in dataset.lecture_row("Socket")
            if socket_kind(t)[1] == "stream" and t.form("fan_in").get("supported")]


def claim_server(dataset, placement):
    """A server keeps one listening socket and one data socket per client and serves them in a
    loop (001, 003): per connection-oriented socket, FanIn with N > 1 ran with every client's
    every round trip answered (lost 0, no failed client): holds; a FanIn case of it errored or
    lost messages: does not hold; not measured: inconclusive."""
    title = ("A server keeps one master (listening) socket and one data socket per client, and "
             "serves its clients in a loop (001, 003)")
    pattern = PATTERNS[FAN_IN]
    out = []
    for t in lecture_servers(dataset):
        claim = f"server_loop/{t}"
        cases = [c for c in dataset.cases if c.kind == FAN_IN and c.placement == placement
                 and c.subject == t and c.unsupported is None]
        bad = [c for c in cases if not c.good]
        good = [c for c in cases if c.good and (c.params.get(pattern.n_key) or 0) > 1]
        lost = sum(c.get("lost") or 0 for c in good)
        ns = [c.params.get(pattern.n_key) for c in good]
        if bad or lost:
            status = DOES_NOT_HOLD
            sentence = (f"{t}: " + "; ".join(
                f"{c.name}: {c.error or 'corrupt data or failed clients'}" for c in bad)
                        + (f"; lost {lost:.0f} round trips" if lost else ""))
        elif good:
            status = HOLDS
            sentence = (f"{t}: one server served N = {', '.join(str(n) for n in ns)} clients "
                        "in one loop, every client's every round trip answered (lost 0)")
        else:
            out.append(not_measured(claim, title, placement, f"FanIn/{t} with more than one "
                                    "client", t))
            continue
        out.append(Verdict(claim, title, placement, status, sentence,
                           {"clients": ns, "lost": lost, "errored": [c.name for c in bad]}, t,
                           True))
    return out


def claim_mailbox(dataset, placement):
    """A mailbox can broadcast to several processes (002): FanOut with N > 1 delivered every
    message to every consumer (lost and reordered 0) over at least one transport: holds; every
    FanOut case with N > 1 lost, reordered or errored: does not hold; none: inconclusive."""
    title = "A mailbox can broadcast to several processes (002)"
    pattern = PATTERNS[FAN_OUT]
    cases = [c for c in dataset.cases if c.kind == FAN_OUT and c.placement == placement
             and c.unsupported is None and (c.params.get(pattern.n_key) or 0) > 1]
    if not cases:
        return [not_measured("mailbox_broadcast", title, placement,
                             "FanOut with more than one consumer")]
    complete = [c for c in cases if c.good
                and (c.get("lost") or 0) + (c.get("reordered") or 0) == 0]
    transports = unique(c.subject for c in complete)
    if complete:
        status = HOLDS
        most = max(c.params.get(pattern.n_key) for c in complete)
        sentence = (f"one producer delivered every message to each of up to {most} consumers "
                    f"over {len(transports)} transports ({', '.join(transports)})")
    else:
        status = DOES_NOT_HOLD
        sentence = "no FanOut case with more than one consumer delivered every message"
    return [Verdict("mailbox_broadcast", title, placement, status, sentence,
                    {"complete": [c.name for c in complete],
                     "incomplete": [c.name for c in cases if c not in complete]})]


PATTERN_CLAIMS = {FAN_IN: claim_server, FAN_OUT: claim_mailbox}


# ---------------------------------------------------------------------------------------------
# Two hosts

HOSTS_CLAIM = "inet_serves_hosts"
HOSTS_TITLE = "Internet sockets (AF_INET) serve processes on different hosts (001, 003)"


def inet_sockets(dataset):
    """The AF_INET sockets of the lecture's Socket row, registry order: from the transport list
    of the peer run (when there is one), then of the local runs."""
    out = []
    for side in ([dataset.peer] if dataset.peer is not None else []) + [dataset]:
        for info in side.lecture_row("Socket"):
            if socket_kind(info)[0] == "inet" and info.id not in out:
                out.append(info.id)
    return out


def rep_sum(cases, key):
    """The sum of a counter over every repetition of the cases (0 when none carries it)."""
    return sum(sum(c.values(key)) for c in cases)


def round_trips_back(case):
    """How many round trips of a case came back, summed over its repetitions: its samples
    counter (iterations for a row without one)."""
    return sum(case.values("samples")) or sum(case.values("iterations"))


def served_between_hosts(peer, transport):
    """(status, evidence dict, words) of one AF_INET socket between the two hosts, from its
    RoundTrip cases in the peer run: does not hold when one errored, delivered a corrupt message
    or had no round trip come back; holds when every one ran, each round trip came back checked
    (received > 0, corrupt 0; losses counted and stated); inconclusive when none ran or a row
    does not record the corrupt count."""
    cases = [c for c in peer.cases if c.kind == ROUND_TRIP and c.subject == transport]
    ran = [c for c in cases if c.unsupported is None]
    if not ran:
        why = unique(c.unsupported for c in cases)
        return INCONCLUSIVE, {"round_trip_cases": 0}, (
            f"{transport}: no round trip ran between the hosts"
            + (f" (unsupported: {why[0]})" if why else " (no RoundTrip row)"))
    errored = [c for c in ran if c.error is not None]
    done = [c for c in ran if c.error is None]
    back, corrupt, lost = (sum(round_trips_back(c) for c in done), rep_sum(done, "corrupt"),
                           rep_sum(done, "lost"))
    empty = [c for c in done if round_trips_back(c) <= 0]
    unchecked = [c for c in done if not c.values("corrupt")]
    evidence = {"round_trip_cases": len(ran), "errored": {c.name: c.error for c in errored},
                "round_trips_back": back, "corrupt": corrupt, "lost": lost}
    small = peer.small_rtt(BETWEEN_HOSTS, transport)
    peak = peer.peak_stream(BETWEEN_HOSTS, transport)
    words = (f"{transport}: {len(done)} of {len(ran)} round-trip cases ran without error, "
             f"{back:.0f} round trips came back with {corrupt:.0f} corrupt and {lost:.0f} lost")
    if small is not None:
        evidence.update(rtt_p50_ns=small.get("p50_ns"), rtt_bytes=small.bytes)
        n = len(small.reps)
        words += (f"; RTT p50 {fmt_ns(small.get('p50_ns'))} at {small.bytes} B (median of "
                  f"{n} repetition{'' if n == 1 else 's'})")
    if peak is not None:
        streams = peer.select(STREAM, BETWEEN_HOSTS, transport)
        sent, streamed_lost = rep_sum(streams, "sent"), rep_sum(streams, "lost")
        evidence.update(stream_bytes_per_second=peak.get("bytes_per_second"),
                        stream_bytes=peak.bytes, stream_lost=streamed_lost, stream_sent=sent)
        words += (f"; stream {fmt_bps(peak.get('bytes_per_second'))} "
                  f"({peak.get('items_per_second'):.0f} msg/s) at {peak.bytes} B, "
                  f"{streamed_lost:.0f} of {sent:.0f} streamed messages lost")
    stream_errors = [c for c in peer.cases if c.kind == STREAM and c.subject == transport
                     and c.error is not None]
    if stream_errors:
        evidence["stream_errored"] = {c.name: c.error for c in stream_errors}
        words += "; stream errored: " + "; ".join(f"{c.name}: {c.error}" for c in stream_errors)
    if errored:
        return DOES_NOT_HOLD, evidence, (
            words + "; errored: " + "; ".join(f"{c.name}: {c.error}" for c in errored))
    if corrupt > 0:
        return DOES_NOT_HOLD, evidence, words + ": a message arrived corrupt"
    if empty:
        return DOES_NOT_HOLD, evidence, (words + ": no round trip came back in "
                                         + ", ".join(c.name for c in empty))
    if unchecked:
        return INCONCLUSIVE, evidence, (words + ": the rows do not record a corrupt count, so "
                                        "whether every message was checked is not known")
    return HOLDS, evidence, words


def claim_inet_between_hosts(dataset):
    """Internet sockets serve processes on different hosts (001, 003), judged from the peer run
    (ipcbench --peer): for each AF_INET socket of the lecture's Socket row, see
    served_between_hosts; the claim holds when every one holds, does not hold when one does
    not, and is inconclusive otherwise, and without a peer run."""
    if dataset.peer is None:
        return Verdict(HOSTS_CLAIM, HOSTS_TITLE, BETWEEN_HOSTS, INCONCLUSIVE,
                       "not measured: no two-host run was given (ipcbench --peer=ADDR:PORT "
                       "against `ipcbench --serve` on the other host; scripts/run-suite.sh "
                       "--peer=ADDR:PORT passes it to the report)",
                       {"needs": "a two-host run (context ipcbench_peer_address)"})
    run = dataset.peer.runs[0]
    sockets = inet_sockets(dataset)
    if not sockets:
        return Verdict(HOSTS_CLAIM, HOSTS_TITLE, BETWEEN_HOSTS, INCONCLUSIVE,
                       "the input's transport list has no AF_INET socket in the lecture's Socket "
                       "row", {"peer_address": run.peer_address, "file": run.path})
    judged = {t: served_between_hosts(dataset.peer, t) for t in sockets}
    status = combine([s for s, _, _ in judged.values()])
    sentence = (f"between this host and {run.peer_address}: "
                + "; ".join(words for _, _, words in judged.values()))
    evidence = {"peer_address": run.peer_address, "file": run.path,
                "transports": {t: dict(e, status=s) for t, (s, e, _) in judged.items()}}
    return Verdict(HOSTS_CLAIM, HOSTS_TITLE, BETWEEN_HOSTS, status, sentence, evidence,
                   ", ".join(sockets))


# ---------------------------------------------------------------------------------------------
# Everything

def all_verdicts(dataset):
    """Every verdict of the report: the lecture's table and its other claims per placement of
    the pair cases, then the pattern claims per group of pattern rows, then the claim judged
    between two hosts (inconclusive without a peer run)."""
    out = []
    for placement in dataset.placements:
        context = next((r.context for r in dataset.runs
                        if any(c.placement == placement for c in r.cases)), {})
        for mechanism, row in table_verdicts(dataset, placement).items():
            out += [row["speed"], row["volume"]] + row["members"]
        out += other_claims(dataset, placement, context)
    for placement in dataset.pattern_placements:
        for kind, claim in PATTERN_CLAIMS.items():
            if any(c.kind == kind and c.placement == placement for c in dataset.cases):
                out += claim(dataset, placement)
    out.append(claim_inet_between_hosts(dataset))
    return out


def verdicts_json(verdicts):
    """The list verdicts.json holds."""
    return [v.as_json() for v in verdicts]
