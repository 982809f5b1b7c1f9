"""Tests of two things the report must not blur (issue 12, items 4 and 8), on small variants of the
committed fixtures written in the test:

- the distance to the hardware: a round trip is given in cache-line round trips only through
  rtt_x_cacheline (both sides timed K back-to-back per pair of clock reads), and only on two CPUs;
  on one CPU there is no cache-line floor and a sched_yield ping-pong is not called one; likewise
  a peak stream is given as a fraction of the cross-core copy only through fraction_of_floor, on
  two CPUs, and a copy on one CPU is not called a floor;
- CPU sharing in the patterns: no scaling line, ratio or growth word spans a change of the
  counter cpu_shared (1 when two processes of a case were pinned to one CPU).
"""

import copy
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from test_report import (OutputDir, load_fixture, read_text, run_report,  # noqa: E402
                         section)
from ipcreport import load, model, pictures  # noqa: E402  (the program under test)

HARDWARE = "## Distance to the hardware"


def row(document, name_prefix):
    """The first benchmark row whose name starts with `name_prefix` (to edit in place)."""
    return next(b for b in document["benchmarks"] if b["name"].startswith(name_prefix))


def limit_row(name, p50_ns):
    """A Limit row as ipcbench writes one (a round trip probe with percentile counters)."""
    return {"name": f"Limit/{name}/iterations:2000/manual_time", "run_type": "iteration",
            "iterations": 2000, "real_time": p50_ns / 1000.0, "time_unit": "us",
            "p50_ns": p50_ns, "p90_ns": p50_ns, "p99_ns": p50_ns, "samples": 2000}


