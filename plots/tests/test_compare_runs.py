"""Tests of scripts/compare-runs.sh: Google Benchmark's compare.py on two ipcbench runs, with a
clear error for a missing or malformed file, on the committed reference results and on runs with
9 repetitions (its U test)."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402

SCRIPT = os.path.join(fixtures.REPO, "scripts", "compare-runs.sh")
COMPARE_PY = "/usr/share/benchmark/compare.py"


def compare(*args):
    """Runs the script; returns the CompletedProcess (text)."""
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120,
                          check=False)


@unittest.skipUnless(os.path.exists(COMPARE_PY), "libbenchmark-tools is not installed")
class CompareRuns(unittest.TestCase):
    """compare-runs.sh A.json B.json."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-compare-test-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def test_committed_results(self):
        a = os.path.join(fixtures.RESULTS, "different_cpus.json")
        b = os.path.join(fixtures.RESULTS, "same_cpu.json")
        result = compare(a, b)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertIn("RoundTrip/pipe/bytes:64/manual_time", result.stdout)
        self.assertIn("OVERALL_GEOMEAN", result.stdout)
        self.assertIn("needs at least 9 per case", result.stderr)  # one repetition each

    def test_repetitions_get_the_u_test(self):
        cases = {("RoundTrip", "pipe", 64): {"p50_ns": 10_000, "real_time": 10_000,
                                             "cpu_time": 100},
                 ("RoundTrip", "fifo", 64): {"p50_ns": 10_000, "real_time": 10_000,
                                             "cpu_time": 100}}
        slower = {k: dict(v, real_time=30_000) for k, v in cases.items()}
        a = fixtures.write_json(self.dir, "a.json", fixtures.synthetic(cases))
        b = fixtures.write_json(self.dir, "b.json", fixtures.synthetic(slower))
        result = compare(a, b)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("RoundTrip/pipe/bytes:64/manual_time_pvalue", result.stdout)
        self.assertIn("U Test, Repetitions: 9 vs 9", result.stdout)
        self.assertNotIn("needs at least 9", result.stderr)

    def test_errored_rows_are_left_out_and_listed(self):
        document = fixtures.repeated(fixtures.committed("same_cpu"), 1)
        row = document["benchmarks"][10]
        row.update(error_occurred=True, error_message="peer made no progress")
        for key in ("real_time", "cpu_time"):
            row.pop(key, None)
        a = fixtures.write_json(self.dir, "a.json", document)
        result = compare(a, os.path.join(fixtures.RESULTS, "same_cpu.json"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"left out {row['name']} (errored: peer made no progress)", result.stderr)

    def test_missing_and_malformed_files(self):
        good = os.path.join(fixtures.RESULTS, "same_cpu.json")
        missing = os.path.join(self.dir, "absent.json")
        broken = os.path.join(self.dir, "broken.json")
        with open(broken, "w", encoding="utf-8") as f:
            f.write("{not json")
        shape = fixtures.write_json(self.dir, "shape.json", {"benchmarks": "many"})
        for path, fragment in ((missing, "cannot read the file"), (broken, "not JSON"),
                               (shape, "not Google Benchmark JSON output")):
            for args in ((path, good), (good, path)):
                result = compare(*args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(path, result.stderr)
                self.assertIn(fragment, result.stderr)
                self.assertNotIn("Traceback", result.stderr)

    def test_usage(self):
        result = compare("only-one.json")
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage", result.stderr)


if __name__ == "__main__":
    unittest.main()
