"""results/COMPARE.md: the machines of results/ side by side. One run per machine folder (the
full-profile run when there is one, else the first run in name order), and per lecture row and
transport its 64 B round trip on two CPUs and on one CPU and its peak stream, each machine
against the first with stats.compare (a difference only when significant and larger than the
noise; a tie otherwise; too few under stats.MIN_REPETITIONS repetitions a side). What confounds
the comparison (other git revisions, other profiles) is said from the files' contexts.
"""

import difflib
import os
from dataclasses import dataclass

from . import stats
from .fmt import fmt_sig, md_table, md_wrap
from .load import TRANSPORTS_KEY, file_placement, load_run, read_json
from .model import LECTURE_TABLE, Dataset, InputError
from .readme import FILES, PLACEMENT_WORDS, RTT_BYTES, p50s, rtt_case, rtt_cell, stream_cell

OUTPUT = "COMPARE.md"
GENERATOR = "plots/compare_machines.py"
FULL = "full"
# Google Benchmark's compare.py runs its U test from 2 repetitions per case in both files
# (UTEST_MIN_REPETITIONS) and wants 9 for a confident answer (UTEST_OPTIMAL_REPETITIONS).
COMPARE_PY_MIN = 2
COMPARE_PY_REPETITIONS = 9


@dataclass
class Machine:
    """One machine folder and the run chosen to stand for it."""

    name: str  # the folder under results/
    folder: str  # the chosen run's folder, relative to results/
    why: str  # why that run was chosen
    others: list  # the other runs' folders, relative to results/
    dataset: Dataset
    placements: tuple  # (two-CPU placement, one-CPU placement or None)
    borrowed: str = None  # whose ipcbench_transports stood in for this run's missing one

    @property
    def context(self):
        """The context of the two-CPU file."""
        return self.dataset.runs[0].context

    def contexts(self):
        """The contexts of every file of the run."""
        return [r.context for r in self.dataset.runs]

    def repetitions(self):
        """(fewest, most) repetitions of a good case, or (0, 0)."""
        counts = [len(c.reps) for c in self.dataset.cases if c.good and c.reps]
        return (min(counts), max(counts)) if counts else (0, 0)


def runs_of(machine_dir):
    """The run folders of one machine folder: itself when it holds the two-CPU file, then its
    subfolders that do, in name order."""
    out = [machine_dir] if os.path.isfile(os.path.join(machine_dir, FILES[0])) else []
    for sub in sorted(os.listdir(machine_dir)):
        path = os.path.join(machine_dir, sub)
        if os.path.isdir(path) and os.path.isfile(os.path.join(path, FILES[0])):
            out.append(path)
    return out


def profile_of(run_dir):
    """The ipcbench_profile of a run's two-CPU file ("not recorded" when absent)."""
    path = os.path.join(run_dir, FILES[0])
    data = read_json(path)
    context = data.get("context") if isinstance(data, dict) else None
    if not isinstance(context, dict):
        raise InputError(f"{path}: not Google Benchmark JSON output (no 'context' object)")
    return str(context.get("ipcbench_profile", "not recorded")), context


def choose(runs):
    """(chosen run folder, its context, why): the first full-profile run, else the first run."""
    profiles = [(run, *profile_of(run)) for run in runs]
    for run, profile, context in profiles:
        if profile == FULL:
            return run, context, "the full-profile run"
    run, profile, context = profiles[0]
    if len(runs) == 1:
        return run, context, "the only run"
    return run, context, f"no full-profile run: the first in name order (`{profile}` profile)"


def find_machines(results_dir):
    """[(machine name, [run folders])] of every machine folder under results_dir, in name
    order; InputError when the folder is missing or holds none."""
    if not os.path.isdir(results_dir):
        raise InputError(f"{results_dir}: no such folder (give the results folder)")
    found = []
    for name in sorted(os.listdir(results_dir)):
        path = os.path.join(results_dir, name)
        if os.path.isdir(path):
            runs = runs_of(path)
            if runs:
                found.append((name, runs))
    if not found:
        raise InputError(f"{results_dir}: no machine folder (a folder holding {FILES[0]}, "
                         "directly or in a run folder of its own)")
    return found


def load_machines(results_dir):
    """Every machine with its chosen run loaded. A run older than ipcbench_transports borrows
    the list of the first chosen run that has it (lecture rows and families, matched by id)."""
    def rel(path):
        return os.path.relpath(path, results_dir).replace(os.sep, "/")

    chosen = []
    for name, runs in find_machines(results_dir):
        run, context, why = choose(runs)
        chosen.append((name, run, context, why, [r for r in runs if r != run]))
    lender = next(((rel(run), context[TRANSPORTS_KEY])
                   for _, run, context, _, _ in chosen if TRANSPORTS_KEY in context), None)
    machines = []
    for name, run, context, why, others in chosen:
        borrowed = None
        fallback = None
        if TRANSPORTS_KEY not in context and lender is not None:
            borrowed, fallback = lender
        files = [os.path.join(run, f) for f in FILES if os.path.isfile(os.path.join(run, f))]
        dataset = Dataset([load_run(f, fallback) for f in files])
        placements = tuple(file_placement(r.context) for r in dataset.runs)
        machines.append(Machine(name, rel(run), why, [rel(o) for o in others], dataset,
                                placements + (None,) * (len(FILES) - len(placements)),
                                borrowed))
    return machines


