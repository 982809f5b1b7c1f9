"""Tests of plots/report.py (the package plots/ipcreport/) on small hand-written JSON files in
data/ (run by CTest).

The command-line tests run the program the way users do (/usr/bin/python3 plots/report.py) and
check its exit status, its messages and what it writes; the unit tests import the package to
check how names are parsed and which cases are plotted. Verdicts are tested as data in
test_verdicts.py; statistics and histograms in test_stats.py.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
PROGRAM = os.path.join(os.path.dirname(HERE), "report.py")
PICTURES = ("latency.png", "latency_vs_size.png", "throughput_vs_size.png", "latency_cdf.png")
SCALING = ("scaling_fan_in.png", "scaling_fan_out.png", "scaling_pairs.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import fmt, load, model, pictures  # noqa: E402  (the program under test)

EXIT_BAD_INPUT = 2


def data(name):
    """The path of a fixture file."""
    return os.path.join(DATA, name)


def read_text(path):
    """The text of a file (closed again)."""
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_fixture(name):
    """A fixture's parsed JSON, to write a variant of it."""
    return json.loads(read_text(data(name)))


def run_report(*args):
    """Runs the program; returns the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, PROGRAM, *args], capture_output=True, text=True,
                          timeout=120, check=False)


class OutputDir(unittest.TestCase):
    """A fresh temporary folder per test, removed afterwards."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-report-test-")
        self.out = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write_json(self, name, document):
        """Writes a variant fixture into the temporary folder; returns its path."""
        path = os.path.join(self.out, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f)
        return path


def assert_png(test, path):
    """The file exists, is a PNG and is not empty."""
    test.assertTrue(os.path.exists(path), path)
    with open(path, "rb") as f:
        test.assertEqual(f.read(len(PNG_SIGNATURE)), PNG_SIGNATURE, path)
    test.assertGreater(os.path.getsize(path), 1000, path)


def section(report_text, heading):
    """The text of REPORT.md from `heading` up to the next heading of the same level."""
    level = heading.split(" ")[0]
    body = report_text.split(heading + "\n", 1)[1]
    return re.split(rf"^{level} ", body, maxsplit=1, flags=re.M)[0]


def lecture_rows(report_text, placement_title):
    """{mechanism: cells} of the lecture's table for one placement in REPORT.md."""
    section = report_text.split(f"### Placement: {placement_title}\n", 1)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0]] = cells
    return rows


