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
# Before each run it prints how many cases it will run (ipcbench --benchmark_list_tests=true with
# the same flags) times the repetitions, and how long that may take: the seconds per
# case-repetition of the last run of the same placement and profile recorded in
# DIR/suite-times.json (each run writes its measured wall time there), or without one the bound
# case-repetitions x the per-case budget. At the end it prints each run's time and their total.
#
# usage: scripts/run-suite.sh [--quick] [--out DIR] [--case_budget=SECONDS] [--peer=ADDR:PORT]
#                             [other ipcbench flags, e.g. --transports=...]
#   DIR (default: report/) receives different_cpus.json, same_cpu.json (with their histogram
#   side files *.hist.jsonl), the PNGs, REPORT.md, verdicts.json and suite-times.json.
#   --peer=ADDR:PORT  two hosts: after the two local runs, a third against the
#                     `ipcbench --serve=ADDR:PORT` running on the other host (the socket
#                     transports' RoundTrip, Stream and Load, same profile and flags) into
#                     DIR/peer.json; the report then has its "Between hosts" section.
#   --case_budget=SECONDS  passed on to ipcbench (the most one repetition of one case may take;
#                          ipcbench's default: 10 s, 2 s with --quick); the bound above uses it.
set -euo pipefail
cd "$(dirname "$0")/.."

out=report
quick=0
budget=""
peer=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#--out=}; shift ;;
    --cpus*) echo "run-suite: --cpus is chosen by this script (both placements run)" >&2; exit 2 ;;
    --quick) quick=1; args+=("$1"); shift ;;
    --peer=*) peer=${1#--peer=}; shift ;;
    --peer) echo "run-suite: --peer expects a value (--peer=ADDR:PORT)" >&2; exit 2 ;;
    --serve*) echo "run-suite: --serve runs on the other host: build/release/bench/ipcbench --serve=ADDR:PORT" >&2; exit 2 ;;
    --case_budget=*) budget=${1#--case_budget=}; args+=("$1"); shift ;;
    --case_budget)
      echo "run-suite: --case_budget expects a value (--case_budget=SECONDS)" >&2; exit 2 ;;
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

