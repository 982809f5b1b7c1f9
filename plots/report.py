#!/usr/bin/python3
"""Turns ipcbench JSON results into pictures, REPORT.md and verdicts.json.

Usage:
  /usr/bin/python3 plots/report.py --out DIR FILE.json [FILE.json ...] [PEER.json]

Reads one or more files written by `ipcbench --benchmark_out=FILE --benchmark_out_format=json`
(for example a same-CPU run and a different-CPUs run; the placement is taken from each file),
with the histogram side file each names in its context (ipcbench_histograms), and writes into
DIR: latency.png, latency_vs_size.png, throughput_vs_size.png, latency_cdf.png, REPORT.md and
verdicts.json; when the input has them, also scaling_fan_in.png, scaling_fan_out.png,
scaling_pairs.png and placement.png. A picture whose rows are absent is not written (a stale
copy is removed) and REPORT.md says why. To compare two runs, use scripts/compare-runs.sh
(Google Benchmark's compare.py, with its U test).

Optionally, one two-host run among the files (`ipcbench --peer=ADDR:PORT` against
`ipcbench --serve` on the other host; scripts/run-suite.sh --peer=ADDR:PORT writes it as
peer.json and passes it here), recognised by its context key ipcbench_peer_address, in any
position. Its cases are kept apart from the local runs' (no local table, picture or verdict uses
them) and REPORT.md gains a "Between hosts" section: its round trips and stream rates beside the
local different-CPUs run's loopback ones, and the lecture's claim that AF_INET sockets serve
different hosts judged from it (without a peer run that verdict is inconclusive). A peer run
needs the local runs beside it: alone, or with a second peer run, it is refused.

Bad input (a missing file, a file that is not Google Benchmark JSON, a build whose
ipcbench_build_type is not Release, a file without ipcbench_transports, a missing or malformed
histogram side file, rows missing the fields this program needs, a peer run without rows)
ends with a message naming the file and the problem and exit status 2. Debian's
python3-matplotlib and python3-scipy only.

The program is the package ipcreport/ next to this file: load (input and its checks), model,
stats, verdicts (status + evidence, as data), pictures, markdown, and hosts (the "Between hosts"
section).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ipcreport.load import load_dataset  # noqa: E402
from ipcreport.markdown import write_report, write_verdicts  # noqa: E402
from ipcreport.model import InputError  # noqa: E402
from ipcreport.pictures import write_pictures  # noqa: E402
from ipcreport.verdicts import all_verdicts  # noqa: E402

PROG = "report.py"
EXIT_BAD_INPUT = 2


def parse_args(argv):
    """The command line; argparse exits with status 2 on a usage error."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Turn ipcbench JSON results into pictures, REPORT.md and "
        "verdicts.json. To compare two runs: scripts/compare-runs.sh A.json B.json.")
    parser.add_argument("--out", required=True, help="folder to write the report into")
    parser.add_argument("files", nargs="*", metavar="FILE.json",
                        help="ipcbench JSON files (e.g. a same-CPU and a different-CPUs run, and "
                        "optionally one two-host run of ipcbench --peer)")
    args = parser.parse_args(argv)
    if not args.files:
        parser.error("no input: give at least one FILE.json (to compare two runs, use "
                     "scripts/compare-runs.sh A.json B.json)")
    return args


def make_dir(path):
    """Creates the output folder; InputError naming it when that fails."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise InputError(f"{path}: cannot create the output folder: {e.strerror or e}") from None


def main(argv=None):
    """Runs the program; returns the exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        dataset = load_dataset(args.files)
        verdicts = all_verdicts(dataset)
        make_dir(args.out)
        written = (write_pictures(dataset, args.out) + [write_report(dataset, args.out)]
                   + [write_verdicts(verdicts, args.out)])
    except InputError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        print(f"{PROG}: error: cannot write to {args.out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