class NormalRun(OutputDir):
    """A release run with every lecture row, Limit rows and rows of kinds not reported."""

    @classmethod
    def setUpClass(cls):
        cls._tmp_class = tempfile.TemporaryDirectory(prefix="ipcbench-report-test-")
        cls.out_dir = cls._tmp_class.name
        cls.result = run_report("--out", cls.out_dir, data("normal_run.json"),
                                data("same_cpu_run.json"))
        path = os.path.join(cls.out_dir, "REPORT.md")
        cls.text = read_text(path) if os.path.exists(path) else ""

    @classmethod
    def tearDownClass(cls):
        cls._tmp_class.cleanup()

    def test_exits_zero_without_errors(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertNotIn("Traceback", self.result.stderr)

    def test_writes_four_pictures_that_are_png_and_not_empty(self):
        for name in PICTURES:
            path = os.path.join(self.out_dir, name)
            self.assertTrue(os.path.exists(path), name)
            with open(path, "rb") as f:
                head = f.read(len(PNG_SIGNATURE))
            self.assertEqual(head, PNG_SIGNATURE, name)
            self.assertGreater(os.path.getsize(path), 1000, name)

    def test_report_links_every_picture(self):
        for name in PICTURES:
            self.assertIn(f"]({name})", self.text)

    def test_machine_section_names_cpu_kernel_pinning_revision(self):
        for expected in ("Fixture CPU 9000", "Linux 6.1.0-fixture", "producer=cpu0 consumer=cpu1",
                         "abc123fixture", "2026-11-20T10:00:00+00:00",
                         "running under a hypervisor"):
            self.assertIn(expected, self.text)

    def test_every_lecture_row_with_transports_has_figure_and_verdict(self):
        rows = lecture_rows(self.text, "different CPUs")
        for mechanism, _, _ in model.LECTURE_TABLE:
            cells = rows[mechanism]
            self.assertNotEqual(cells[3], "none", mechanism)
            self.assertRegex(cells[4], r"µs", mechanism)  # a measured round trip
            for cell in (cells[7], cells[8]):
                self.assertRegex(cell, r"^\*\*(holds|does not hold|inconclusive)\*\*", mechanism)

    def test_variants_are_shown_beside_the_mechanism_the_lecture_means(self):
        rows = lecture_rows(self.text, "different CPUs")
        self.assertEqual(rows["Shared memory"][3], "sysv_shm, shm_spin (variant)")
        self.assertIn("shm_spin (variant): **", rows["Shared memory"][7])
        self.assertIn("threads (baseline, in-process baseline: shown, not ranked)", rows)

    def test_one_repetition_ranks_nothing(self):
        # The fixture has one repetition of most cases: no speed word can be judged.
        rows = lecture_rows(self.text, "different CPUs")
        self.assertIn("too few repetitions to rank", rows["Pipe"][7])
        self.assertTrue(rows["Pipe"][7].startswith("**inconclusive**"))

    def test_volume_is_measured_not_declared(self):
        rows = lecture_rows(self.text, "different CPUs")
        self.assertIn("the largest message it carried is 0 B", rows["Signal"][8])
        self.assertTrue(rows["Semaphore"][8].startswith("**does not hold**"))

    def test_median_over_repetitions_stands_for_repeated_case(self):
        rows = lecture_rows(self.text, "different CPUs")
        self.assertIn("pipe 6.00 µs (64 B)", rows["Pipe"][4])  # the median, not the mean 6.07

    def test_method_section_states_alpha_threshold_and_repetitions(self):
        text = section(self.text, "## How the verdicts are decided")
        for expected in ("Mann-Whitney U", "p < 0.05", "noise threshold", "2.5x",
                         "fewer than 5 repetitions", "tier", "Like with like"):
            self.assertIn(expected, text)

    def test_verdicts_json_beside_the_report(self):
        with open(os.path.join(self.out_dir, "verdicts.json"), encoding="utf-8") as f:
            verdicts = json.load(f)
        self.assertTrue(verdicts)
        for v in verdicts:
            self.assertLessEqual({"claim", "placement", "status", "evidence"}, set(v))
            self.assertIn(v["status"], ("holds", "does_not_hold", "inconclusive"))
            self.assertIsInstance(v["evidence"]["sentence"], str)
        # The claim judged between two hosts is always there (inconclusive without a peer run).
        self.assertEqual({v["placement"] for v in verdicts},
                         {"different_cpus", "same_cpu", "between_hosts"})

    def test_without_side_file_report_says_percentiles_are_row_counters(self):
        self.assertIn("have no histogram side file", self.text)

    def test_absent_transports_say_not_measured(self):
        rows = lecture_rows(self.text, "same CPU")
        self.assertIn("signal: nothing measured at this placement", rows["Signal"][8])

    def test_distance_to_hardware_uses_the_burst_ratio_measured_next_to_the_case(self):
        # shm_spin's row: rtt_burst_ns 200 / cacheline_ns 80 = rtt_x_cacheline 2.5 (test data).
        self.assertIn("round trip p50 0.150 µs at the start of the run", self.text)
        self.assertIn("| shm_spin | 0.300 µs | 2.50x (0.200 µs / 0.0800 µs) |", self.text)
        self.assertIn("on the same CPUs, the line bounced right after that case", self.text)
        self.assertIn("trivial system call (Limit/syscall): 0.120 µs", self.text)

    def test_distance_to_hardware_gives_a_bare_notifications_rate_not_zero_bytes(self):
        text = section(self.text, "## Distance to the hardware")
        self.assertRegex(text, r"\| sysv_sem \| 8\.00 µs \| [^|]+ \| [^|]+ \| 200000/s \(no payload\) \|")
        self.assertNotIn("0 MB/s (0 B)", text)

    def test_distance_to_hardware_without_the_ratio_counter_is_not_shown(self):
        # pipe's row has no rtt_x_cacheline: its p50 is not divided by the Limit row's bounce,
        # which is timed another way.
        self.assertIn("| pipe | 6.00 µs | n/a |", self.text)

    def test_same_cpu_placement_says_there_is_no_cache_line_floor(self):
        text = section(section(self.text, "## Distance to the hardware"),
                       "### Placement: same CPU")
        self.assertIn("there is no cache-line floor on one CPU", text)

    def test_both_placements_and_ignored_kinds_reported(self):
        self.assertIn("### Placement: different CPUs", self.text)
        self.assertIn("### Placement: same CPU", self.text)
        self.assertIn("(Burst): 1 rows, left out", self.text)

    def test_placement_table_sets_the_two_runs_side_by_side(self):
        assert_png(self, os.path.join(self.out_dir, "placement.png"))
        text = section(self.text, "## CPU placement")
        # normal_run.json: pipe 6.00 µs (median of 3) on different CPUs; same_cpu_run.json: 2.00.
        self.assertIn("| pipe | 64 B | 2.00 µs | 6.00 µs | 3.00x |", text)
        self.assertIn("different CPUs / same CPU", text)
        self.assertIn("goes through the hypervisor", text)  # ipcbench_warnings says so

    def test_pattern_rows_of_one_file_only(self):
        assert_png(self, os.path.join(self.out_dir, "scaling_fan_in.png"))
        for name in ("scaling_fan_out.png", "scaling_pairs.png"):
            self.assertFalse(os.path.exists(os.path.join(self.out_dir, name)), name)
            self.assertIn(f"*{name}*: not produced: the input has no", self.text)
        self.assertIn("| unix_stream | 2 | 80000/s | 64 B | 25.0 µs | 50.0 µs | 60.0 µs | 0 |",
                      self.text)

    def test_unsupported_cases_listed(self):
        self.assertIn("| RoundTrip/posix_mq/bytes:65536 | different CPUs | unsupported | "
                      "larger than msgsize_max 8192", self.text)


FAN_IN_HEADING = "### FanIn: one server, N clients (`FanIn/<transport>/clients:<n>`)"


class PatternsRun(unittest.TestCase):
    """FanIn, FanOut and Pairs rows, some errored or unsupported, at one placement."""

    @classmethod
    def setUpClass(cls):
        cls._tmp_class = tempfile.TemporaryDirectory(prefix="ipcbench-report-test-")
        cls.out_dir = cls._tmp_class.name
        cls.result = run_report("--out", cls.out_dir, data("patterns_run.json"))
        path = os.path.join(cls.out_dir, "REPORT.md")
        cls.text = read_text(path) if os.path.exists(path) else ""

    @classmethod
    def tearDownClass(cls):
        cls._tmp_class.cleanup()

    def test_exits_zero(self):
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertNotIn("Traceback", self.result.stderr)

    def test_one_scaling_picture_per_pattern(self):
        for name in SCALING:
            assert_png(self, os.path.join(self.out_dir, name))
            self.assertIn(f"]({name})", self.text)

    def test_one_placement_gives_no_placement_picture(self):
        self.assertFalse(os.path.exists(os.path.join(self.out_dir, "placement.png")))
        self.assertIn("*placement.png*: not produced: the input has good round trips at one "
                      "placement only (different CPUs)", self.text)
        self.assertIn("Not measured in this input: good round trips at one placement only",
                      section(self.text, "## CPU placement"))

    def test_fan_in_table_and_scaling(self):
        text = section(self.text, FAN_IN_HEADING)
        self.assertIn("| unix_stream | 4 | 40000/s | 64 B | 100 µs | 200 µs | 250 µs | 0 | "
                      "not recorded |", text)
        self.assertIn("| unix_stream | 2 | 30000/s | 64 B | 60.0 µs | 100 µs | 120 µs | 0 | "
                      "server=cpu0 client0=cpu1 client1=cpu0 |", text)
        self.assertIn("| unix_stream | 1 -> 4 (4.00x) | 20000/s -> 40000/s (2.00x) | "
                      "40.0 µs -> 100 µs (2.50x) | 80.0 µs -> 250 µs (3.12x) |", text)

    def test_server_claim_per_connected_socket(self):
        text = section(self.text, FAN_IN_HEADING)
        self.assertIn("- unix_stream: **holds**: unix_stream: one server served N = 2, 4 "
                      "clients in one loop", text)
        self.assertIn("- tcp: **does not hold**: tcp: FanIn/tcp/clients:2/bytes:64/iterations:300/"
                      "manual_time: failed client 1: peer made no progress", text)

    def test_mailbox_claim_and_delivery_to_the_last(self):
        text = section(self.text, "### FanOut (mailbox): one producer, N consumers "
                                  "(`FanOut/<transport>/consumers:<n>`)")
        self.assertIn("| pipe | 4 | 60000/s | 64 B | 60.0 µs | 30.0 µs | 45.0 µs | 0 | 7000 |",
                      text)
        self.assertIn("**holds**: one producer delivered every message to each of up to 4 "
                      "consumers over 2 transports (pipe, posix_mq)", text)
        self.assertIn("pipe 15.0 µs -> 30.0 µs (2.00x) (N = 1 -> 4: too few repetitions "
                      "to tell)", text)

    def test_pairs_table_has_no_verdict(self):
        text = section(self.text, "### Pairs: N independent pairs at once "
                                  "(`Pairs/<transport>/pairs:<n>`)")
        self.assertIn("| pipe | 4 | 50000/s | 64 B | 80.0 µs | 150 µs | 200 µs | 0 | pair 0: "
                      "cpu0->cpu1, pair 1: cpu1->cpu0", text)
        self.assertIn("N = 1, 4 pairs on 2 CPUs", text)
        self.assertNotIn("**holds**", text)
        self.assertNotIn("**does not hold**", text)

    def test_errored_and_unsupported_pattern_rows_listed_not_plotted(self):
        problems = section(self.text, "## Errored, unsupported and corrupt cases (not plotted)")
        self.assertIn("| FanIn/tcp/clients:2/bytes:64/iterations:300/manual_time | different CPUs "
                      "| errored | failed client 1: peer made no progress |", problems)
        self.assertIn("| FanOut/tcp/consumers:2/bytes:64/iterations:500/manual_time | different "
                      "CPUs | errored | consumer 1: connection reset |", problems)
        self.assertIn("| FanOut/udp | different CPUs | unsupported |", problems)
        dataset = load.load_dataset([data("patterns_run.json")])
        self.assertEqual([c.params["clients"] for c in
                          dataset.pattern(model.FAN_IN, "different_cpus", "tcp")], [1])
        self.assertEqual(dataset.pattern(model.FAN_OUT, "different_cpus", "tcp"), [])
        self.assertEqual(dataset.pattern_transports(model.FAN_OUT), ["pipe", "posix_mq"])


class PlacementRun(OutputDir):
    """A --placement= run: the placement in each round trip's name, near to far."""

    def test_placement_picture_and_ratios(self):
        result = run_report("--out", self.out, data("placement_run.json"))
        self.assertEqual(result.returncode, 0, result.stderr)
        assert_png(self, os.path.join(self.out, "placement.png"))
        text = section(read_text(os.path.join(self.out, "REPORT.md")), "## CPU placement")
        # Ordered near to far whatever the order in the file; 64 B is the common size.
        self.assertIn("| Transport | Size | RTT p50, same CPU | RTT p50, same last-level cache | "
                      "RTT p50, different last-level caches | same last-level cache / same CPU "
                      "| different last-level caches / same CPU |", text)
        self.assertIn("| pipe | 64 B | 4.00 µs | 20.0 µs | 30.0 µs | 5.00x | 7.50x |", text)
        self.assertIn("| unix_stream | 64 B | 10.0 µs | 25.0 µs | 20.0 µs | 2.50x | 2.00x |",
                      text)
        self.assertNotIn("| signal |", text)  # errored at different_llc: no common size
        self.assertIn("from 2.50x (unix_stream) to 5.00x (pipe), median 3.75x", text)
        self.assertIn("same last-level cache: cpu0,cpu1 (different cores sharing", text)
        self.assertNotIn("hypervisor", text)  # virtual_machine: no

    def test_pattern_rows_without_placement_form_their_own_group(self):
        dataset = load.load_dataset([data("placement_run.json")])
        self.assertEqual(dataset.rtt_placements(), ["same_cpu", "same_llc", "different_llc"])
        self.assertEqual(dataset.pattern_placements, [model.PER_CASE])
        self.assertNotIn(model.PER_CASE, dataset.placements)  # no lecture table for it
        found = dataset.placement_rtt("pipe", dataset.rtt_placements())
        self.assertEqual({p: c.bytes for p, c in found.items()},
                         {"same_cpu": 64, "same_llc": 64, "different_llc": 64})


class ErroredAndUnsupported(OutputDir):
    """Errored, unsupported and corrupt cases: listed in the report, never plotted or ranked."""

    def test_report_lists_errored_unsupported_and_corrupt(self):
        result = run_report("--out", self.out, data("errored_unsupported.json"))
        self.assertEqual(result.returncode, 0, result.stderr)
        for name in PICTURES:
            self.assertGreater(os.path.getsize(os.path.join(self.out, name)), 0)
        text = read_text(os.path.join(self.out, "REPORT.md"))
        self.assertIn("| errored | recv(fifo /tmp/ipcb-x/down): peer made no progress", text)
        self.assertIn("| RoundTrip/signal/bytes:64 | different CPUs | unsupported | signal "
                      "carries no payload", text)
        self.assertIn("| Stream/posix_mq/bytes:1048576 | different CPUs | unsupported |", text)
        self.assertIn("| corrupt data | 3 corrupt messages", text)
        rows = lecture_rows(text, "different CPUs")
        self.assertIn("fifo: no round trip measured at this placement", rows["FIFO queue"][7])
        self.assertTrue(rows["Socket"][7].startswith("**inconclusive**"))

    def test_run_with_nothing_to_plot_still_writes_every_file(self):
        document = load_fixture("errored_unsupported.json")
        document["benchmarks"] = [b for b in document["benchmarks"] if b.get("error_occurred")]
        result = run_report("--out", self.out, self.write_json("only_errors.json", document))
        self.assertEqual(result.returncode, 0, result.stderr)
        for name in (*PICTURES, "REPORT.md"):
            self.assertGreater(os.path.getsize(os.path.join(self.out, name)), 0, name)

    def test_no_pattern_rows_no_scaling_pictures_and_stale_ones_removed(self):
        stale = os.path.join(self.out, "scaling_fan_in.png")
        with open(stale, "wb") as f:
            f.write(PNG_SIGNATURE)
        result = run_report("--out", self.out, data("errored_unsupported.json"))
        self.assertEqual(result.returncode, 0, result.stderr)
        text = read_text(os.path.join(self.out, "REPORT.md"))
        for name in (*SCALING, "placement.png"):
            self.assertFalse(os.path.exists(os.path.join(self.out, name)), name)
            self.assertIn(f"*{name}*: not produced:", text)
        self.assertIn("*scaling_fan_in.png*: not produced: the input has no FanIn rows", text)
        self.assertIn("Not measured in this input (no FanOut rows).", text)

    def test_pattern_with_only_errored_rows_has_no_picture(self):
        document = load_fixture("patterns_run.json")
        document["benchmarks"] = [b for b in document["benchmarks"]
                                  if not b["name"].startswith("FanIn/") or b.get("error_occurred")]
        result = run_report("--out", self.out, self.write_json("fan_in_errored.json", document))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "scaling_fan_in.png")))
        assert_png(self, os.path.join(self.out, "scaling_fan_out.png"))
        text = read_text(os.path.join(self.out, "REPORT.md"))
        self.assertIn("*scaling_fan_in.png*: not produced: no FanIn case ran without error", text)
        self.assertIn("No case ran without error in this group.", text)

    def test_only_good_cases_are_selected_for_plots(self):
        dataset = load.load_dataset([data("errored_unsupported.json")])
        placement = "different_cpus"
        self.assertEqual(dataset.select(model.ROUND_TRIP, placement, "fifo"), [])
        self.assertEqual(dataset.select(model.ROUND_TRIP, placement, "unix_stream"), [])
        self.assertEqual(dataset.select(model.ROUND_TRIP, placement, "signal"), [])
        self.assertEqual([c.bytes for c in dataset.select(model.ROUND_TRIP, placement, "pipe")],
                         [64])
        self.assertEqual(dataset.transports, ["signal", "pipe", "fifo", "posix_mq", "unix_stream"])


