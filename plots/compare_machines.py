#!/usr/bin/python3
"""Writes results/COMPARE.md: the machines of results/ side by side.

Usage:
  /usr/bin/python3 plots/compare_machines.py RESULTS_DIR            # print COMPARE.md
  /usr/bin/python3 plots/compare_machines.py RESULTS_DIR --write    # write RESULTS_DIR/COMPARE.md
  /usr/bin/python3 plots/compare_machines.py RESULTS_DIR --check    # exit 1 with a diff if stale

A machine folder is a folder of RESULTS_DIR holding different_cpus.json (and same_cpu.json), or
run folders that do (results/intel-xeon-kvm-2cpu/quick-1); one run stands for each machine: the
full-profile run when there is one, else the first in name order, and the file says which and
why. Per lecture row and transport it shows the 64 B round trip on two CPUs and on one CPU and the
peak stream of every machine, and each machine against the first with the report's rule
(ipcreport/stats.compare), saying plainly when a run has too few repetitions to compare and when
the runs come from different git revisions (ipcreport/machines.py).

Bad input (a missing folder, no machine folder, malformed JSON, --check without COMPARE.md) ends
with a message naming it and exit status 2.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ipcreport import machines  # noqa: E402
from ipcreport.model import InputError  # noqa: E402

PROG = "compare_machines.py"
EXIT_DIFFERS = 1
EXIT_BAD_INPUT = 2


def parse_args(argv):
    """The command line; argparse exits with status 2 on a usage error."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Put the machines of RESULTS_DIR side by side in "
        "RESULTS_DIR/COMPARE.md.")
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="the results folder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write RESULTS_DIR/COMPARE.md")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 with a diff when RESULTS_DIR/COMPARE.md is not what the "
                           "results give")
    return parser.parse_args(argv)


def main(argv=None):
    """Runs the program; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    path = os.path.join(args.results_dir, machines.OUTPUT)
    try:
        text = machines.compare_text(args.results_dir)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    current = f.read()
            except OSError as e:
                raise InputError(f"{path}: cannot read it: {e.strerror or e} (run {PROG} "
                                 f"{args.results_dir} --write first)") from None
            diff = machines.check(current, text, path)
            if diff:
                sys.stdout.write(diff)
                print(f"{PROG}: {path} differs from what the results give (run "
                      f"{machines.GENERATOR} {args.results_dir} --write)", file=sys.stderr)
                return EXIT_DIFFERS
            return 0
        if args.write:
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
            except OSError as e:
                raise InputError(f"{path}: cannot write: {e.strerror or e}") from None
            print(path)
            return 0
        sys.stdout.write(text)
        return 0
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
