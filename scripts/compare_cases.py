#!/usr/bin/env python3
"""Compares two ipcbench JSON files: same case names? same counters per case? p50 ratio after/before.

Usage: scripts/compare_cases.py BEFORE.json AFTER.json
"""
import json
import statistics
import sys

FIELDS = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
          "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
          "time_unit", "label", "error_occurred", "error_message", "aggregate_name",
          "aggregate_unit"}


def rows(path):
    with open(path) as f:
        data = json.load(f)
    return {b["name"]: b for b in data["benchmarks"] if b.get("run_type") == "iteration"}


def main(before_path, after_path):
    before, after = rows(before_path), rows(after_path)
    print(f"cases: before {len(before)}, after {len(after)}, identical names: "
          f"{sorted(before) == sorted(after)}")
    for name in sorted(set(before) - set(after)):
        print(f"  only before: {name}")
    for name in sorted(set(after) - set(before)):
        print(f"  only after:  {name}")
    removed, added = {}, {}
    for name in sorted(set(before) & set(after)):
        b, a = set(before[name]) - FIELDS, set(after[name]) - FIELDS
        for c in b - a:
            removed.setdefault(c, []).append(name)
        for c in a - b:
            added.setdefault(c, []).append(name)
    print("counters removed:", {c: len(v) for c, v in removed.items()} or "none")
    print("counters added:  ", {c: len(v) for c, v in added.items()} or "none")
    by_pattern = {}
    for name in sorted(set(before) & set(after)):
        p_b, p_a = before[name].get("p50_ns"), after[name].get("p50_ns")
        if not p_b or not p_a or name.startswith("Limit/"):
            continue
        by_pattern.setdefault(name.split("/")[0], []).append(p_a / p_b)
    every = [r for v in by_pattern.values() for r in v]
    for pattern, ratios in sorted(by_pattern.items()) + [("all", every)]:
        if ratios:
            print(f"p50 after/before {pattern:9} n={len(ratios):3} median {statistics.median(ratios):.3f}"
                  f" range {min(ratios):.3f}..{max(ratios):.3f}")
    return 0 if sorted(before) == sorted(after) and not removed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
