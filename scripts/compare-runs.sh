#!/usr/bin/env bash
# Compares two ipcbench result files with Google Benchmark's compare.py (Debian package
# libbenchmark-tools), keeping its U test (it needs 9 or more repetitions per case).
#
# usage: scripts/compare-runs.sh A.json B.json [compare.py options, e.g. --alpha 0.01]
#   A missing or malformed file is an error naming it (exit 2); errored rows are left out and
#   listed. See scripts/compare_runs.py.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/compare_runs.py" "$@"
