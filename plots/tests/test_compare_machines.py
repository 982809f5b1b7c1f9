"""Tests of plots/compare_machines.py (ipcreport/machines.py): the committed results/COMPARE.md is
what the results give; which run stands for a machine; significance wording follows the data (a
5x difference, a tie, too few repetitions, other git revisions); bad input exits 2."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import machines  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(HERE), "compare_machines.py")
RESULTS = os.path.join(fixtures.REPO, "results")
EXIT_BAD_INPUT = 2
PLACEMENTS = ("different_cpus", "same_cpu")


def run_program(*args):
    """Runs the program; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, PROGRAM, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def write_run(directory, pipe_ns, repetitions=9, revision="1234abcd", profile="quick"):
    """A run folder with both placements: pipe's 64 B round trip at `pipe_ns`, fifo's at 10 µs,
    both streaming 1000 MB/s at 64 KiB."""
    os.makedirs(directory, exist_ok=True)
    cases = {("RoundTrip", "pipe", 64): {"p50_ns": pipe_ns},
             ("RoundTrip", "fifo", 64): {"p50_ns": 10_000},
             ("Stream", "pipe", 65536): {"bytes_per_second": 1e9},
             ("Stream", "fifo", 65536): {"bytes_per_second": 1e9}}
    context = {"ipcbench_git_revision": revision, "ipcbench_profile": profile,
               "cpu_model": "Test CPU", "date": "2026-01-02T03:04:05+00:00"}
    for placement in PLACEMENTS:
        fixtures.write_json(directory, placement + ".json",
                            fixtures.synthetic(cases, placement, repetitions, context))
    return directory


class Committed(unittest.TestCase):
    def test_committed_compare_md_is_what_the_results_give(self):
        result = run_program(RESULTS, "--check")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_it_says_why_the_single_repetition_machine_cannot_be_compared(self):
        with open(os.path.join(RESULTS, machines.OUTPUT), encoding="utf-8") as f:
            text = f.read()
        for machine in sorted(os.listdir(RESULTS)):
            if os.path.isdir(os.path.join(RESULTS, machine)):
                self.assertIn(f"`{machine}`", text)
        self.assertIn("scripts/compare-runs.sh results/", text)


class Synthetic(unittest.TestCase):
    """Two machines with 9 repetitions: pipe 5x slower on the second, fifo tied."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-machines-test-")
        self.results = os.path.join(self._tmp.name, "results")
        write_run(os.path.join(self.results, "machine-a"), 10_000)
        # Two runs: the full-profile one stands for the machine though it comes second.
        write_run(os.path.join(self.results, "machine-b", "quick-1"), 10_000)
        write_run(os.path.join(self.results, "machine-b", "run-full"), 50_000, profile="full")
        os.makedirs(os.path.join(self.results, "no-runs-here"))

    def tearDown(self):
        self._tmp.cleanup()

    def text(self):
        """COMPARE.md's text with its prose unwrapped (one space between words; tables keep
        their own lines' content)."""
        return " ".join(machines.compare_text(self.results).split())

    def test_a_5x_difference_is_significant_and_equal_figures_tie(self):
        text = self.text()
        self.assertRegex(text, r"\| Pipe \| `pipe` \| 10\.0 \| 50\.0 \| \*\*5\.00x slower\*\* "
                               r"\(p = 0\.000\d+\) \|")
        self.assertIn("| FIFO queue | `fifo` | 10.0 | 10.0 | tie (1.00x, p = 1.0) |", text)
        self.assertIn("| Pipe | `pipe` | 1000 (64 KiB) | 1000 (64 KiB) | tie (1.00x, p = 1.0) |",
                      text)
        self.assertIn("- `machine-b` against `machine-a`: of 8 comparisons, 2 differ "
                      "significantly, 6 tie, 0 have too few repetitions. Significant: `pipe` "
                      "5.00x slower (round trip p50 at 64 B, two CPUs (µs)", text)
        self.assertNotIn("cannot be compared", text)
        self.assertNotIn("`no-runs-here`", text)

    def test_it_names_the_run_chosen_and_why(self):
        text = self.text()
        self.assertIn("| run folder (results/...) | `machine-a` | `machine-b/run-full` |", text)
        self.assertIn("| why this run | the only run | the full-profile run |", text)
        self.assertIn("| other runs here | none | `machine-b/quick-1` |", text)
        self.assertIn("| repetitions per case | 9 | 9 |", text)
        self.assertIn("scripts/compare-runs.sh results/machine-a/different_cpus.json "
                      "results/machine-b/run-full/different_cpus.json", text)

    def test_without_a_full_run_the_first_quick_run_stands(self):
        runs = [os.path.join(self.results, "machine-b", "quick-1"),
                os.path.join(self.results, "machine-a")]
        chosen, _, why = machines.choose(runs)
        self.assertEqual(chosen, runs[0])
        self.assertIn("the first in name order", why)

    def test_same_or_other_git_revisions(self):
        self.assertIn("Every run comes from git revision 1234abcd.", self.text())
        write_run(os.path.join(self.results, "machine-b", "run-full"), 50_000, profile="full",
                  revision="feedbeef-dirty")
        text = self.text()
        self.assertIn("**The runs come from different git revisions** (`machine-a`: 1234abcd; "
                      "`machine-b`: feedbeef with uncommitted changes)", text)
        self.assertIn("confounds a machine comparison", text)

    def test_too_few_repetitions_compare_nothing(self):
        write_run(os.path.join(self.results, "machine-a"), 10_000, repetitions=1)
        text = self.text()
        self.assertIn("**`machine-a` cannot be compared: its run has 1 repetition per case.**",
                      text)
        self.assertIn("every one of the 8 comparisons has too few repetitions", text)
        self.assertIn("| Pipe | `pipe` | 10.0 | 50.0 | too few repetitions (9 and 1) |", text)
        self.assertNotIn("slower**", text)
        self.assertIn("its U test does not run on these files", text)

    def test_write_then_check(self):
        self.assertEqual(run_program(self.results, "--write").returncode, 0)
        self.assertEqual(run_program(self.results, "--check").returncode, 0)
        path = os.path.join(self.results, machines.OUTPUT)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("| 10.0 | 50.0 |", "| 10.0 | 40.0 |"))
        result = run_program(self.results, "--check")
        self.assertEqual(result.returncode, 1)
        self.assertIn("-| Pipe | `pipe` | 10.0 | 40.0 |", result.stdout)

    def assert_bad_input(self, result, *named):
        self.assertEqual(result.returncode, EXIT_BAD_INPUT, result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for value in named:
            self.assertIn(value, result.stderr)

    def test_bad_input(self):
        missing = os.path.join(self._tmp.name, "nowhere")
        self.assert_bad_input(run_program(missing), missing, "no such folder")
        self.assert_bad_input(run_program(self.results, "--check"),
                              os.path.join(self.results, machines.OUTPUT), "cannot read it")
        empty = os.path.join(self._tmp.name, "empty")
        os.makedirs(empty)
        self.assert_bad_input(run_program(empty), empty, "no machine folder")
        broken = os.path.join(self.results, "machine-a", "same_cpu.json")
        with open(broken, "w", encoding="utf-8") as f:
            f.write("[1, 2")
        self.assert_bad_input(run_program(self.results), broken, "not JSON")


if __name__ == "__main__":
    unittest.main()
