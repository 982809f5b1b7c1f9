"""Tests of the two-host part of the report: a peer run (ipcbench --peer, recognised by its context
key ipcbench_peer_address) is kept apart from the local runs, shown in the "Between hosts" section
beside loopback, and judged by the claim that AF_INET sockets serve different hosts
(plots/ipcreport/hosts.py, verdicts.claim_inet_between_hosts; run by CTest). The runs are
synthetic (fixtures.synthetic), so every number the section shows is known here."""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(os.path.dirname(HERE), "report.py")
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import load, markdown, model, verdicts  # noqa: E402  (the program under test)
from ipcreport.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE  # noqa: E402

RT, ST = "RoundTrip", "Stream"
KIB = 1024
ADDRESS = "198.18.0.2:37217"
ONE_HOST = "one host only: the mechanism lives in one kernel, and only sockets reach another host"
PEER_CONTEXT = {model.PEER_KEY: ADDRESS, "ipcbench_peer_kernel": "Linux 6.1.0-peer",
                "ipcbench_peer_cpu_model": "Peer CPU Model 9", "ipcbench_peer_cpus": "4",
                "ipcbench_peer_units": "between two hosts: round trips and rates only",
                "cpu_model": "Local CPU Model 7", "kernel": "Linux 6.1.0-local",
                "num_cpus": 2, "host_name": "hosta",
                "ipcbench_cpus": "producer=cpu0 consumer=cpu1"}
LOCAL_CONTEXT = {"cpu_model": "Local CPU Model 7", "host_name": "hosta",
                 "ipcbench_cpus": "producer=cpu0 consumer=cpu1"}
CHECKED = {"samples": 1000, "corrupt": 0, "lost": 0}

# Loopback (the local run on two CPUs): tcp and udp round trips and streams, and a pipe.
LOCAL = {
    (RT, "pipe", 64): {"p50_ns": 8_000, **CHECKED},
    (RT, "tcp", 64): {"p50_ns": 20_000, "p99_ns": 30_000, **CHECKED},
    (RT, "tcp", KIB): {"p50_ns": 21_000, **CHECKED},
    (RT, "udp", 64): {"p50_ns": 50_000, "p99_ns": 70_000, **CHECKED},
    (ST, "tcp", 16 * KIB): {"bytes_per_second": 4e9, "items_per_second": 244_140,
                            "sent": 1024, "received": 1024, "lost": 0, "corrupt": 0},
    (ST, "udp", 64): {"bytes_per_second": 5e7, "items_per_second": 781_250,
                      "sent": 16384, "received": 16384, "lost": 0, "corrupt": 0},
}
# Between the hosts: tcp's round trip 7.5x loopback's (a difference beyond the noise), udp's
# 1.2x (a tie), a stream size loopback lacks, udp losses in its stream.
PEER = {
    (RT, "tcp", 64): {"p50_ns": 150_000, "p99_ns": 400_000, **CHECKED},
    (RT, "udp", 64): {"p50_ns": 60_000, "p99_ns": 90_000, **CHECKED},
    (ST, "tcp", 16 * KIB): {"bytes_per_second": 1.2e9, "items_per_second": 73_242,
                            "sent": 1024, "received": 1024, "lost": 0, "corrupt": 0},
    (ST, "tcp", 64 * KIB): {"bytes_per_second": 1.5e9, "items_per_second": 22_888,
                            "sent": 256, "received": 256, "lost": 0, "corrupt": 0},
    (ST, "udp", 64): {"bytes_per_second": 2e7, "items_per_second": 312_500,
                      "sent": 16384, "received": 16379, "lost": 5, "corrupt": 0},
}
PEER_UNSUPPORTED = {"RoundTrip/pipe/bytes:64": ONE_HOST, "Stream/pipe/bytes:64": ONE_HOST}