class HardwareFloor(OutputDir):
    """Two CPUs: the ratio is rtt_x_cacheline; one CPU: no floor, whatever the rows say."""

    def report(self, *documents):
        paths = [self.write_json(f"run{i}.json", d) for i, d in enumerate(documents)]
        result = run_report("--out", self.out, *paths)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        return read_text(os.path.join(self.out, "REPORT.md"))

    def test_two_cpus_ratio_is_the_burst_over_the_floor_measured_the_same_way(self):
        # shm_spin: p50 300 ns, rtt_burst_ns 200, cacheline_ns 80, rtt_x_cacheline 2.5, K 64.
        # The per-message p50 over the floor would be 3.75x; over the Limit row's 150 ns, 2.00x.
        text = section(section(self.report(load_fixture("normal_run.json")), HARDWARE),
                       "### Placement: different CPUs")
        self.assertIn("| shm_spin | 0.300 µs | 2.50x (0.200 µs / 0.0800 µs) |", text)
        self.assertIn("K back-to-back round trips per pair of clock reads (K = 64", text)
        self.assertNotIn("3.75x", text)
        self.assertNotIn("2.00x", text)
        # pipe's row carries no ratio counter: not shown, not made up from the Limit row.
        self.assertIn("| pipe | 6.00 µs | n/a |", text)

    def test_two_cpus_two_line_ratio_is_shown_from_its_counter_beside_the_cache_line(self):
        document = load_fixture("normal_run.json")
        document["benchmarks"].append(limit_row("two_line_rtt", 260))
        row(document, "RoundTrip/shm_spin/bytes:64/").update(
            {"two_line_ns": 160, "rtt_x_two_line": 1.25})
        text = section(section(self.report(document), HARDWARE), "### Placement: different CPUs")
        self.assertIn("| shm_spin | 0.300 µs | 2.50x (0.200 µs / 0.0800 µs) | "
                      "1.25x (0.200 µs / 0.160 µs) |", text)
        self.assertIn("two lines bounced between the two CPUs, each written by one side and read "
                      "by the other (Limit/two_line_rtt): round trip p50 0.260 µs", text)
        self.assertIn("no pair of one-way channels can do that", text)
        # pipe carries no two-line counter: n/a, not made up from the Limit row.
        self.assertIn("| pipe | 6.00 µs | n/a | n/a |", text)

    def test_the_report_says_when_the_floor_was_measured(self):
        # Issue 13: a floor bounced by the case's own processes between its bursts says so (counter
        # floor_between_bursts); a file from an ipcbench before it says "right after that case".
        document = load_fixture("normal_run.json")
        text = section(section(self.report(document), HARDWARE), "### Placement: different CPUs")
        self.assertIn("the line bounced right after that case", text)
        self.assertNotIn("between its burst samples", text)
        row(document, "RoundTrip/shm_spin/bytes:64/")["floor_between_bursts"] = 1
        text = section(section(self.report(document), HARDWARE), "### Placement: different CPUs")
        self.assertIn("the line bounced by the case's own producer and consumer between its "
                      "burst samples (counter floor_between_bursts)", text)
        self.assertNotIn("right after that case", text.split("x two-line RTT")[0]
                         .split("x cache-line RTT")[1])
        self.assertIn("| shm_spin | 0.300 µs | 2.50x (0.200 µs / 0.0800 µs) |", text)

    def test_old_counter_names_are_not_shown_and_do_not_crash(self):
        document = load_fixture("normal_run.json")
        shm = row(document, "RoundTrip/shm_spin/bytes:64/")
        for key in ("cacheline_ns", "rtt_burst_ns", "rtt_x_cacheline",
                    "floor_bounces_per_sample"):
            del shm[key]
        shm["cacheline_p50_ns"] = 120
        shm["rtt_p50_x_cacheline"] = 2.5
        text = section(section(self.report(document), HARDWARE), "### Placement: different CPUs")
        self.assertIn("| shm_spin | 0.300 µs | n/a |", text)
        self.assertNotIn("measured next to it", text)

    def test_one_cpu_has_no_cache_line_floor_and_the_yield_pingpong_is_not_one(self):
        document = load_fixture("same_cpu_run.json")
        document["benchmarks"].append(limit_row("yield_pingpong", 1500))
        text = section(self.report(document), HARDWARE)
        self.assertIn("there is no cache-line floor on one CPU", text)
        self.assertIn("sched_yield ping-pong on that CPU (Limit/yield_pingpong): round trip "
                      "p50 1.50 µs", text)
        self.assertIn("not a floor", text)
        self.assertNotIn("cache line bounced", text)

    def test_one_cpu_never_calls_a_bounce_a_floor_even_when_rows_carry_one(self):
        # A file from an older ipcbench: a Limit/cacheline_rtt row measured on one CPU, and a
        # round trip that (wrongly) carries a ratio. Neither is shown as a floor.
        document = load_fixture("same_cpu_run.json")
        document["benchmarks"].append(limit_row("cacheline_rtt", 2490))
        pipe = row(document, "RoundTrip/pipe/bytes:64/")
        pipe.update({"cacheline_ns": 2490, "rtt_burst_ns": 1800, "rtt_x_cacheline": 0.72,
                     "floor_bounces_per_sample": 64})
        text = section(self.report(document), HARDWARE)
        self.assertIn("there is no cache-line floor on one CPU", text)
        self.assertNotIn("cache line bounced", text)
        self.assertNotIn("2.49 µs", text)
        self.assertIn("| pipe | 2.00 µs | n/a |", text)

    def test_one_cpu_is_known_from_the_pinning_too(self):
        dataset = load.load_dataset([os.path.join(HERE, "data", "same_cpu_run.json"),
                                     os.path.join(HERE, "data", "normal_run.json")])
        self.assertTrue(dataset.one_cpu("same_cpu"))
        self.assertFalse(dataset.one_cpu("different_cpus"))
        document = load_fixture("same_cpu_run.json")
        document["context"]["ipcbench_placement"] = "cpu3"  # a name that says nothing
        document["context"]["ipcbench_cpus"] = "producer=cpu3 consumer=cpu3"
        dataset = load.load_dataset([self.write_json("pinned.json", document)])
        self.assertEqual(len(dataset.placements), 1)
        self.assertTrue(dataset.one_cpu(dataset.placements[0]))


def copy_row(name, size, bytes_per_second):
    """A Limit copy row as ipcbench writes one (cross_core_copy on two CPUs, same_cpu_copy on one)."""
    return {"name": f"Limit/{name}/bytes:{size}/iterations:256/manual_time",
            "run_type": "iteration", "iterations": 256, "real_time": size / bytes_per_second * 1e6,
            "time_unit": "us", "bytes_per_second": bytes_per_second, "handovers_per_sample": 8,
            "samples": 32}


