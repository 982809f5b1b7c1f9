"""Tests of plots/readme_figures.py (ipcreport/readme.py): the committed README's figures block is
what its run gives; each finding's wording follows the repetitions (a tie, a difference, too few);
--check fails on an edited number; bad input exits 2 naming the value."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import load, readme  # noqa: E402

PROGRAM = os.path.join(os.path.dirname(HERE), "readme_figures.py")
README = os.path.join(fixtures.REPO, "README.md")
EXIT_BAD_INPUT = 2
PLACEMENTS = ("different_cpus", "same_cpu")
VM = {"virtual_machine": "yes (hypervisor flag set)"}

# The lecture's mechanisms in the fixtures' registry; signal and sysv_sem carry no payload.
BLOCKING = ("signal", "pipe", "fifo", "sysv_shm", "sysv_sem", "unix_stream", "unix_dgram", "tcp",
            "udp")
NO_PAYLOAD = ("signal", "sysv_sem")


def run_program(*args, cwd=None):
    """Runs the program; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, PROGRAM, *args], capture_output=True, text=True,
                          timeout=120, check=False, cwd=cwd)


def documents(rtt, streams, repetitions=9, context=None):
    """The two placements' documents from {placement: {id: p50 ns}} and
    {placement: {id: (bytes, bytes/s)}} (every case repeated with the fixtures' jitter)."""
    out = {}
    for placement in PLACEMENTS:
        cases = {}
        for t, p50 in rtt[placement].items():
            cases[("RoundTrip", t, 0 if t in NO_PAYLOAD else 64)] = {"p50_ns": p50}
        for t, (size, rate) in streams[placement].items():
            cases[("Stream", t, size)] = {"bytes_per_second": rate,
                                          "items_per_second": rate / size if size else 1e6}
        out[placement] = fixtures.synthetic(cases, placement, repetitions, context)
    return out