# ---------------------------------------------------------------------------------------------
# The tables

def rtt_of(machine, index, transport):
    """The round trip a machine's table shows at placement `index` (0 two CPUs, 1 one CPU)."""
    placement = machine.placements[index]
    return None if placement is None else rtt_case(machine.dataset, placement, transport)


def stream_of(machine, index, transport):
    """The peak stream a machine's table shows at placement `index`."""
    placement = machine.placements[index]
    return None if placement is None else machine.dataset.peak_stream(placement, transport)


def stream_values(case):
    """A stream's per-repetition figure: bytes/s, or messages/s for a bare notification."""
    if case is None:
        return []
    return case.values("bytes_per_second" if case.bytes else "items_per_second")


# (title, placement index, case finder, cell, per-repetition values, words for a lower and a
# higher value of the later machine)
METRICS = (
    (f"Round trip p50 at {RTT_BYTES} B, {PLACEMENT_WORDS[0]} (µs)", 0, rtt_of, rtt_cell, p50s,
     "faster", "slower"),
    (f"Round trip p50 at {RTT_BYTES} B, {PLACEMENT_WORDS[1]} (µs)", 1, rtt_of, rtt_cell, p50s,
     "faster", "slower"),
    (f"Peak stream, {PLACEMENT_WORDS[0]} (MB/s = 10^6 bytes/s, at the size of the highest rate)",
     0, stream_of, stream_cell, stream_values, "less", "more"),
    (f"Peak stream, {PLACEMENT_WORDS[1]} (MB/s = 10^6 bytes/s, at the size of the highest rate)",
     1, stream_of, stream_cell, stream_values, "less", "more"),
)


def outcome_cell(cmp, lower, higher):
    """A comparison in a table cell."""
    if cmp.outcome == stats.TOO_FEW:
        return f"too few repetitions ({cmp.n_a} and {cmp.n_b})"
    if cmp.outcome == stats.TIED:
        return f"tie ({fmt_sig(cmp.ratio)}x, p = {fmt_sig(cmp.p_value, 2)})"
    word = lower if cmp.outcome == stats.LESS else higher
    return f"**{fmt_sig(cmp.ratio)}x {word}** (p = {fmt_sig(cmp.p_value, 2)})"


def all_transports(machines):
    """[TransportInfo] of every machine, in the registry order of the first that lists one."""
    out = {}
    for m in machines:
        for info in m.dataset.info.values():
            out.setdefault(info.id, info)
    return list(out.values())


def table_rows(machines):
    """[(lecture row cell, transport cell, id)]: the lecture's rows in its order (registry order
    within a row, variants marked), then every transport of no lecture row; only transports
    measured on some machine."""
    measured = {t for m in machines for t in m.dataset.transports}
    infos = [i for i in all_transports(machines) if i.id in measured]
    rows = []
    for mechanism, _, _ in LECTURE_TABLE:
        for info in [i for i in infos if i.lecture_row == mechanism]:
            rows.append((mechanism, f"`{info.id}`" + ("" if info.lecture_means else " (variant)"),
                         info.id))
    rows += [(f"none ({info.family})", f"`{info.id}`", info.id) for info in infos
             if info.lecture_row not in {m for m, _, _ in LECTURE_TABLE}]
    return rows


def metric_table(machines, metric, outcomes):
    """One metric's table: a column per machine, then each machine against the first. Appends
    (machine, transport, metric title, Comparison, words) to `outcomes`."""
    title, index, find, cell, values, lower, higher = metric
    first = machines[0]
    header = (["Lecture row", "Transport"] + [f"`{m.name}`" for m in machines]
              + [f"`{m.name}` against `{first.name}`" for m in machines[1:]])
    rows = []
    for mechanism, label, t in table_rows(machines):
        cases = [find(m, index, t) for m in machines]
        row = [mechanism, label] + [cell(c) for c in cases]
        for m, case in zip(machines[1:], cases[1:]):
            if case is None or cases[0] is None:
                row.append("not measured on both")
                continue
            if find is rtt_of and case.bytes != cases[0].bytes:
                row.append("other message sizes")
                continue
            cmp = stats.compare(values(case), values(cases[0]))
            outcomes.append((m, t, title, cmp, (lower, higher)))
            row.append(outcome_cell(cmp, lower, higher))
        rows.append(row)
    return [f"### {title}", "", md_table(header, rows), ""]