def load_rows(transport, rates, repetitions=9):
    """Load rows of one transport, each rate given as (rate, p99_ns, sustained), written
    `repetitions` times as ipcbench writes them."""
    rows = []
    for rate, p99, ok in rates:
        name = f"Load/{transport}/rate:{rate}/bytes:64/iterations:1000/manual_time"
        for rep in range(repetitions):
            rows.append({
                "name": name, "run_name": name, "run_type": "iteration",
                "repetitions": repetitions, "repetition_index": rep, "iterations": 1000,
                "real_time": 1e6 / rate, "time_unit": "us", "offered_per_second": rate,
                "achieved_per_second": rate if ok else rate / 2, "p50_ns": p99 / 2,
                "p99_ns": p99, "uncorrected_p99_ns": p99 / 3, "sent": 1000,
                "received": 1000, "lost": 0, "corrupt": 0, "sustained": 1 if ok else 0,
                "label": "checks=seq+payload+stamp"})
    return rows


def local_document(repetitions=9, load=True):
    document = fixtures.synthetic(LOCAL, "different_cpus", repetitions, context=LOCAL_CONTEXT)
    if load:
        document["benchmarks"] += load_rows("tcp", [(10_000, 90_000, True),
                                                    (50_000, 120_000, True),
                                                    (200_000, 9_000_000, False)], repetitions)
    return document


def peer_document(cases=None, repetitions=9, load=True, change=None):
    """A peer run: the same placement name as the local run (as ipcbench writes it), the peer
    keys in its context; change(row) may edit each row."""
    document = fixtures.synthetic(PEER if cases is None else cases, "different_cpus",
                                  repetitions, context=PEER_CONTEXT,
                                  unsupported=PEER_UNSUPPORTED)
    if load:
        document["benchmarks"] += load_rows("tcp", [(5_000, 300_000, True),
                                                    (20_000, 2_000_000, False)], repetitions)
    for row in document["benchmarks"]:
        if change is not None:
            change(row)
    return document


def errored(name, message):
    """A change() that turns every row of case `name` into an errored one."""
    def change(row):
        if row["name"].startswith(name + "/"):
            for key in ("p50_ns", "p99_ns", "samples", "corrupt", "lost"):
                row.pop(key, None)
            row.update(error_occurred=True, error_message=message)
    return change


def table_rows(text, header_start):
    """{first cell: cells} of the markdown table whose header line starts with `header_start`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        rows[cells[0]] = cells
    return rows


def subsection(text, heading):
    """The text under a "### " heading up to the next heading of level 2 or 3."""
    body = text.split(heading + "\n", 1)[1]
    return re.split(r"^##+ ", body, maxsplit=1, flags=re.M)[0]


class TwoHosts(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ipcbench-hosts-test-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, document):
        return fixtures.write_json(self.dir, name, document)

    def dataset(self, peer=None, local=None):
        paths = [self.write("different_cpus.json", local or local_document())]
        if peer is not None:
            paths.append(self.write("peer.json", peer))
        return load.load_dataset(paths)

    def report(self, dataset):
        """REPORT.md's text (pictures are not drawn: test_report covers them)."""
        out = os.path.join(self.dir, "out")
        os.makedirs(out, exist_ok=True)
        with open(markdown.write_report(dataset, out), encoding="utf-8") as f:
            return f.read()

    def hosts_verdict(self, dataset):
        found = [v for v in verdicts.all_verdicts(dataset) if v.claim == "inet_serves_hosts"]
        self.assertEqual(len(found), 1)
        return found[0]