def write_run(directory, docs):
    """A run folder: the two JSON files and a stand-in latency.png; returns the folder."""
    os.makedirs(directory, exist_ok=True)
    for placement, document in docs.items():
        fixtures.write_json(directory, placement + ".json", document)
    with open(os.path.join(directory, "latency.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
    return directory


def base_rtt():
    """Every blocking mechanism 60 µs on two CPUs and 2 µs on one; the ring 0.4 and 1.2 µs."""
    two = {t: 60_000 for t in BLOCKING}
    one = {t: 2_000 for t in BLOCKING}
    two["shm_spin"], one["shm_spin"] = 400, 1_200
    return {"different_cpus": two, "same_cpu": one}


def base_streams():
    """The ring streams 5x a pipe on two CPUs; on one CPU the best is 1.5x a pipe."""
    two = {"pipe": (16384, 3e9), "fifo": (16384, 3e9), "shm_spin": (65536, 15e9),
           "threads": (65536, 90e9), "signal": (0, 0.0)}
    one = {"pipe": (16384, 8e9), "fifo": (16384, 8e9), "sysv_shm": (65536, 12e9),
           "signal": (0, 0.0)}
    return {"different_cpus": two, "same_cpu": one}


def dataset_of(directory, docs):
    """The loaded dataset of a run folder written from `docs`."""
    write_run(directory, docs)
    return load.load_dataset([os.path.join(directory, p + ".json") for p in PLACEMENTS])


class Findings(unittest.TestCase):
    """Three runs: the blocking mechanisms tie where they should, a FIFO clearly slower than a
    pipe (and more that differs), and too few repetitions."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-readme-test-")
        tmp = cls._tmp.name
        cls.tie = dataset_of(os.path.join(tmp, "tie"), documents(base_rtt(), base_streams(),
                                                                  context=VM))
        rtt, streams = base_rtt(), base_streams()
        for placement in PLACEMENTS:
            rtt[placement]["fifo"] *= 3
            rtt[placement]["sysv_shm"] *= 4
            streams[placement]["pipe"] = (65536, 40e9)
        rtt["same_cpu"]["udp"] = 60_000  # no dearer on two CPUs than on one
        cls.slower = dataset_of(os.path.join(tmp, "slower"), documents(rtt, streams))
        cls.few = dataset_of(os.path.join(tmp, "few"),
                             documents(base_rtt(), base_streams(), repetitions=3))

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_fifo_and_pipe_tie(self):
        said = readme.fifo_against_pipe(self.tie, PLACEMENTS)
        self.assertIn("one kernel object under two names, and they tie", said)
        self.assertIn("on two CPUs a tie (60.0 µs against 60.0 µs; U test p = 1.0)", said)
        self.assertIn("on one CPU a tie (2.00 µs against 2.00 µs", said)
        self.assertNotIn("slower", said)

    def test_a_clearly_slower_fifo_is_called_slower(self):
        said = readme.fifo_against_pipe(self.slower, PLACEMENTS)
        self.assertIn("yet they differ", said)
        self.assertRegex(said, r"on two CPUs 3\.00x slower \(180 µs against 60\.0 µs; "
                               r"U test p = 0\.000\d+\)")
        self.assertIn("on one CPU 3.00x slower (6.00 µs against 2.00 µs", said)
        self.assertIn("points at the harness", said)
        self.assertNotIn("tie", said)

    def test_too_few_repetitions_compare_nothing(self):
        for finding in readme.FINDINGS:
            said = finding(self.few, PLACEMENTS)
            if finding is readme.best_stream:
                self.assertIn("too few repetitions to compare (3 and 3; 5 a side are needed)",
                              said)
            else:
                self.assertIn("too few repetitions", said)
            self.assertNotRegex(said, r"\btie|slower than|faster than")

    def test_shared_memory_against_its_semaphore(self):
        tie = readme.semaphore_against_shared_memory(self.tie, PLACEMENTS)
        self.assertIn("costs what its semaphores cost alone", tie)
        self.assertIn("`sysv_shm` (64 B) against `sysv_sem` (0 B, no payload)", tie)
        dearer = readme.semaphore_against_shared_memory(self.slower, PLACEMENTS)
        self.assertIn("costs more than its semaphores alone", dearer)
        self.assertIn("on two CPUs 4.00x slower (240 µs against 60.0 µs", dearer)
        self.assertNotIn("cost alone", dearer)

    def test_cross_cpu_wake_ups(self):
        every = readme.wake_ups(self.tie, PLACEMENTS)
        self.assertIn("Every one of the lecture's 9 mechanisms that do not busy-poll is "
                      "significantly slower with its two ends on two CPUs than on one", every)
        self.assertIn("runs from 30.0x", every)
        self.assertIn("goes through the hypervisor", every)
        mixed = readme.wake_ups(self.slower, PLACEMENTS)
        self.assertIn("8 are significantly slower on two CPUs than on one, 1 is tied between "
                      "the two", mixed)
        self.assertIn("from 1.00x (`udp`) to 30.0x", mixed)
        self.assertNotIn("hypervisor", mixed)  # its context does not say virtual machine

    def test_ring_against_the_fastest_kernel_mechanism(self):
        said = readme.ring_against_kernel(self.tie, PLACEMENTS)
        self.assertIn("on two CPUs 150x faster than `pipe` (0.400 µs against 60.0 µs", said)
        self.assertIn("on one CPU a tie with `pipe` (1.20 µs against 2.00 µs", said)

    def test_best_stream_against_a_pipe(self):
        said = readme.best_stream(self.tie, PLACEMENTS)
        self.assertIn("on two CPUs the best, `shm_spin` (15000 MB/s at 64 KiB), moves 5.00x "
                      "more than a pipe's (3000 MB/s at 16 KiB", said)
        self.assertIn("on one CPU the best, `sysv_shm` (12000 MB/s at 64 KiB), ties with a "
                      "pipe's (8000 MB/s at 16 KiB", said)
        self.assertNotIn("threads", said)  # the in-process baseline is left out
        pipe_best = readme.best_stream(self.slower, PLACEMENTS)
        self.assertIn("on two CPUs a pipe's is the best (40000 MB/s at 64 KiB)", pipe_best)

    def test_table_has_the_lecture_rows_in_units(self):
        table = readme.figures_table(self.tie, PLACEMENTS)
        self.assertIn("RTT p50, 64 B, two CPUs (µs)", table)
        self.assertIn("| Pipe | `pipe` | 60.0 | 2.00 | 3000 (16 KiB) | 8000 (16 KiB) |", table)
        self.assertIn("| Signal | `signal` | 60.0 (0 B: no payload) | 2.00 (0 B: no payload) | "
                      "no payload: 1000000 msg/s |", table)
        self.assertIn("| Socket | `udp` |", table)
        self.assertNotIn("shm_spin", table)  # a variant, not what the lecture means


class Committed(unittest.TestCase):
    """The README in the repository and the run its marker names."""

    def test_committed_readme_block_is_what_its_run_gives(self):
        with open(README, encoding="utf-8") as f:
            text = f.read()
        source = readme.named_source(text, README)
        self.assertTrue(os.path.isdir(os.path.join(fixtures.REPO, source)), source)
        result = run_program("--check", README)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_an_edited_number_in_the_committed_readme_fails_the_check(self):
        with open(README, encoding="utf-8") as f:
            text = f.read()
        block = readme.current_block(text, README)
        edited_block = re.sub(r"\| `pipe` \| [0-9.]+ \|", "| `pipe` | 1.00 |", block, count=1)
        self.assertNotEqual(block, edited_block)
        with tempfile.TemporaryDirectory(prefix="ipcbench-readme-test-") as tmp:
            os.symlink(os.path.join(fixtures.REPO, "results"), os.path.join(tmp, "results"))
            copy = os.path.join(tmp, "README.md")
            with open(copy, "w", encoding="utf-8") as f:
                f.write(text.replace(block, edited_block))
            result = run_program("--check", copy)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("-| Pipe | `pipe` | 1.00 |", result.stdout)
        self.assertIn("differs from", result.stderr)


class CommandLine(unittest.TestCase):
    """--write and --check on a small synthetic run; bad input."""

    FIRST = ("# Title\n\nThe first paragraph,\non two lines.\n\n## Two commands\n\nText.\n")

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-readme-test-")
        self.dir = self._tmp.name
        self.run_dir = write_run(os.path.join(self.dir, "results", "m", "quick-1"),
                                 documents(base_rtt(), base_streams()))
        self.readme = os.path.join(self.dir, "README.md")
        with open(self.readme, "w", encoding="utf-8") as f:
            f.write(self.FIRST)

    def tearDown(self):
        self._tmp.cleanup()

    def read(self):
        with open(self.readme, encoding="utf-8") as f:
            return f.read()

    def test_write_inserts_after_the_first_paragraph_and_check_passes(self):
        result = run_program(self.run_dir, "--write", self.readme)
        self.assertEqual(result.returncode, 0, result.stderr)
        text = self.read()
        self.assertTrue(text.startswith("# Title\n\nThe first paragraph,\non two lines.\n\n"
                                        "<!-- figures:begin source=results/m/quick-1 "
                                        "(generated by plots/readme_figures.py: do not edit by "
                                        "hand) -->\n"), text[:300])
        self.assertTrue(text.endswith("<!-- figures:end -->\n\n## Two commands\n\nText.\n"))
        self.assertIn("![latency.png](results/m/quick-1/latency.png)", text)
        self.assertEqual(run_program("--check", self.readme).returncode, 0)
        self.assertEqual(run_program(self.run_dir, "--check", self.readme).returncode, 0)
        # A second --write replaces the block: nothing changes.
        self.assertEqual(run_program(self.run_dir, "--write", self.readme).returncode, 0)
        self.assertEqual(self.read(), text)

    def test_check_fails_with_a_diff_when_a_number_was_edited(self):
        run_program(self.run_dir, "--write", self.readme)
        text = self.read()
        edited = text.replace("| Pipe | `pipe` | 60.0 |", "| Pipe | `pipe` | 50.0 |")
        self.assertNotEqual(text, edited)
        with open(self.readme, "w", encoding="utf-8") as f:
            f.write(edited)
        result = run_program("--check", self.readme)
        self.assertEqual(result.returncode, 1)
        self.assertIn("-| Pipe | `pipe` | 50.0 |", result.stdout)
        self.assertIn("+| Pipe | `pipe` | 60.0 |", result.stdout)

    def assert_bad_input(self, result, *named):
        self.assertEqual(result.returncode, EXIT_BAD_INPUT, result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        for value in named:
            self.assertIn(value, result.stderr)

    def test_missing_folder(self):
        missing = os.path.join(self.dir, "no-such-run")
        self.assert_bad_input(run_program(missing), missing, "no such folder")

    def test_missing_file(self):
        os.remove(os.path.join(self.run_dir, "same_cpu.json"))
        self.assert_bad_input(run_program(self.run_dir),
                              os.path.join(self.run_dir, "same_cpu.json"), "no such file")

    def test_malformed_json(self):
        path = os.path.join(self.run_dir, "different_cpus.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write("{ not json")
        self.assert_bad_input(run_program(self.run_dir, "--check", self.readme), path,
                              "not JSON")

    def test_check_of_a_readme_without_markers(self):
        self.assert_bad_input(run_program(self.run_dir, "--check", self.readme), self.readme,
                              "no '<!-- figures:begin ...' and '<!-- figures:end -->' markers")
        self.assert_bad_input(run_program("--check", self.readme), self.readme,
                              "no '<!-- figures:begin ...' marker")

    def test_missing_readme(self):
        missing = os.path.join(self.dir, "NOPE.md")
        self.assert_bad_input(run_program(self.run_dir, "--write", missing), missing,
                              "cannot read the README")

    def test_marker_naming_a_missing_folder(self):
        with open(self.readme, "w", encoding="utf-8") as f:
            f.write(self.FIRST + readme.begin_marker("results/gone") + "\n"
                    + readme.END + "\n")
        self.assert_bad_input(run_program("--check", self.readme),
                              os.path.join(self.dir, "results/gone"), "no such folder")


if __name__ == "__main__":
    unittest.main()