# ---------------------------------------------------------------------------------------------
# The sections

def revision_words(revision):
    """A git revision, saying when the tree had uncommitted changes."""
    return (f"{revision[:-len('-dirty')]} with uncommitted changes" if revision.endswith("-dirty")
            else revision)


def machines_table(machines):
    """One column per machine: where its numbers come from."""
    def values(m, key):
        found = []
        for ctx in m.contexts():
            value = str(ctx.get(key, "not recorded"))
            if value not in found:
                found.append(value)
        return ", ".join(found)

    def reps(m):
        low, high = m.repetitions()
        return str(low) if low == high else f"{low} to {high}"

    rows = [
        ["run folder (results/...)", *[f"`{m.folder}`" for m in machines]],
        ["why this run", *[m.why for m in machines]],
        ["other runs here", *[", ".join(f"`{o}`" for o in m.others) or "none"
                              for m in machines]],
        ["files", *[", ".join(f"`{os.path.basename(r.path)}`" for r in m.dataset.runs)
                    for m in machines]],
        ["CPU model", *[values(m, "cpu_model") for m in machines]],
        ["CPUs", *[values(m, "num_cpus") for m in machines]],
        ["virtual machine", *[values(m, "virtual_machine") for m in machines]],
        ["kernel", *[values(m, "kernel") for m in machines]],
        ["profile", *[values(m, "ipcbench_profile") for m in machines]],
        ["repetitions per case", *[reps(m) for m in machines]],
        ["git revision", *[values(m, "ipcbench_git_revision") for m in machines]],
        ["date", *[values(m, "date") for m in machines]],
    ]
    return md_table(["", *[f"`{m.name}`" for m in machines]], rows)


def confound_lines(machines):
    """What besides the machine differs between the columns, from the contexts."""
    out = []
    revisions = {m.name: [str(c.get("ipcbench_git_revision", "not recorded"))
                          for c in m.contexts()] for m in machines}
    distinct = {r for rs in revisions.values() for r in rs}
    if len(distinct) > 1:
        out.append("- **The runs come from different git revisions** (" + "; ".join(
            f"`{name}`: " + ", ".join(revision_words(r) for r in dict.fromkeys(rs))
            for name, rs in revisions.items()) + "). The code measured is not the same, which "
            "confounds a machine comparison: a difference between the columns may come from "
            "the code, not the machine.")
    else:
        out.append(f"- Every run comes from git revision {revision_words(distinct.pop())}.")
    profiles = {str(m.context.get("ipcbench_profile", "not recorded")) for m in machines}
    if len(profiles) > 1:
        out.append("- The runs use different profiles (" + "; ".join(
            f"`{m.name}`: {m.context.get('ipcbench_profile', 'not recorded')}"
            for m in machines) + "): iteration counts and repetitions differ too.")
    for m in machines:
        if m.borrowed:
            out.append(f"- `{m.name}`'s files predate the context key `{TRANSPORTS_KEY}`: its "
                       "transports' lecture rows and families are taken from the list in "
                       f"`{m.borrowed}`, matched by id. Its numbers are its own.")
    return out


def few_lines(machines):
    """Which machines have too few repetitions for any comparison, and why that matters."""
    out = []
    for m in machines:
        low, high = m.repetitions()
        if high < stats.MIN_REPETITIONS:
            count = f"{high} repetition" + ("s" if high != 1 else "") + " per case"
            out.append(
                f"- **`{m.name}` cannot be compared: its run has {count}.** stats.compare, the "
                f"report's rule, needs at least {stats.MIN_REPETITIONS} repetitions a side; "
                f"with fewer, every comparison with `{m.name}` says \"too few repetitions\", "
                "and none of its differences is called significant. Its medians are still "
                "shown side by side, but a ratio from so few repetitions decides nothing: "
                "nothing measures its noise, and on a shared virtual machine a case moves "
                "between runs by more than its repetitions show (METHOD.md). Run "
                f"`scripts/run-suite.sh --out results/{m.name}` there again to compare it.")
    return out


