#!/usr/bin/python3
"""Fails (exit 1) when an ipcbench JSON file has an errored case or a corrupt message, or names a
histogram side file that is not there.

Usage: check_results.py FILE.json [FILE.json ...]
Prints, per file, how many cases ran and how many repetitions each had (every repetition is a
row), how many sizes were unsupported (listed in the context, not an error), whether the file
carries the transport list (ipcbench_transports) and its histogram side file
(ipcbench_histograms), and every errored or corrupt case with its message, once per case.
"""
import json
import os
import sys


def check(path):
    """Returns the number of problems found in one results file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: cannot read results: {e}")
        return 1
    runs = data.get("benchmarks")
    context = data.get("context", {})
    if not isinstance(runs, list) or not runs:
        print(f"{path}: no benchmarks in the file")
        return 1
    problems = 0
    reported = set()
    repetitions = {}
    for run in runs:
        name = run.get("name", "?")
        case = run.get("run_name", name)
        if run.get("run_type", "iteration") == "aggregate":
            continue
        repetitions[case] = repetitions.get(case, 0) + 1
        if case in reported:
            continue
        if run.get("error_occurred"):
            print(f"{path}: ERRORED {case}: {run.get('error_message', '')}")
            problems += 1
            reported.add(case)
        elif run.get("corrupt", 0):
            print(f"{path}: CORRUPT {case}: {run['corrupt']:.0f} corrupt messages")
            problems += 1
            reported.add(case)
    side = context.get("ipcbench_histograms")
    side_path = os.path.join(os.path.dirname(path), str(side))
    if side is not None and not (os.path.exists(side_path) or os.path.exists(side_path + ".gz")):
        print(f"{path}: MISSING histogram side file {side} (named in ipcbench_histograms)")
        problems += 1
    unsupported = [k for k in context if k.startswith("unsupported/")]
    counts = sorted(set(repetitions.values())) or [0]
    reps = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    print(f"{path}: {len(repetitions)} cases x {reps} repetitions, {problems} problems "
          f"(errored or corrupt cases, missing side file), {len(unsupported)} unsupported sizes "
          f"(listed, not run), build {context.get('ipcbench_build_type', '?')}, transport list "
          f"{'present' if 'ipcbench_transports' in context else 'ABSENT (older ipcbench)'}, "
          f"histograms {side or 'none (older ipcbench)'}")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    problems = sum(check(p) for p in argv[1:])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
