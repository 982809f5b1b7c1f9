#!/usr/bin/env bash
# Installs what is needed, builds the release preset, runs ipcbench twice (the two ends on two
# different CPUs, then both on one CPU) and regenerates the report from the two JSON files.
# The many-process patterns (FanIn, FanOut, Pairs) run in the first run only, over every CPU.
#
# usage: scripts/run-suite.sh [--quick] [--out DIR] [other ipcbench flags, e.g. --transports=...]
#   DIR (default: report/) receives different_cpus.json, same_cpu.json, the PNGs and REPORT.md.
set -euo pipefail
cd "$(dirname "$0")/.."

out=report
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --cpus*) echo "run-suite: --cpus is chosen by this script (both placements run)" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

mkdir -p "$out"
bin=build/release/bench/ipcbench
# The first CPU this shell may use, for the same-CPU run.
first=$(taskset -cp $$ | sed 's/.*: *//; s/[-,].*//')

echo "== ipcbench: producer and consumer on two different CPUs =="
"$bin" "${args[@]}" --benchmark_out="$out/different_cpus.json" --benchmark_out_format=json
echo "== ipcbench: producer and consumer on one CPU ($first) =="
"$bin" "${args[@]}" --cpus="$first,$first" --patterns=off --benchmark_out="$out/same_cpu.json" \
  --benchmark_out_format=json

echo "== report =="
/usr/bin/python3 plots/report.py --out "$out" "$out/different_cpus.json" "$out/same_cpu.json"
echo "run-suite: report in $out/REPORT.md"