def summary_lines(machines, outcomes):
    """Per machine after the first: the significant differences, then the count of ties and of
    comparisons with too few repetitions."""
    out = []
    first = machines[0]
    for m in machines[1:]:
        mine = [o for o in outcomes if o[0] is m]
        differ = [o for o in mine if o[3].differs]
        tied = sum(1 for o in mine if o[3].outcome == stats.TIED)
        few = sum(1 for o in mine if o[3].outcome == stats.TOO_FEW)
        head = f"- `{m.name}` against `{first.name}`: "
        if few == len(mine):
            out.append(head + f"every one of the {len(mine)} comparisons has too few "
                       "repetitions, so no difference between these machines is called "
                       "significant.")
            continue
        counts = (f"of {len(mine)} comparisons, {len(differ)} differ significantly, {tied} tie, "
                  f"{few} have too few repetitions")
        if not differ:
            out.append(head + counts + ": no difference between these machines is significant.")
            continue
        said = "; ".join(
            f"`{t}` {fmt_sig(cmp.ratio)}x {words[0] if cmp.outcome == stats.LESS else words[1]} "
            f"({title[0].lower() + title[1:]}, p = {fmt_sig(cmp.p_value, 2)})"
            for _, t, title, cmp, words in differ)
        out.append(head + counts + ". Significant: " + said + ".")
    return out


def command_lines(results_dir, machines):
    """How to compare two runs with Google Benchmark's compare.py, for these folders."""
    base = os.path.basename(os.path.abspath(results_dir))
    first = machines[0]
    lines = ["Google Benchmark's own `compare.py` compares two files case by case with its "
             "Mann-Whitney U test (`scripts/compare-runs.sh`, see README.md in this folder). Its "
             f"U test wants at least {COMPARE_PY_REPETITIONS} repetitions per case in both "
             f"files; it runs from {COMPARE_PY_MIN} but warns that its answer is not confident, "
             "and with a single repetition it prints only each case's change.", "", "```sh"]
    for m in machines[1:]:
        for f in FILES:
            a, b = (f"{base}/{x.folder}/{f}" for x in (first, m))
            if all(os.path.isfile(os.path.join(results_dir, x.folder, f)) for x in (first, m)):
                lines.append(f"scripts/compare-runs.sh {a} {b}")
    lines += ["```", ""]
    short = [m for m in machines if m.repetitions()[0] < COMPARE_PY_REPETITIONS]
    if short:
        fewest = min(m.repetitions()[0] for m in short)
        effect = ("its U test does not run on these files" if fewest < COMPARE_PY_MIN else
                  "its U test runs, with a warning that the answer is not confident")
        lines.append("Here " + ", ".join(
            f"`{m.name}` has {m.repetitions()[0]} per case" for m in short)
            + f" (fewer than {COMPARE_PY_REPETITIONS}): {effect}.")
    else:
        lines.append(f"Every run here has {COMPARE_PY_REPETITIONS} or more repetitions per case: "
                     "compare.py's U test runs.")
    return lines


def compare_text(results_dir):
    """The text of COMPARE.md for the machines under results_dir."""
    machines = load_machines(results_dir)
    outcomes = []
    tables = []
    for metric in METRICS:
        tables += metric_table(machines, metric, outcomes)
    lines = ["# The machines side by side", "",
             f"Generated by `{GENERATOR} {os.path.basename(os.path.abspath(results_dir))} "
             "--write` from the files named below: do not edit by hand.", "",
             "One run stands for each machine folder: the full-profile run when the folder has "
             "one, else the first run in name order. RTT is the full round trip, p50 over every "
             "timed message, median of the run's repetitions.", "",
             "## The runs", "", machines_table(machines), ""]
    lines += confound_lines(machines) + [""]
    if len(machines) > 1:
        lines += ["## Which differences are significant", "",
                  f"Each machine is compared with the first column, `{machines[0].name}`, case "
                  "by case, with the rule of the report (stats.compare): over the two runs' "
                  f"repetitions, a difference only when a two-sided U test gives p < "
                  f"{stats.ALPHA} and the medians differ by at least the noise threshold "
                  f"({stats.MIN_EFFECT:g}x, or more when a case's own repetitions spread more); "
                  f"otherwise a tie; and nothing is compared under {stats.MIN_REPETITIONS} "
                  "repetitions a side.", ""]
        lines += few_lines(machines) + summary_lines(machines, outcomes) + [""]
    else:
        lines += ["Only one machine folder: nothing to compare yet.", ""]
    lines += ["## Figures", ""] + tables
    lines += ["## Comparing two runs with compare.py", ""] + command_lines(results_dir, machines)
    return "\n".join(wrapped(lines)) + "\n"


def wrapped(lines):
    """The lines with prose and list items wrapped at 100 columns (tables, headings and code
    blocks as they are)."""
    out, in_code = [], False
    for line in "\n".join(lines).split("\n"):
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line or line.startswith(("|", "#", "```")):
            out.append(line)
        elif line.startswith("- "):
            out.append(md_wrap(line[2:], bullet=True))
        else:
            out.append(md_wrap(line))
    return out


def check(current, generated, path):
    """"" when `current` is `generated`, else a unified diff (file -> the results)."""
    if current == generated:
        return ""
    return "".join(difflib.unified_diff(current.splitlines(keepends=True),
                                        generated.splitlines(keepends=True), fromfile=path,
                                        tofile="generated from the results"))
