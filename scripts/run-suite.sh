#!/usr/bin/env bash
# Installs what is needed, builds the release preset, runs ipcbench twice (the two ends on two
# different CPUs, then both on one CPU) and regenerates the report from the two JSON files.
# The many-process patterns (FanIn, FanOut, Pairs) run in the first run only, over every CPU.
#
# Every case runs several times, interleaved with the others (a verdict must survive a second
# run: METHOD.md), and every repetition stays in the JSON:
#   --quick: 9 repetitions (compare.py's U test wants 9 or more), fixed iteration counts;
#   default: 5 repetitions (the fewest the report's U test decides on) of 0.1 s each.
# REPETITIONS=N overrides the count; --benchmark_repetitions=/--benchmark_min_time= given here
# win over these defaults (Google Benchmark takes the last value of a flag).
#
# usage: scripts/run-suite.sh [--quick] [--out DIR] [other ipcbench flags, e.g. --transports=...]
#   DIR (default: report/) receives different_cpus.json, same_cpu.json (with their histogram
#   side files *.hist.jsonl), the PNGs, REPORT.md and verdicts.json.
set -euo pipefail
cd "$(dirname "$0")/.."

out=report
quick=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --cpus*) echo "run-suite: --cpus is chosen by this script (both placements run)" >&2; exit 2 ;;
    --quick) quick=1; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

repeat=()
if [ "$quick" -eq 1 ]; then
  repeat+=("--benchmark_repetitions=${REPETITIONS:-9}")
else
  repeat+=("--benchmark_repetitions=${REPETITIONS:-5}" "--benchmark_min_time=0.1")
fi
repeat+=("--benchmark_enable_random_interleaving=true" "--benchmark_display_aggregates_only=true")

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

mkdir -p "$out"
bin=build/release/bench/ipcbench
# The first CPU this shell may use, for the same-CPU run.
first=$(taskset -cp $$ | sed 's/.*: *//; s/[-,].*//')

echo "== ipcbench: producer and consumer on two different CPUs (${repeat[*]}) =="
start=$SECONDS
"$bin" "${repeat[@]}" "${args[@]}" --benchmark_out="$out/different_cpus.json" \
  --benchmark_out_format=json
echo "run-suite: different CPUs took $((SECONDS - start)) s"
echo "== ipcbench: producer and consumer on one CPU ($first) =="
start=$SECONDS
"$bin" "${repeat[@]}" "${args[@]}" --cpus="$first,$first" --patterns=off \
  --benchmark_out="$out/same_cpu.json" --benchmark_out_format=json
echo "run-suite: one CPU took $((SECONDS - start)) s"

echo "== report =="
/usr/bin/python3 plots/report.py --out "$out" "$out/different_cpus.json" "$out/same_cpu.json"
echo "run-suite: report in $out/REPORT.md, verdicts in $out/verdicts.json"
