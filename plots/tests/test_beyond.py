"""The "Beyond the lecture" section: each mechanism beside its lecture-era partner, with
sentences chosen by what the repetitions show (a crossover, a broker's cost, a tie), and the
reason for a mechanism this machine could not run."""

import json
import math
import os
import random
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import beyond, load, markdown  # noqa: E402

UNAVAILABLE = "process_vm_readv on a child failed: Operation not permitted (EPERM)"


def _beyond(id_, description, unavailable=""):
    entry = fixtures._transport(id_, beyond.BEYOND, "", False, description)
    if unavailable:
        entry["unavailable"] = unavailable
    return entry


TRANSPORTS = fixtures.TRANSPORTS + [
    _beyond("memfd_pass", "a sealed memfd per message, its fd passed with SCM_RIGHTS"),
    _beyond("dbus", "a method call and its reply through a private dbus-daemon"),
    _beyond("zeromq", "ZeroMQ PAIR sockets over ipc://"),
    _beyond("cma", "process_vm_writev into the peer + a notification", UNAVAILABLE),
    _beyond("vmsplice", "a pipe fed with vmsplice() from the sender's pages"),
]


def with_beyond(document, factors):
    """The document plus, for each (id, kind) in `factors`, its partner's rows of that kind
    (beyond.BESIDE) copied under the id, each size's times multiplied by
    factors[(id, kind)](size)."""
    extra = []
    for row in document["benchmarks"]:
        for (id_, kind), factor in factors.items():
            partner = beyond.BESIDE[id_][0]
            prefix = f"{kind}/{partner}/"
            if row["name"].startswith(prefix):
                size = int(row["name"].split("bytes:")[1].split("/")[0])
                copy_ = fixtures.scaled(row, factor(size))
                for key in ("name", "run_name"):
                    if key in copy_:
                        copy_[key] = copy_[key].replace(f"/{partner}/", f"/{id_}/")
                extra.append(copy_)
    document["benchmarks"] += extra
    return document


class BeyondSection(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        document = fixtures.with_transports(fixtures.committed("different_cpus"), TRANSPORTS)
        document = with_beyond(document, {
            # Slower than copying for small messages, four times faster from 64 KiB on.
            ("memfd_pass", "Stream"): lambda size: 3.0 if size < 65536 else 0.25,
            ("memfd_pass", "RoundTrip"): lambda size: 1.5,
            ("dbus", "RoundTrip"): lambda size: 10.0,  # the broker's hop
            ("dbus", "Stream"): lambda size: 8.0,
            ("zeromq", "RoundTrip"): lambda size: 1.05,  # inside the noise
            ("zeromq", "Stream"): lambda size: 1.0,
            # Ahead only in the middle: no crossover to claim.
            ("vmsplice", "Stream"): lambda size: 0.2 if size == 16384 else
                                                 (4.0 if size == 1 << 20 else 1.0),
        })
        rng = random.Random(0)
        document = fixtures.repeated(document, 9,
                                     lambda row, rep: math.exp(rng.gauss(0, 0.05)))
        cls.tmp = tempfile.TemporaryDirectory(prefix="ipcbench-beyond-")
        path = os.path.join(cls.tmp.name, "different_cpus.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f)
        cls.dataset = load.load_dataset([path])
        cls.text = "\n".join(beyond.beyond_section(cls.dataset))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_lists_the_family_in_registry_order(self):
        self.assertEqual(beyond.beyond_transports(self.dataset),
                         ["memfd_pass", "dbus", "zeromq", "cma", "vmsplice"])

    def test_finds_where_fd_passing_overtakes_copying(self):
        self.assertIn("`memfd_pass` overtakes `unix_stream` from 64 KiB on", self.text)

    def test_states_what_the_broker_costs(self):
        self.assertRegex(self.text, r"`dbus` is (9\.\d+|10\.\d|11\.\d)x slower than "
                                    r"`unix_stream`")
        self.assertIn("`dbus` moves more bytes/s than `unix_stream` at no size measured: "
                      "fewer at 64 B, 1 KiB, 16 KiB, 64 KiB, 1 MiB.", self.text)

    def test_ahead_at_one_size_only_is_no_crossover(self):
        self.assertIn("`vmsplice` does not stay ahead of `pipe` up to the largest size measured: "
                      "more bytes/s at 16 KiB; fewer at 1 MiB; a tie at 64 B, 1 KiB, 64 KiB.",
                      self.text)
        self.assertNotIn("`vmsplice` overtakes", self.text)

    def test_a_difference_inside_the_noise_is_a_tie(self):
        self.assertIn("`zeromq` and `unix_stream` tie", self.text)
        self.assertIn("`zeromq` and `unix_stream` tie at every size measured", self.text)

    def test_a_mechanism_this_machine_cannot_run_says_why(self):
        self.assertIn("unavailable on this machine: " + UNAVAILABLE, self.text)
        self.assertNotIn("**`cma` beside", self.text)

    def test_the_report_carries_the_section(self):
        out = tempfile.mkdtemp(dir=self.tmp.name)
        with open(markdown.write_report(self.dataset, out), encoding="utf-8") as f:
            report = f.read()
        self.assertIn("## Beyond the lecture", report)
        self.assertIn("overtakes `unix_stream` from 64 KiB on", report)

    def test_no_section_without_the_family(self):
        document = fixtures.with_transports(fixtures.committed("different_cpus"))
        path = os.path.join(self.tmp.name, "plain.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(document, f)
        self.assertEqual(beyond.beyond_section(load.load_dataset([path])), [])


if __name__ == "__main__":
    unittest.main()
