#!/usr/bin/python3
"""run-suite.sh's progress lines: what a placement's run will do and how long it may take.

  suite_plan.py plan   --times FILE --placement P --profile quick|full --cases N
                       --repetitions R --budget SECONDS [--args=TEXT]
      prints "N cases x R repetitions = C case-repetitions; " and either the estimate from the
      last run of the same placement and profile recorded in FILE (its seconds per
      case-repetition x C) or, without one, the bound C x SECONDS (every case at its budget).
  suite_plan.py record --times FILE --placement P --profile quick|full --cases N
                       --repetitions R --seconds T [--args=TEXT]
      stores the measured wall time T of that run in FILE, replacing the entry of the same
      placement and profile (one entry each), written atomically.

FILE is a JSON object {"runs": [{placement, profile, seconds, cases, repetitions,
case_repetitions, args, finished}, ...]}. A FILE that is not such an object is an error
(exit 2, naming the file): remove it to start afresh.
"""
import argparse
import datetime
import json
import math
import os
import sys
import tempfile


def fail(message):
    print(f"suite_plan: {message}", file=sys.stderr)
    sys.exit(2)


def positive_int(flag):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag}={text!r}: expected a whole number of 1 or more")
        return value
    return parse


def positive_float(flag):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{flag}={text!r}: expected a number of seconds above 0")
        return value
    return parse


def load(path):
    """The runs recorded in path ([] when it does not exist); exits naming the file if it is bad."""
    if not os.path.exists(path):
        return []
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: not a readable JSON file ({e}); remove it to start afresh")
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list):
        fail(f"{path}: expected an object with a list \"runs\"; remove it to start afresh")
    for i, run in enumerate(runs):
        ok = isinstance(run, dict) and all(
            isinstance(run.get(k), str) for k in ("placement", "profile")) and all(
            isinstance(run.get(k), (int, float)) and not isinstance(run.get(k), bool)
            and run.get(k) > 0 for k in ("seconds", "case_repetitions"))
        if not ok:
            fail(f"{path}: runs[{i}] lacks placement, profile, or a positive seconds and "
                 f"case_repetitions ({json.dumps(run)[:120]}); remove it to start afresh")
    return runs


def minutes(seconds):
    """A duration as the progress lines print it: seconds under 90 s, minutes above."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    m = seconds / 60
    return f"{m:.1f} min" if m < 10 else f"{round(m)} min"


def plan(a):
    total = a.cases * a.repetitions
    head = (f"{a.cases} case{'s' if a.cases != 1 else ''} x {a.repetitions} "
            f"repetition{'s' if a.repetitions != 1 else ''} = {total} case-repetitions; ")
    last = next((r for r in load(a.times)
                 if r["placement"] == a.placement and r["profile"] == a.profile), None)
    directory = os.path.dirname(a.times) or "."
    if last is None:
        print(head + f"no earlier run here to estimate from; at most ~{minutes(total * a.budget)} "
              f"(every case at its budget of {a.budget:g} s)")
        return
    estimate = last["seconds"] / last["case_repetitions"] * total
    other = "" if last.get("args", a.args) == a.args else "; that run had other flags"
    print(head + f"estimate ~{minutes(estimate)} (from the last run in {directory}: "
          f"{last['seconds']:.1f} s for {last['case_repetitions']} case-repetitions{other})")


def record(a):
    runs = [r for r in load(a.times)
            if not (r["placement"] == a.placement and r["profile"] == a.profile)]
    runs.append({
        "placement": a.placement,
        "profile": a.profile,
        "seconds": round(a.seconds, 3),
        "cases": a.cases,
        "repetitions": a.repetitions,
        "case_repetitions": a.cases * a.repetitions,
        "args": a.args,
        "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    })
    directory = os.path.dirname(a.times) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".suite-times.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"runs": runs}, f, indent=1)
            f.write("\n")
        os.replace(tmp, a.times)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "record"):
        p = sub.add_parser(name)
        p.add_argument("--times", required=True)
        p.add_argument("--placement", required=True)
        p.add_argument("--profile", required=True, choices=("quick", "full"))
        p.add_argument("--cases", required=True, type=positive_int("--cases"))
        p.add_argument("--repetitions", required=True, type=positive_int("--repetitions"))
        p.add_argument("--args", default="")
        if name == "plan":
            p.add_argument("--budget", required=True, type=positive_float("--budget"))
        else:
            p.add_argument("--seconds", required=True, type=positive_float("--seconds"))
    a = parser.parse_args()
    plan(a) if a.command == "plan" else record(a)


if __name__ == "__main__":
    main()
