#!/usr/bin/python3
"""Makes the README's figures block from one committed run, so the README's numbers are never
typed.

Usage:
  /usr/bin/python3 plots/readme_figures.py RUN_DIR                    # print the block
  /usr/bin/python3 plots/readme_figures.py RUN_DIR --write README.md  # put it in the README
  /usr/bin/python3 plots/readme_figures.py [RUN_DIR] --check README.md

RUN_DIR is a results folder holding different_cpus.json and same_cpu.json (with their histogram
side files, plain or gzipped) and the pictures plots/report.py drew from them, e.g.
results/intel-xeon-kvm-2cpu/quick-1. The block lies between the lines
`<!-- figures:begin source=RUN_DIR ... -->` and `<!-- figures:end -->`: the run's latency.png with
its caption, the lecture's six rows with the run's figures, and findings chosen by the
repetitions (ipcreport/readme.py). --write replaces the block, or inserts it after the README's
first paragraph. --check exits 1 with a unified diff when the README's block is not what the run
gives, 0 when it is; without RUN_DIR it takes the folder the README's marker names. Paths in the
block are relative to the README's folder.

Bad input (a missing folder or file, malformed JSON, a README without markers for --check) ends
with a message naming it and exit status 2.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ipcreport import readme  # noqa: E402
from ipcreport.model import InputError  # noqa: E402

PROG = "readme_figures.py"
EXIT_DIFFERS = 1
EXIT_BAD_INPUT = 2


def parse_args(argv):
    """The command line; argparse exits with status 2 on a usage error."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Make the README's figures block from one committed run.")
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                        help="a results folder holding different_cpus.json and same_cpu.json")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="README.md", help="replace (or insert) the block")
    mode.add_argument("--check", metavar="README.md",
                      help="exit 1 with a diff when the README's block differs from the run")
    args = parser.parse_args(argv)
    if args.run_dir is None and args.check is None:
        parser.error("give RUN_DIR (only --check can take it from the README's marker)")
    return args


def read_text(path):
    """A README's text; InputError naming it when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read the README: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def main(argv=None):
    """Runs the program; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    readme_path = args.write or args.check
    base = os.path.dirname(os.path.abspath(readme_path)) if readme_path else os.getcwd()
    try:
        text = read_text(readme_path) if readme_path else None
        run_dir = args.run_dir
        if run_dir is None:
            run_dir = os.path.join(base, readme.named_source(text, readme_path))
        block = readme.figures_block(run_dir, base)
        if args.check:
            diff = readme.check(text, block, readme_path)
            if diff:
                sys.stdout.write(diff)
                print(f"{PROG}: {readme_path}: the figures block differs from {run_dir} (run "
                      f"{readme.GENERATOR} {run_dir} --write {readme_path})", file=sys.stderr)
                return EXIT_DIFFERS
            return 0
        if args.write:
            updated = readme.with_block(text, block, readme_path)
            try:
                with open(readme_path, "w", encoding="utf-8") as f:
                    f.write(updated)
            except OSError as e:
                raise InputError(f"{readme_path}: cannot write: {e.strerror or e}") from None
            print(readme_path)
            return 0
        print(block)
        return 0
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