class KeptApart(TwoHosts):
    def test_peer_cases_do_not_join_the_local_ones(self):
        dataset = self.dataset(peer_document())
        self.assertTrue(all(c.source.endswith("different_cpus.json") for c in dataset.cases))
        self.assertEqual(dataset.placements, ["different_cpus"])
        self.assertEqual([r.path for r in dataset.runs],
                         [os.path.join(self.dir, "different_cpus.json")])
        self.assertIsNotNone(dataset.peer)
        self.assertEqual({c.placement for c in dataset.peer.cases}, {model.BETWEEN_HOSTS})
        self.assertEqual(dataset.peer.runs[0].peer_address, ADDRESS)
        # Same transports at the same sizes and a same-named placement: no collision, and the
        # local figures are the local run's.
        self.assertEqual(dataset.rtt_at("different_cpus", "tcp", 64).get("p50_ns"), 20_000)
        self.assertEqual(dataset.peer.rtt_at(model.BETWEEN_HOSTS, "tcp", 64).get("p50_ns"),
                         150_000)

    def test_local_verdicts_and_tables_do_not_change_with_a_peer_run(self):
        without = self.dataset()
        with_peer = self.dataset(peer_document())
        strip = [v.as_json() for v in verdicts.all_verdicts(without)
                 if v.claim != "inet_serves_hosts"]
        self.assertEqual(strip, [v.as_json() for v in verdicts.all_verdicts(with_peer)
                                 if v.claim != "inet_serves_hosts"])
        text = self.report(with_peer)
        every = text.split("## Every measured case\n", 1)[1]
        self.assertNotIn("150 µs", every)  # the peer's tcp round trip
        self.assertNotIn("between hosts", markdown.lecture_table(
            with_peer, "different_cpus", verdicts.table_verdicts(with_peer, "different_cpus")))

    def test_the_report_lists_the_peer_file_among_its_inputs(self):
        text = self.report(self.dataset(peer_document()))
        self.assertIn("peer.json", text.splitlines()[2])


