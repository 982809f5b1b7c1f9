#!/usr/bin/python3
"""Fails (exit 1) when an ipcbench JSON file has an errored case or a corrupt message.

Usage: check_results.py FILE.json [FILE.json ...]
Prints, per file, how many cases ran, how many sizes were unsupported (listed in the context,
not an error) and every errored case with its message.
"""
import json
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
    for run in runs:
        name = run.get("name", "?")
        if run.get("error_occurred"):
            print(f"{path}: ERRORED {name}: {run.get('error_message', '')}")
            problems += 1
        elif run.get("corrupt", 0):
            print(f"{path}: CORRUPT {name}: {run['corrupt']:.0f} corrupt messages")
            problems += 1
    unsupported = [k for k in context if k.startswith("unsupported/")]
    print(f"{path}: {len(runs)} cases, {problems} errored or corrupt, "
          f"{len(unsupported)} unsupported sizes (listed, not run), "
          f"build {context.get('ipcbench_build_type', '?')}")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    problems = sum(check(p) for p in argv[1:])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