class CopyFloor(OutputDir):
    """Two CPUs: a peak stream is given as fraction_of_floor of the cross-core copy measured next
    to it; one CPU: no copy is a floor, whatever the rows say."""

    report = HardwareFloor.report

    def test_two_cpus_peak_stream_is_a_fraction_of_the_copy_measured_next_to_it(self):
        document = load_fixture("normal_run.json")
        document["benchmarks"].append(copy_row("cross_core_copy", 65536, 2.5e10))
        # shm_spin's peak stream: 64 KiB at 10 GB/s, against a copy of 20 GB/s right after it.
        row(document, "Stream/shm_spin/bytes:65536/").update(
            {"floor_bytes_per_second": 2e10, "floor_handovers_per_sample": 8,
             "fraction_of_floor": 0.5})
        text = section(section(self.report(document), HARDWARE), "### Placement: different CPUs")
        self.assertIn("Fraction of the cross-core copy", text)
        self.assertRegex(text, r"\| shm_spin \| [^|]+ \| [^|]+ \| [^|]+ \| 10000 MB/s \(64 KiB\) \| "
                               r"0\.500 \(of 20000 MB/s\) \|")
        self.assertIn("cross-core copy (Limit/cross_core_copy)", text)
        self.assertIn("64 KiB 25000 MB/s", text)
        self.assertIn("an upper bound for such a stream", text)
        self.assertNotIn("Above the cross-core copy", text)
        # Not made up from the Limit row (10 GB/s over its 25 GB/s would be 0.400).
        self.assertNotIn("0.400", text)
        # pipe's stream carries no fraction_of_floor: n/a.
        self.assertRegex(text, r"\| pipe \| [^|]+ \| n/a \| n/a \| [^|]+ \| n/a \|")

    def test_a_stream_above_the_copy_is_named_as_a_disturbed_floor(self):
        document = load_fixture("normal_run.json")
        document["benchmarks"].append(copy_row("cross_core_copy", 65536, 2.5e10))
        row(document, "Stream/shm_spin/bytes:65536/").update(
            {"floor_bytes_per_second": 8e9, "floor_handovers_per_sample": 16,
             "fraction_of_floor": 1.25})
        text = section(section(self.report(document), HARDWARE), "### Placement: different CPUs")
        self.assertRegex(text, r"\| shm_spin \| [^|]+ \| [^|]+ \| [^|]+ \| 10000 MB/s \(64 KiB\) \| "
                               r"1\.25 \(of 8000 MB/s\) \|")
        self.assertIn("- Above the cross-core copy: shm_spin.", text)
        self.assertNotIn("Above the cross-core copy: pipe", text)

    def test_one_cpu_gives_no_stream_a_fraction_of_a_copy(self):
        document = load_fixture("same_cpu_run.json")
        document["benchmarks"].append(copy_row("same_cpu_copy", 64, 1e9))
        # A row that (wrongly) carries a fraction: not shown on one CPU.
        row(document, "Stream/pipe/bytes:64/").update(
            {"floor_bytes_per_second": 1e9, "fraction_of_floor": 0.25})
        text = section(self.report(document), HARDWARE)
        self.assertIn("Limit/same_cpu_copy", text)
        self.assertIn("not a cross-core floor", text)
        self.assertNotIn("cross-core copy (Limit/cross_core_copy)", text)
        self.assertNotIn("0.250", text)
        self.assertNotIn("Fraction of the cross-core copy = ", text)


def shared_patterns():
    """patterns_run.json with cpu_shared on some rows: FanOut/pipe N = 1, 2 each on its own CPU
    and N = 4 sharing; FanIn/unix_stream N = 1 own, N = 2 and 4 sharing; Pairs/pipe N = 1 own,
    N = 4 sharing. posix_mq's FanOut rows keep no counter (as before ipcbench wrote it)."""
    document = load_fixture("patterns_run.json")
    benchmarks = document["benchmarks"]
    two = copy.deepcopy(row(document, "FanOut/pipe/consumers:1/"))
    two["name"] = two["name"].replace("consumers:1", "consumers:2")
    two.update({"items_per_second": 40000, "delivery_p50_ns": 20000, "delivery_p99_ns": 40000})
    benchmarks.insert(benchmarks.index(row(document, "FanOut/pipe/consumers:4/")), two)
    for prefix, shared in (("FanOut/pipe/consumers:1/", 0), ("FanOut/pipe/consumers:2/", 0),
                           ("FanOut/pipe/consumers:4/", 1), ("FanIn/unix_stream/clients:1/", 0),
                           ("FanIn/unix_stream/clients:2/", 1),
                           ("FanIn/unix_stream/clients:4/", 1), ("Pairs/pipe/pairs:1/", 0),
                           ("Pairs/pipe/pairs:4/", 1)):
        row(document, prefix)["cpu_shared"] = shared
    return document