class Refusals(OutputDir):
    """Bad input ends with exit status 2 and a message naming the file and the problem."""

    refused = 0  # cases refused as they should be, printed at the end

    @classmethod
    def tearDownClass(cls):
        print(f"\nreport program: {cls.refused} bad-input cases refused with a message "
              "and exit status 2")
        super().tearDownClass()

    def assert_refused(self, path, *fragments):
        type(self).refused += 1
        result = run_report("--out", os.path.join(self.out, "report"), path)
        self.assertEqual(result.returncode, EXIT_BAD_INPUT, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertIn(path, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "report", "REPORT.md")))

    def test_missing_file(self):
        self.assert_refused(os.path.join(self.out, "absent.json"), "cannot read the file")

    def test_not_json(self):
        self.assert_refused(data("not_json.json"), "not JSON", "line 1")

    def test_json_that_is_not_google_benchmark_output(self):
        self.assert_refused(data("not_benchmark.json"), "not Google Benchmark JSON output")

    def test_debug_build(self):
        self.assert_refused(data("debug_build.json"), "ipcbench_build_type is 'Debug'",
                            "only a release build")

    def test_sanitizer_build(self):
        document = load_fixture("normal_run.json")
        document["context"]["ipcbench_build_type"] = "Release+sanitize=address,undefined"
        self.assert_refused(self.write_json("asan.json", document),
                            "'Release+sanitize=address,undefined'")

    def test_run_without_build_type(self):
        document = load_fixture("normal_run.json")
        del document["context"]["ipcbench_build_type"]
        self.assert_refused(self.write_json("other.json", document), "no 'ipcbench_build_type'")

    def test_missing_fields(self):
        self.assert_refused(data("missing_fields.json"),
                            "'RoundTrip/pipe/bytes:64/iterations:2000/manual_time'",
                            "no numeric field 'p50_ns'")

    def test_pattern_row_missing_fields(self):
        document = load_fixture("patterns_run.json")
        row = next(b for b in document["benchmarks"] if b["name"].startswith("FanOut/pipe/"))
        del row["delivery_p50_ns"]
        self.assert_refused(self.write_json("fanout.json", document),
                            "FanOut/pipe/consumers:1/bytes:64",
                            "no numeric field 'delivery_p50_ns'")

    def test_pattern_rate_of_zero(self):
        document = load_fixture("patterns_run.json")
        row = next(b for b in document["benchmarks"] if b["name"].startswith("Pairs/"))
        row["items_per_second"] = 0
        self.assert_refused(self.write_json("pairs.json", document), "items_per_second = 0",
                            "a measured rate is positive")

    def test_round_trip_of_zero_time(self):
        document = load_fixture("normal_run.json")
        document["benchmarks"][0]["p50_ns"] = 0
        self.assert_refused(self.write_json("zero.json", document), "p50_ns = 0")

    def test_row_without_name(self):
        document = load_fixture("normal_run.json")
        del document["benchmarks"][0]["name"]
        self.assert_refused(self.write_json("noname.json", document), "benchmarks[0]",
                            "no 'name'")

    def test_same_case_in_two_files(self):
        result = run_report("--out", self.out, data("normal_run.json"),
                            data("errored_unsupported.json"))
        self.assertEqual(result.returncode, EXIT_BAD_INPUT)
        self.assertIn("give one run per placement", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_empty_file(self):
        path = os.path.join(self.out, "empty.json")
        with open(path, "w", encoding="utf-8"):
            pass
        self.assert_refused(path, "not JSON")

    def test_a_directory_instead_of_a_file(self):
        self.assert_refused(self.out, "cannot read the file")

    def test_benchmarks_that_are_not_a_list(self):
        document = load_fixture("normal_run.json")
        document["benchmarks"] = "many"
        self.assert_refused(self.write_json("shape.json", document))

    def test_json_array_at_the_top(self):
        path = os.path.join(self.out, "array.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write("[1, 2, 3]")
        self.assert_refused(path, "not Google Benchmark JSON output")

    def test_negative_percentile(self):
        document = load_fixture("normal_run.json")
        document["benchmarks"][0]["p99_ns"] = -5
        self.assert_refused(self.write_json("negative.json", document), "p99_ns")

    def test_not_utf8(self):
        path = os.path.join(self.out, "binary.json")
        with open(path, "wb") as f:
            f.write(b"\xff\xfe\x00garbage")
        self.assert_refused(path)

    def test_unknown_option_and_missing_out_value(self):
        for args in (["--bogus", "--out", self.out, data("normal_run.json")], ["--out"]):
            type(self).refused += 1
            result = run_report(*args)
            self.assertEqual(result.returncode, 2, args)
            self.assertNotIn("Traceback", result.stderr)
            self.assertIn(args[0], result.stderr)

    def test_file_without_transport_list(self):
        document = load_fixture("normal_run.json")
        del document["context"]["ipcbench_transports"]
        self.assert_refused(self.write_json("old.json", document), "'ipcbench_transports'",
                            "regenerate")

    def test_malformed_transport_list(self):
        document = load_fixture("normal_run.json")
        document["context"]["ipcbench_transports"] = '[{"id": 3}]'
        self.assert_refused(self.write_json("bad_list.json", document),
                            "'ipcbench_transports'[0]", "'id'")

    def test_missing_histogram_side_file(self):
        document = load_fixture("normal_run.json")
        document["context"]["ipcbench_histograms"] = "absent.json.hist.jsonl"
        path = self.write_json("with_side.json", document)
        type(self).refused += 1
        result = run_report("--out", os.path.join(self.out, "report"), path)
        self.assertEqual(result.returncode, EXIT_BAD_INPUT, result.stderr)
        self.assertIn("absent.json.hist.jsonl", result.stderr)
        self.assertIn("cannot read the histogram file", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_malformed_histogram_side_file(self):
        document = load_fixture("normal_run.json")
        document["context"]["ipcbench_histograms"] = "run.json.hist.jsonl"
        line = fixtures.histogram_line(1, "RoundTrip/pipe/bytes:64", [5, 6])
        for lines, fragment in (
                (['{"format": "other"}'], "not an 'ipcbench-histograms' version 1 header"),
                ([json.dumps(fixtures.HEADER), "{not json"], "line 2: not JSON"),
                ([json.dumps(fixtures.HEADER), json.dumps(dict(line, count=3))],
                 "the buckets hold 2 samples, not count = 3")):
            with open(os.path.join(self.out, "run.json.hist.jsonl"), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            path = self.write_json("run.json", document)
            type(self).refused += 1
            result = run_report("--out", os.path.join(self.out, "report"), path)
            self.assertEqual(result.returncode, EXIT_BAD_INPUT, result.stderr)
            self.assertIn("run.json.hist.jsonl", result.stderr)
            self.assertIn(fragment, result.stderr)
            self.assertNotIn("Traceback", result.stderr)

    def test_row_naming_an_absent_histogram(self):
        document = load_fixture("normal_run.json")
        document["context"]["ipcbench_histograms"] = "run.json.hist.jsonl"
        document["benchmarks"][0]["hist_id"] = 77
        fixtures.write_side_file(os.path.join(self.out, "run.json.hist.jsonl"), [])
        self.assert_refused(self.write_json("run.json", document), "no histogram with hist_id 77")

    def test_compare_option_is_gone(self):
        result = run_report("--compare", data("normal_run.json"), data("same_cpu_run.json"),
                            "--out", self.out)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--compare", result.stderr)

    def test_no_input_is_a_usage_error(self):
        result = run_report("--out", self.out)
        self.assertEqual(result.returncode, 2)
        self.assertIn("no input", result.stderr)


class Names(unittest.TestCase):
    """Benchmark names are parsed tolerantly."""

    def test_quick_round_trip(self):
        self.assertEqual(load.parse_name("RoundTrip/pipe/bytes:64/iterations:2000/manual_time"),
                         ("RoundTrip", "pipe", {"bytes": 64, "iterations": 2000}, None))

    def test_short_name_keys_the_context(self):
        self.assertEqual(load.short_name("FanIn/tcp/clients:2/bytes:64/iterations:300/"
                                           "manual_time"), "FanIn/tcp/clients:2/bytes:64")

    def test_limit_and_later_kinds(self):
        self.assertEqual(load.parse_name("Limit/memcpy/bytes:65536")[:3],
                         ("Limit", "memcpy", {"bytes": 65536}))
        self.assertEqual(load.parse_name("FanIn/tcp/clients:4/manual_time")[:3],
                         ("FanIn", "tcp", {"clients": 4}))
        self.assertEqual(load.parse_name("Limit/syscall"), ("Limit", "syscall", {}, None))

    def test_placement_in_name(self):
        self.assertEqual(load.parse_name("RoundTrip/pipe/bytes:64/placement:smt_sibling")[3],
                         "smt_sibling")
        self.assertEqual(load.parse_name("RoundTrip/pipe/same_cpu/bytes:64/manual_time")[3],
                         "same_cpu")

    def test_odd_names_do_not_crash(self):
        for name in ("", "/", "Weird", "RoundTrip", "a/b/c:d:e/f"):
            load.parse_name(name)

    def test_run_length_does_not_identify_a_case(self):
        a = model.Case("RoundTrip", "pipe", {"bytes": 64, "iterations": 2000}, "same_cpu", "a",
                        "n")
        b = model.Case("RoundTrip", "pipe", {"bytes": 64}, "same_cpu", "b", "n")
        self.assertEqual(a.key(), b.key())


class Formatting(unittest.TestCase):
    """Numbers keep three significant digits and their units."""

    def test_units(self):
        self.assertEqual(fmt.fmt_us(35711), "35.7 µs")
        self.assertEqual(fmt.fmt_us(115), "0.115 µs")
        self.assertEqual(fmt.fmt_mbps(5262140000), "5262 MB/s")
        self.assertEqual(fmt.fmt_bytes(65536), "64 KiB")
        self.assertEqual(fmt.fmt_bytes(1000), "1000 B")
        self.assertEqual(fmt.fmt_count(16384.0), "16384")

    def test_distribution_points_skip_unresolved_percentiles(self):
        case = model.Case("RoundTrip", "pipe", {"bytes": 64}, "x", "f", "n",
                           counters={"p50_ns": 1000, "p90_ns": 2000, "p99_ns": 3000,
                                     "p999_ns": 4000, "max_ns": 5000, "samples": 50})
        points = pictures.distribution_points(case)
        self.assertEqual([tail for _, tail in points], [0.5, 0.1, 0.02])  # max at 1/50
        self.assertTrue(all(re.match(r"^[0-9.]+$", str(x)) for x, _ in points))


if __name__ == "__main__":
    unittest.main()
