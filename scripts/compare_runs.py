#!/usr/bin/python3
"""Compares two ipcbench runs with Google Benchmark's own tool, compare.py (Debian package
libbenchmark-tools), keeping its two-sided Mann-Whitney U test. Used by scripts/compare-runs.sh.

Usage: compare_runs.py A.json B.json [compare.py options, e.g. --alpha 0.01]

Checks both files first (missing, not JSON, not Google Benchmark output: exit 2 with a message
naming the file). compare.py needs every row to carry real_time, cpu_time and time_unit: an
errored row (error_occurred) or a row without them is left out of the copies it reads, and each
is listed. The U test only runs for cases with at least 2 repetitions in both files, and
compare.py warns that it needs at least 9 for a confident answer: run ipcbench with
--benchmark_repetitions=9 or more (scripts/run-suite.sh --quick does).
"""

import json
import os
import subprocess
import sys
import tempfile

COMPARE = os.environ.get("IPCBENCH_COMPARE_PY", "/usr/share/benchmark/compare.py")
PROG = "compare-runs"
EXIT_BAD_INPUT = 2
UTEST_MIN = 9  # compare.py's UTEST_OPTIMAL_REPETITIONS
TIME_FIELDS = ("real_time", "cpu_time", "time_unit")
MAX_NOTES = 10  # rows left out listed one by one; the rest counted


class BadInput(Exception):
    """A file that cannot be compared; the message names it."""


def read_run(path):
    """The parsed Google Benchmark JSON of `path`; BadInput when it is not that."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except OSError as e:
        raise BadInput(f"{path}: cannot read the file: {e.strerror or e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{path}: not JSON ({getattr(e, 'msg', e)})") from None
    if not (isinstance(data, dict) and isinstance(data.get("context"), dict)
            and isinstance(data.get("benchmarks"), list)):
        raise BadInput(f"{path}: not Google Benchmark JSON output (expected an object with a "
                       "'context' object and a 'benchmarks' list)")
    if not data["benchmarks"]:
        raise BadInput(f"{path}: the 'benchmarks' list is empty: nothing to compare")
    for i, row in enumerate(data["benchmarks"]):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise BadInput(f"{path}: benchmarks[{i}] has no 'name' string")
    return data


def comparable(path, data):
    """(rows compare.py can read, notes on the rows left out)."""
    keep, notes = [], []
    for row in data["benchmarks"]:
        if row.get("error_occurred"):
            notes.append(f"{os.path.basename(path)}: left out {row['name']} (errored: "
                         f"{row.get('error_message', 'no message')})")
        elif not all(k in row for k in TIME_FIELDS):
            notes.append(f"{os.path.basename(path)}: left out {row['name']} (no "
                         + "/".join(k for k in TIME_FIELDS if k not in row) + ")")
        else:
            keep.append(row)
    return keep, notes


def repetitions(rows):
    """The fewest repetitions of any case (iteration rows per run name)."""
    counts = {}
    for row in rows:
        if row.get("run_type", "iteration") != "aggregate":
            name = row.get("run_name", row["name"])
            counts[name] = counts.get(name, 0) + 1
    return min(counts.values()) if counts else 0


def main(argv):
    """Runs the comparison; returns the exit status."""
    if len(argv) < 2 or argv[0].startswith("-") or argv[1].startswith("-"):
        print(f"usage: {PROG} A.json B.json [compare.py options]", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not os.path.exists(COMPARE):
        print(f"{PROG}: error: {COMPARE} not found: install the Debian package "
              "libbenchmark-tools (and python3-scipy for its U test)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        runs = [(p, read_run(p)) for p in argv[:2]]
    except BadInput as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with tempfile.TemporaryDirectory(prefix="ipcbench-compare-") as tmp:
        copies, fewest = [], None
        for i, (path, data) in enumerate(runs):
            rows, notes = comparable(path, data)
            for note in notes[:MAX_NOTES]:
                print(f"{PROG}: {note}", file=sys.stderr)
            if len(notes) > MAX_NOTES:
                print(f"{PROG}: {os.path.basename(path)}: ... and {len(notes) - MAX_NOTES} more "
                      "rows left out", file=sys.stderr)
            if not rows:
                print(f"{PROG}: error: {path}: no row carries {', '.join(TIME_FIELDS)}",
                      file=sys.stderr)
                return EXIT_BAD_INPUT
            reps = repetitions(rows)
            fewest = reps if fewest is None else min(fewest, reps)
            copy = os.path.join(tmp, f"{'AB'[i]}-{os.path.basename(path)}")
            if not copy.endswith(".json"):
                copy += ".json"  # compare.py reads a file as JSON only by its name
            with open(copy, "w", encoding="utf-8") as f:
                json.dump(dict(data, benchmarks=rows), f)
            copies.append(copy)
        if fewest < UTEST_MIN:
            print(f"{PROG}: note: some case has only {fewest} repetition(s); compare.py's U test "
                  f"needs at least {UTEST_MIN} per case in both files for a confident answer "
                  "(run ipcbench with --benchmark_repetitions=9 or more); with fewer, read the "
                  "Time and CPU columns as the relative change of one run, not as significant",
                  file=sys.stderr)
        options = list(argv[2:])
        if not sys.stdout.isatty() and "--no-color" not in options:
            options.insert(0, "--no-color")
        print(f"Comparing {argv[0]} (A) to {argv[1]} (B) with {COMPARE}; Time and CPU are "
              "(B - A) / A of the mean real and CPU time (for RoundTrip rows: the mean round "
              "trip; for Stream rows: the time per batch); *_pvalue rows are the U test.",
              flush=True)
        return subprocess.run(["/usr/bin/python3", COMPARE, *options, "benchmarks", *copies],
                              check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