class CpuSharing(OutputDir):
    """No scaling is read across a change of cpu_shared; rows without it behave as before."""

    def setUp(self):
        super().setUp()
        self.path = self.write_json("shared.json", shared_patterns())
        result = run_report("--out", self.out, self.path)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.text = read_text(os.path.join(self.out, "REPORT.md"))

    def fan_out(self):
        return section(self.text, "### FanOut (mailbox): one producer, N consumers "
                                  "(`FanOut/<transport>/consumers:<n>`)")

    def test_scaling_table_stops_where_the_processes_start_sharing_cpus(self):
        text = self.fan_out()
        self.assertIn("| pipe | 1 -> 2 (2.00x), every process on its own CPU | 30000/s -> "
                      "40000/s (1.33x) |", text)
        self.assertIn("- pipe: shares CPUs from N=4 (counter cpu_shared): no ratio is taken "
                      "across that change", text)
        self.assertNotIn("| pipe | 1 -> 4", text)
        # posix_mq's rows have no counter: compared from the smallest to the largest N as before.
        self.assertIn("| posix_mq | 1 -> 4 (4.00x) | 25000/s -> 100000/s (4.00x) |", text)

    def test_delivery_growth_is_judged_within_one_sharing_only(self):
        text = self.fan_out()
        self.assertIn("pipe 15.0 µs -> 20.0 µs (1.33x) (N = 1 -> 2 (every process on its own "
                      "CPU): too few repetitions to tell)", text)
        self.assertNotIn("pipe 15.0 µs -> 30.0 µs", text)  # N = 1 -> 4, across the change
        self.assertIn("| pipe | 4 | 60000/s | 64 B |", text)
        self.assertRegex(text, r"\| pipe \| 4 \| [^\n]*\(shares CPUs\) \|")

    def test_fan_in_compares_only_the_cases_that_share_cpus_alike(self):
        text = section(self.text, "### FanIn: one server, N clients "
                                  "(`FanIn/<transport>/clients:<n>`)")
        self.assertIn("| unix_stream | 2 -> 4 (2.00x), shares CPUs |", text)
        self.assertNotIn("| unix_stream | 1 -> 4", text)
        self.assertIn("unix_stream: shares CPUs from N=2", text)
        self.assertIn("unix_stream, serving in one loop, N = 2 -> 4 clients (shares CPUs): ", text)
        self.assertNotIn("N = 1 -> 4 clients", text)

    def test_pairs_with_one_case_per_sharing_give_no_ratio(self):
        text = section(self.text, "### Pairs: N independent pairs at once "
                                  "(`Pairs/<transport>/pairs:<n>`)")
        self.assertIn("- pipe: shares CPUs from N=4", text)
        self.assertNotIn("1 -> 4", text)

    def test_scaling_picture_breaks_the_line_and_marks_shared_points(self):
        dataset = load.load_dataset([self.path])
        plt = pictures.import_pyplot()
        style = pictures.transport_style(dataset)
        figures = []
        saved = pictures.save
        pictures.save = lambda fig, out_dir, name: figures.append(fig)
        try:
            pictures.plot_scaling(plt, dataset, self.out, style,
                                  model.PATTERNS[model.FAN_OUT])
        finally:
            pictures.save = saved
        fig = figures[0]
        rate_ax = fig.axes[0]
        colour = style["pipe"][0]
        pipe_lines = [line for line in rate_ax.lines if line.get_color() == colour]
        self.assertEqual(sorted(list(line.get_xdata()) for line in pipe_lines), [[1, 2], [4]])
        faces = {tuple(line.get_xdata()): line.get_markerfacecolor() for line in pipe_lines}
        self.assertEqual(faces[(4,)], "none")
        self.assertNotEqual(faces[(1, 2)], "none")
        # posix_mq (no counter): one line over every N, as before.
        mq = [line for line in rate_ax.lines if line.get_color() == style["posix_mq"][0]]
        self.assertEqual([list(line.get_xdata()) for line in mq], [[1, 4]])
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        self.assertTrue(any("share CPUs" in t for t in legend), legend)
        plt.close(fig)


if __name__ == "__main__":
    unittest.main()