class Section(TwoHosts):
    def test_section_only_with_a_peer_run(self):
        self.assertNotIn("## Between hosts", self.report(self.dataset()))
        text = self.report(self.dataset(peer_document()))
        self.assertIn("## Between hosts", text)
        hosts = text.split("## Between hosts\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn(ADDRESS, hosts)
        for value in ("Peer CPU Model 9", "Linux 6.1.0-peer", "Local CPU Model 7",
                      "Linux 6.1.0-local"):
            self.assertIn(value, hosts)
        self.assertIn("one-way latency is not reported", hosts)
        self.assertIn("clocks differ", hosts)
        self.assertNotIn("**Warning**", hosts)  # loopback and producer: one machine

    def test_loopback_from_another_machine_is_flagged(self):
        local = local_document()
        local["context"]["host_name"] = "hostb"
        text = self.report(self.dataset(peer_document(), local))
        hosts = text.split("## Between hosts\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn("**Warning**", hosts)
        self.assertIn("host_name: 'hostb' and 'hosta'", hosts)

    def test_round_trip_table_comes_from_the_fixture(self):
        text = self.report(self.dataset(peer_document()))
        tcp = subsection(text, "### tcp")
        rows = table_rows(tcp, "| Size | Loopback RTT p50")
        self.assertEqual(rows["64 B"][1:6], ["20.0 µs", "30.0 µs", "150 µs", "400 µs", "7.50x"])
        self.assertEqual(rows["64 B"][6], "9, 9")
        self.assertTrue(rows["64 B"][7].startswith("between hosts slower"), rows["64 B"])
        self.assertEqual(rows["64 B"][8], "none")
        # A size loopback measured and the peer run did not: listed, never filled in.
        self.assertEqual(rows["1 KiB"][3], "not run between the hosts")
        self.assertEqual(rows["1 KiB"][5], "n/a")
        udp = table_rows(subsection(text, "### udp"), "| Size | Loopback RTT p50")
        self.assertEqual(udp["64 B"][1:6],
                         ["50.0 µs", "70.0 µs", "60.0 µs", "90.0 µs", "1.20x"])
        self.assertTrue(udp["64 B"][7].startswith("tied"), udp["64 B"])

    def test_stream_table_comes_from_the_fixture(self):
        text = self.report(self.dataset(peer_document()))
        rows = table_rows(subsection(text, "### tcp"), "| Size | Loopback MB/s")
        self.assertEqual(rows["16 KiB"][1:6], ["4000 MB/s", "244140", "1200 MB/s", "73242",
                                               "0.300x"])
        self.assertTrue(rows["16 KiB"][7].startswith("between hosts lower"), rows["16 KiB"])
        self.assertEqual(rows["64 KiB"][1], "not in the loopback run")
        self.assertEqual(rows["64 KiB"][3:5], ["1500 MB/s", "22888"])
        udp = table_rows(subsection(text, "### udp"), "| Size | Loopback MB/s")
        self.assertEqual(udp["64 B"][8], "between hosts: lost 45 (over 9 repetitions)")

    def test_load_highest_sustained_rate_on_each_side(self):
        text = self.report(self.dataset(peer_document()))
        rows = table_rows(subsection(text, "### tcp"), "| Load |")
        self.assertEqual(rows["highest rate sustained"][1:], ["50000/s", "5000/s"])
        self.assertEqual(rows["corrected p99 there"][1:], ["120 µs", "300 µs"])
        self.assertEqual(rows["rates measured (/s)"][1:], ["10000, 50000, 200000",
                                                           "5000, 20000"])

    def test_load_on_one_side_only_is_not_set_side_by_side(self):
        text = self.report(self.dataset(peer_document(), local_document(load=False)))
        tcp = subsection(text, "### tcp")
        self.assertNotIn("| Load |", tcp)
        self.assertIn("rows in the two-host run only (rates 5000, 20000 /s)", tcp)

    def test_too_few_repetitions_are_not_compared(self):
        text = self.report(self.dataset(peer_document(repetitions=1)))
        rows = table_rows(subsection(text, "### tcp"), "| Size | Loopback RTT p50")
        self.assertEqual(rows["64 B"][6], "9, 1")
        self.assertTrue(rows["64 B"][7].startswith("not compared"), rows["64 B"])

    def test_transports_the_peer_run_did_not_run_are_listed(self):
        text = self.report(self.dataset(peer_document()))
        hosts = text.split("## Between hosts\n", 1)[1].split("\n## ", 1)[0]
        self.assertNotIn("### pipe", hosts)
        self.assertIn(f"Not run between the hosts (pipe): {ONE_HOST}", hosts)


class Verdict(TwoHosts):
    def test_holds_when_tcp_and_udp_came_back_checked(self):
        v = self.hosts_verdict(self.dataset(peer_document()))
        self.assertEqual(v.status, HOLDS)
        self.assertEqual(v.subject, "tcp, udp")
        self.assertEqual(v.evidence["peer_address"], ADDRESS)
        tcp = v.evidence["transports"]["tcp"]
        self.assertEqual(tcp["round_trips_back"], 9 * 1000)
        self.assertEqual(tcp["rtt_p50_ns"], 150_000)
        self.assertEqual(tcp["stream_bytes_per_second"], 1.5e9)
        self.assertEqual(v.evidence["transports"]["udp"]["stream_lost"], 45)
        self.assertIn("RTT p50 150 µs at 64 B", v.sentence)
        self.assertIn("stream 1500 MB/s", v.sentence)
        self.assertIn("45 of 147456 streamed messages lost", v.sentence)

    def test_does_not_hold_when_a_round_trip_errored(self):
        message = "recv(198.18.0.2:37217): Connection reset by peer"
        v = self.hosts_verdict(self.dataset(peer_document(
            change=errored("RoundTrip/udp/bytes:64", message))))
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertEqual(v.evidence["transports"]["tcp"]["status"], HOLDS)
        self.assertEqual(v.evidence["transports"]["udp"]["status"], DOES_NOT_HOLD)
        self.assertIn(message, v.sentence)

    def test_does_not_hold_when_a_message_arrived_corrupt(self):
        def corrupt(row):
            if row["name"].startswith("RoundTrip/tcp/"):
                row["corrupt"] = 1
        v = self.hosts_verdict(self.dataset(peer_document(change=corrupt)))
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertEqual(v.evidence["transports"]["tcp"]["corrupt"], 9)

    def test_inconclusive_without_a_peer_run(self):
        v = self.hosts_verdict(self.dataset())
        self.assertEqual(v.status, INCONCLUSIVE)
        self.assertIn("no two-host run was given", v.sentence)
        self.assertTrue(v.as_json()["evidence"])

    def test_inconclusive_when_one_socket_did_not_run_between_the_hosts(self):
        tcp_only = {k: c for k, c in PEER.items() if k[1] == "tcp"}
        v = self.hosts_verdict(self.dataset(peer_document(tcp_only)))
        self.assertEqual(v.status, INCONCLUSIVE)
        self.assertIn("udp: no round trip ran between the hosts", v.sentence)

    def test_verdict_in_the_claims_section(self):
        text = self.report(self.dataset(peer_document()))
        claims = text.split("## The lecture's other claims\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn(f"### {verdicts.HOSTS_TITLE}", claims)
        self.assertIn("between hosts, tcp, udp: **holds**", claims)
        without = self.report(self.dataset())
        claims = without.split("## The lecture's other claims\n", 1)[1].split("\n## ", 1)[0]
        self.assertIn("**inconclusive**: not measured: no two-host run was given", claims)


class Refused(TwoHosts):
    def assert_refused(self, paths, path, *fragments):
        with self.assertRaises(model.InputError) as caught:
            load.load_dataset(paths)
        self.assertIn(path, str(caught.exception))
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_peer_address_without_rows(self):
        document = peer_document(load=False)
        document["benchmarks"] = []
        local = self.write("different_cpus.json", local_document())
        peer = self.write("peer.json", document)
        self.assert_refused([local, peer], peer, "two-host run", "nothing was measured")

    def test_peer_address_that_is_not_a_string(self):
        document = peer_document()
        document["context"][model.PEER_KEY] = 7
        peer = self.write("peer.json", document)
        self.assert_refused([self.write("different_cpus.json", local_document()), peer], peer,
                            model.PEER_KEY)

    def test_peer_run_alone(self):
        peer = self.write("peer.json", peer_document())
        self.assert_refused([peer], peer, "give the local runs too")

    def test_two_peer_runs(self):
        first = self.write("peer.json", peer_document())
        second = self.write("peer2.json", peer_document())
        self.assert_refused([self.write("different_cpus.json", local_document()), first,
                             second], second, "give one peer run")


class CommandLine(TwoHosts):
    def run_report(self, *paths):
        out = os.path.join(self.dir, "report")
        result = subprocess.run([sys.executable, PROGRAM, "--out", out, *paths],
                                capture_output=True, text=True, timeout=120, check=False)
        return result, out

    def test_report_with_a_peer_file(self):
        result, out = self.run_report(self.write("different_cpus.json", local_document()),
                                      self.write("peer.json", peer_document()))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(out, "REPORT.md"), encoding="utf-8") as f:
            self.assertIn("## Between hosts", f.read())
        with open(os.path.join(out, "verdicts.json"), encoding="utf-8") as f:
            found = {v["claim"]: v for v in json.load(f)}
        self.assertEqual(found["inet_serves_hosts"]["status"], HOLDS)
        self.assertTrue(all(v["status"] in (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)
                            and v["evidence"] for v in found.values()))

    def test_malformed_peer_file_exits_2_naming_it(self):
        document = peer_document(load=False)
        document["benchmarks"] = []
        peer = self.write("peer.json", document)
        result, out = self.run_report(self.write("different_cpus.json", local_document()), peer)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(peer, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "REPORT.md")))


if __name__ == "__main__":
    unittest.main()