# Google Benchmark takes the last value of a flag: the repetitions each case will run.
reps=""
for a in "${repeat[@]}" "${args[@]}"; do
  case "$a" in --benchmark_repetitions=*) reps=${a#--benchmark_repetitions=} ;; esac
done
if ! [[ $reps =~ ^0*[1-9][0-9]*$ ]] || [ ${#reps} -gt 6 ]; then
  echo "run-suite: --benchmark_repetitions=$reps (or REPETITIONS=$reps): expected a whole number" \
    "from 1 to 999999" >&2
  exit 2
fi
reps=$((10#$reps))
if [ "$quick" -eq 1 ]; then profile=quick; else profile=full; fi
if [ -z "$budget" ]; then
  if [ "$quick" -eq 1 ]; then budget=2; else budget=10; fi
elif ! [[ $budget =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ && $budget =~ [1-9] ]]; then
  echo "run-suite: --case_budget=$budget: expected a number of seconds above 0" >&2
  exit 2
fi

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target ipcbench  # the benchmark only: the tests are test.sh's

mkdir -p "$out"
bin=build/release/bench/ipcbench
# The first CPU this shell may use, for the same-CPU run.
first=$(taskset -cp $$ | sed 's/.*: *//; s/[-,].*//')
times="$out/suite-times.json"

# count_cases VAR LABEL FLAGS...: sets VAR to the number of cases ipcbench runs with FLAGS (it
# prints one name a line with --benchmark_list_tests=true, after --benchmark_filter). Exits,
# showing ipcbench's words, when the listing fails or selects no case.
count_cases() {
  local var=$1 label=$2 rc=0 listing n
  shift 2
  local flags=()
  for a in "$@"; do  # the listing must not truncate an output file
    case "$a" in --benchmark_out=*) ;; *) flags+=("$a") ;; esac
  done
  local err
  err=$(mktemp)
  listing=$("$bin" "${flags[@]}" --benchmark_list_tests=true 2>"$err") || rc=$?
  n=$(printf '%s\n' "$listing" | grep -c . || true)
  if [ "$rc" -ne 0 ] || [ "$n" -eq 0 ]; then
    if [ "$rc" -ne 0 ]; then
      echo "run-suite: cannot count the cases of the $label run: ipcbench exited $rc" >&2
    else
      echo "run-suite: the $label run selects no case" >&2
    fi
    sed 's/^/  /' "$err" >&2
    echo "  command: $bin ${flags[*]} --benchmark_list_tests=true" >&2
    rm -f "$err"
    exit 1
  fi
  rm -f "$err"
  printf -v "$var" '%s' "$n"
}

# Microseconds since the epoch (EPOCHREALTIME's decimal point may be a comma in some locales).
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }
# seconds US [DIGITS]: microseconds as seconds, with DIGITS (default 1) decimals.
seconds() {
  local d=${2:-1} frac
  printf -v frac '%06d' "$(($1 % 1000000))"
  printf '%d.%s' "$(($1 / 1000000))" "${frac:0:d}"
}

# run_placement LABEL PLACEMENT CASES FLAGS...: prints the plan, runs ipcbench with FLAGS, prints
# and records the measured wall time (sets took_us).
run_placement() {
  local label=$1 placement=$2 cases=$3
  shift 3
  local plan t0
  plan=$(/usr/bin/python3 scripts/suite_plan.py plan --times "$times" --placement "$placement" \
    --profile "$profile" --cases "$cases" --repetitions "$reps" --budget "$budget" \
    --args="${args[*]}")
  echo "run-suite: $plan"
  t0=$(now_us)
  "$bin" "$@"
  took_us=$(($(now_us) - t0))
  echo "run-suite: $label took $(seconds "$took_us") s"
  /usr/bin/python3 scripts/suite_plan.py record --times "$times" --placement "$placement" \
    --profile "$profile" --cases "$cases" --repetitions "$reps" \
    --seconds "$(seconds "$took_us" 6)" --args="${args[*]}"
}

# Both counted before either runs: a flag that selects nothing fails here, not minutes later.
different=("${repeat[@]}" "${args[@]}" --benchmark_out="$out/different_cpus.json"
  --benchmark_out_format=json)
same=("${repeat[@]}" "${args[@]}" --cpus="$first,$first" --patterns=off
  --benchmark_out="$out/same_cpu.json" --benchmark_out_format=json)
count_cases n_different "different-CPU" "${different[@]}"
count_cases n_same "one-CPU" "${same[@]}"

echo "== ipcbench: producer and consumer on two different CPUs (${repeat[*]}) =="
run_placement "different CPUs" different_cpus "$n_different" "${different[@]}"
took_different=$took_us
echo "== ipcbench: producer and consumer on one CPU ($first) =="
run_placement "one CPU" same_cpu "$n_same" "${same[@]}"
echo "run-suite: both runs took $(seconds $((took_different + took_us))) s" \
  "(different CPUs $(seconds "$took_different") s + one CPU $(seconds "$took_us") s)"

inputs=("$out/different_cpus.json" "$out/same_cpu.json")
if [ -n "$peer" ]; then
  echo "== ipcbench: against the server at $peer (two hosts) =="
  t0=$(now_us)
  "$bin" "${repeat[@]}" "${args[@]}" --peer="$peer" --benchmark_out="$out/peer.json" \
    --benchmark_out_format=json
  echo "run-suite: the two-host run took $(seconds $(($(now_us) - t0))) s"
  inputs+=("$out/peer.json")
else
  rm -f "$out/peer.json" "$out/peer.json.hist.jsonl"  # a stale one would describe another run
fi

echo "== report =="
/usr/bin/python3 plots/report.py --out "$out" "${inputs[@]}"
echo "run-suite: report in $out/REPORT.md, verdicts in $out/verdicts.json"
