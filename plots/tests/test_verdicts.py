"""Every claim of the report, as data: for each, a synthetic run in which it holds, one in which
it does not hold, and one in which it is inconclusive (plots/ipcreport/verdicts.py). Assertions
are on the verdicts' status and evidence, never on Markdown."""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import fixtures  # noqa: E402
from ipcreport import load, verdicts  # noqa: E402
from ipcreport.verdicts import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE  # noqa: E402

RT, ST = "RoundTrip", "Stream"
KIB, MIB = 1024, 1 << 20
# Kernel mechanisms at 64 B around 10 µs each: tied with each other.
KERNEL = {"pipe": 10_000, "fifo": 10_400, "posix_mq": 9_800, "sysv_mq": 10_200,
          "sysv_shm": 10_600, "unix_stream": 9_900, "unix_dgram": 10_100, "tcp": 10_300,
          "udp": 9_700}


def rtt(**p50s):
    """{(RoundTrip, t, 64): {p50_ns}} for the given transports."""
    return {(RT, t, 64): {"p50_ns": v} for t, v in p50s.items()}


def judge(cases, repetitions=9, placement="different_cpus", **kwargs):
    """{claim: Verdict} of all_verdicts over one synthetic run."""
    with tempfile.TemporaryDirectory(prefix="ipcbench-verdict-test-") as tmp:
        document = fixtures.synthetic(cases, placement, repetitions, **kwargs)
        dataset = load.load_dataset([fixtures.write_json(tmp, "run.json", document)])
        return {v.claim: v for v in verdicts.all_verdicts(dataset)}


class Speed(unittest.TestCase):
    """fast / medium / slow from tiers of per-repetition round-trip p50s."""

    def test_fast_holds_when_in_the_fastest_tier(self):
        found = judge(rtt(**dict(KERNEL, pipe=1_000)))
        v = found["speed/Pipe/pipe"]
        self.assertEqual(v.status, HOLDS)
        self.assertEqual(v.evidence["position"], "fastest tier")
        self.assertEqual([t["transport"] for t in v.evidence["tiers"][0]], ["pipe"])
        self.assertEqual(found["speed/Pipe"].status, HOLDS)

    def test_fast_does_not_hold_against_a_ring(self):
        found = judge(rtt(**dict(KERNEL, shm_spin=150)))
        v = found["speed/Pipe/pipe"]
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertEqual(v.evidence["comparisons"][0]["against"], "shm_spin")
        self.assertEqual(v.evidence["comparisons"][0]["outcome"], "greater")
        # The ring is the variant: it does not decide the Shared memory row.
        self.assertEqual(found["speed/Shared memory/shm_spin"].status, HOLDS)
        self.assertEqual(found["speed/Shared memory"].status, DOES_NOT_HOLD)

    def test_all_tied_is_inconclusive(self):
        v = judge(rtt(**KERNEL))["speed/Pipe/pipe"]
        self.assertEqual(v.status, INCONCLUSIVE)
        self.assertIn("one tier", v.sentence)

    def test_too_few_repetitions_is_inconclusive(self):
        v = judge(rtt(**dict(KERNEL, shm_spin=150)), repetitions=3)["speed/Pipe/pipe"]
        self.assertEqual(v.status, INCONCLUSIVE)
        self.assertIn("too_few_repetitions", v.evidence)

    def test_medium_holds_between_two_tiers(self):
        found = judge(rtt(**dict(KERNEL, shm_spin=150, fifo=2_000, tcp=80_000, udp=90_000)))
        self.assertEqual(found["speed/FIFO queue/fifo"].status, HOLDS)
        self.assertEqual(found["speed/FIFO queue/fifo"].evidence["position"], "tier 2 of 4")

    def test_medium_does_not_hold_in_the_slowest_tier(self):
        found = judge(rtt(**dict(KERNEL, shm_spin=150)))
        self.assertEqual(found["speed/FIFO queue/fifo"].status, DOES_NOT_HOLD)

    def test_medium_inconclusive_when_all_tied(self):
        self.assertEqual(judge(rtt(**KERNEL))["speed/FIFO queue/fifo"].status, INCONCLUSIVE)

    def test_slow_holds_for_sockets_in_the_slowest_tier(self):
        found = judge(rtt(**dict(KERNEL, unix_stream=80_000, unix_dgram=85_000, tcp=90_000,
                                 udp=95_000)))
        self.assertEqual(found["speed/Socket"].status, HOLDS)
        self.assertEqual(found["speed/Socket"].evidence["judged"],
                         ["unix_stream", "unix_dgram", "tcp", "udp"])

    def test_slow_does_not_hold_when_one_socket_is_fast(self):
        found = judge(rtt(**dict(KERNEL, unix_stream=80_000, unix_dgram=1_000, tcp=90_000,
                                 udp=95_000)))
        self.assertEqual(found["speed/Socket/unix_dgram"].status, DOES_NOT_HOLD)
        self.assertEqual(found["speed/Socket"].status, DOES_NOT_HOLD)

    def test_notification_is_ranked_among_byte_messages_and_says_so(self):
        cases = rtt(**dict(KERNEL, shm_spin=150))
        cases[(RT, "signal", 0)] = {"p50_ns": 10_000}
        v = judge(cases)["speed/Signal/signal"]
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertIn("signal carries 0 B", v.evidence["note"])
        self.assertEqual(v.evidence["size_bytes"], 64)

    def test_the_in_process_baseline_is_never_ranked(self):
        # threads is far faster than everything, but not inter-process: pipe is still fastest.
        found = judge(rtt(**dict(KERNEL, pipe=1_000, threads=10)))
        v = found["speed/Pipe/pipe"]
        self.assertEqual(v.status, HOLDS)
        ranked = [t["transport"] for tier in v.evidence["tiers"] for t in tier]
        self.assertNotIn("threads", ranked)


def streams(size, **rates):
    """{(Stream, t, size): {bytes_per_second}}."""
    return {(ST, t, size): {"bytes_per_second": v} for t, v in rates.items()}


class Volume(unittest.TestCase):
    """very small / small / large measured from the sizes that ran and stream throughput."""

    def test_very_small_holds_for_a_bare_notification(self):
        cases = {(RT, "signal", 0): {"p50_ns": 10_000}, (ST, "signal", 0): {"bytes_per_second": 0}}
        cases.update(streams(MIB, pipe=1e9, sysv_shm=1e10))
        v = judge(cases)["volume/Signal/signal"]
        self.assertEqual(v.status, HOLDS)
        self.assertEqual(v.evidence["largest_carried_bytes"], 0)

    def test_very_small_does_not_hold_when_it_carried_more(self):
        cases = {(RT, "signal", 64): {"p50_ns": 10_000}}
        cases.update(streams(MIB, pipe=1e9, sysv_shm=1e10))
        v = judge(cases)["volume/Signal/signal"]
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertEqual(v.evidence["largest_carried_bytes"], 64)

    def test_large_holds_above_the_lowest_throughput_tier(self):
        found = judge(streams(MIB, pipe=1e9, fifo=1.1e9, sysv_shm=1e10, tcp=4e9))
        self.assertEqual(found["volume/Shared memory/sysv_shm"].status, HOLDS)
        self.assertEqual(found["volume/Pipe/pipe"].status, HOLDS)  # small: the lowest tier

    def test_large_does_not_hold_in_the_lowest_tier(self):
        found = judge(streams(MIB, pipe=1e10, fifo=1.1e10, sysv_shm=1e9, tcp=1e9))
        self.assertEqual(found["volume/Shared memory/sysv_shm"].status, DOES_NOT_HOLD)
        self.assertEqual(found["volume/Pipe/pipe"].status, DOES_NOT_HOLD)

    def test_capped_below_the_largest_size_is_small(self):
        cases = streams(MIB, pipe=1e9, sysv_shm=1e10)
        cases.update(streams(64 * KIB, udp=1e9))
        v = judge(cases, unsupported={"Stream/udp/bytes:1048576": "larger than 65507"})[
            "volume/Socket/udp"]
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertEqual(v.evidence["refused_bytes"], [MIB])

    def test_all_tied_throughput_is_inconclusive(self):
        v = judge(streams(MIB, pipe=1e9, fifo=1.1e9, sysv_shm=1.2e9))[
            "volume/Shared memory/sysv_shm"]
        self.assertEqual(v.status, INCONCLUSIVE)

    def test_not_run_at_the_largest_size_without_refusal_is_inconclusive(self):
        cases = streams(MIB, pipe=1e9, sysv_shm=1e10)
        cases.update(streams(64 * KIB, tcp=1e9))
        self.assertEqual(judge(cases)["volume/Socket/tcp"].status, INCONCLUSIVE)


class OtherClaims(unittest.TestCase):
    """The lecture's other claims, each in a run where it holds, does not, and cannot tell."""

    def test_shared_memory_fastest(self):
        self.assertEqual(judge(rtt(**dict(KERNEL, sysv_shm=1_000)))[
            "shared_memory_fastest/sysv_shm"].status, HOLDS)
        v = judge(rtt(**dict(KERNEL, sysv_shm=60_000)))["shared_memory_fastest/sysv_shm"]
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertEqual(v.evidence["decisive"]["outcome"], "greater")
        self.assertEqual(judge(rtt(**KERNEL))["shared_memory_fastest/sysv_shm"].status,
                         INCONCLUSIVE)

    def test_a_ring_is_judged_beside_sysv_shm_never_for_it(self):
        found = judge(rtt(**dict(KERNEL, shm_spin=150)))
        self.assertEqual(found["shared_memory_fastest/shm_spin"].status, HOLDS)
        self.assertFalse(found["shared_memory_fastest/shm_spin"].lecture_means)
        self.assertEqual(found["shared_memory_fastest/sysv_shm"].status, INCONCLUSIVE)

    def test_fifo_slower_than_pipe(self):
        claim = "fifo_slower_than_pipe"
        self.assertEqual(judge(rtt(fifo=30_000, pipe=10_000))[claim].status, HOLDS)
        self.assertEqual(judge(rtt(fifo=3_000, pipe=10_000))[claim].status, DOES_NOT_HOLD)
        v = judge(rtt(fifo=10_500, pipe=10_000))[claim]
        self.assertEqual(v.status, INCONCLUSIVE)
        self.assertEqual(v.evidence["outcome"], "tied")
        self.assertEqual(judge(rtt(fifo=30_000, pipe=10_000), repetitions=1)[claim].status,
                         INCONCLUSIVE)

    def pipe_capacity(self, switches, repetitions=9):
        cases = {(ST, "pipe", MIB): {"bytes_per_second": 1e9, "ctx_switches_per_msg": switches}}
        return judge(cases, repetitions)["pipe_capacity_blocks"]

    def test_pipe_capacity(self):
        v = self.pipe_capacity(31.0)
        self.assertEqual(v.status, HOLDS)
        self.assertEqual(v.evidence["bound"], 15)
        self.assertEqual(self.pipe_capacity(1.9).status, DOES_NOT_HOLD)
        self.assertEqual(self.pipe_capacity(8.0).status, INCONCLUSIVE)
        self.assertEqual(self.pipe_capacity(31.0, repetitions=2).status, INCONCLUSIVE)

    def signal_stream(self, coalesced):
        cases = {(ST, "signal", 0): {"bytes_per_second": 0, "sent": 4096, "coalesced": coalesced},
                 (ST, "rt_signal", 8): {"bytes_per_second": 1e6, "sent": 4096, "coalesced": 0}}
        return judge(cases)

    def test_signal_coalescing(self):
        found = self.signal_stream(1000)
        self.assertEqual(found["signal_coalescing/signal"].status, HOLDS)
        # The realtime variant queues: the same test does not hold for it.
        self.assertEqual(found["signal_coalescing/rt_signal"].status, DOES_NOT_HOLD)
        self.assertEqual(self.signal_stream(0)["signal_coalescing/signal"].status, DOES_NOT_HOLD)
        some = self.signal_stream([0, 5, 0, 7, 0, 0, 0, 0, 0])  # two repetitions: observed
        self.assertEqual(some["signal_coalescing/signal"].status, HOLDS)
        once = self.signal_stream([0, 0, 0, 7, 0, 0, 0, 0, 0])  # one glitch decides nothing
        self.assertEqual(once["signal_coalescing/signal"].status, INCONCLUSIVE)

    def udp(self, lost, tcp_lost=0):
        cases = {(ST, "udp", 64): {"bytes_per_second": 1e7, "sent": 16384, "lost": lost},
                 (ST, "tcp", 64): {"bytes_per_second": 1e7, "sent": 16384, "lost": tcp_lost}}
        return judge(cases)

    def test_datagrams_lose_and_stream_sockets_do_not(self):
        found = self.udp(120)
        self.assertEqual(found["datagrams_lose/udp"].status, HOLDS)
        self.assertEqual(found["socket_reliable/tcp"].status, HOLDS)
        found = self.udp(0, tcp_lost=3)
        self.assertEqual(found["datagrams_lose/udp"].status, DOES_NOT_HOLD)
        self.assertEqual(found["socket_reliable/tcp"].status, DOES_NOT_HOLD)
        # Lost in some repetitions only, as UDP across CPUs on the development VM: observed.
        found = self.udp([3388, 0, 2659, 7020, 0, 2990, 4245, 0, 0])
        self.assertEqual(found["datagrams_lose/udp"].status, HOLDS)
        found = self.udp([0, 0, 4, 0, 0, 0, 0, 0, 0], tcp_lost=[0, 0, 0, 1, 0, 0, 0, 0, 0])
        self.assertEqual(found["datagrams_lose/udp"].status, INCONCLUSIVE)
        self.assertEqual(found["socket_reliable/tcp"].status, INCONCLUSIVE)

    def share(self, sem, shm=10_000, repetitions=9):
        cases = {(RT, "sysv_sem", 0): {"p50_ns": sem}, (RT, "sysv_shm", 64): {"p50_ns": shm}}
        return judge(cases, repetitions)["semaphore_share_of_shared_memory"]

    def test_semaphore_share_is_computed_not_written(self):
        v = self.share(9_000)
        self.assertEqual(v.status, HOLDS)
        self.assertAlmostEqual(v.evidence["share"], 0.9, places=2)
        self.assertIn("the semaphore is the larger part", v.sentence)
        v = self.share(2_000)
        self.assertEqual(v.status, DOES_NOT_HOLD)
        self.assertIn("less than half", v.sentence)
        self.assertNotIn("the semaphore is the larger part", v.sentence)
        self.assertEqual(self.share(5_000).status, INCONCLUSIVE)
        self.assertEqual(self.share(9_000, repetitions=2).status, INCONCLUSIVE)

    def test_inet_slower_than_unix(self):
        found = judge(rtt(tcp=30_000, unix_stream=10_000, udp=3_000, unix_dgram=10_000))
        self.assertEqual(found["inet_slower_than_unix/stream"].status, HOLDS)
        self.assertEqual(found["inet_slower_than_unix/dgram"].status, DOES_NOT_HOLD)
        found = judge(rtt(tcp=11_000, unix_stream=10_000))
        self.assertEqual(found["inet_slower_than_unix/stream"].status, INCONCLUSIVE)

    def test_queue_fixed_size(self):
        cases = {(RT, "posix_mq", 64): {"p50_ns": 10_000}, (RT, "posix_mq", KIB): {"p50_ns": 1e4}}
        found = judge(cases, unsupported={"RoundTrip/posix_mq/bytes:16384":
                                          "larger than msgsize_max 8192"})
        self.assertEqual(found["queue_fixed_size/posix_mq"].status, HOLDS)
        self.assertEqual(judge({(RT, "posix_mq", 16 * KIB): {"p50_ns": 1e4}})[
            "queue_fixed_size/posix_mq"].status, DOES_NOT_HOLD)  # declares 8192
        self.assertEqual(judge(cases)["queue_fixed_size/posix_mq"].status, INCONCLUSIVE)


class Patterns(unittest.TestCase):
    """The server and mailbox claims, from FanIn and FanOut rows."""

    def fan(self, kind, key, rows):
        out = []
        for n, extra in rows:
            name = f"{kind}/tcp/{key}:{n}/bytes:64/manual_time"
            row = {"name": name, "run_name": name, "run_type": "iteration", "time_unit": "ns",
                   "items_per_second": 1e4, "p50_ns": 5e4, "p99_ns": 9e4,
                   "delivery_p50_ns": 3e4, "delivery_p99_ns": 6e4, "lost": 0}
            row.update(extra)
            out.append(row)
        return out

    def judge_rows(self, rows):
        with tempfile.TemporaryDirectory(prefix="ipcbench-verdict-test-") as tmp:
            document = fixtures.synthetic({}, repetitions=1)
            document["benchmarks"] = rows
            dataset = load.load_dataset([fixtures.write_json(tmp, "run.json", document)])
            return {v.claim: v for v in verdicts.all_verdicts(dataset)}

    def test_server_loop(self):
        found = self.judge_rows(self.fan("FanIn", "clients", [(1, {}), (4, {})]))
        self.assertEqual(found["server_loop/tcp"].status, HOLDS)
        found = self.judge_rows(self.fan("FanIn", "clients", [
            (4, {"error_occurred": True, "error_message": "client 2 died"})]))
        self.assertEqual(found["server_loop/tcp"].status, DOES_NOT_HOLD)
        found = self.judge_rows(self.fan("FanIn", "clients", [(1, {})]))
        self.assertEqual(found["server_loop/tcp"].status, INCONCLUSIVE)

    def test_mailbox(self):
        found = self.judge_rows(self.fan("FanOut", "consumers", [(4, {})]))
        self.assertEqual(found["mailbox_broadcast"].status, HOLDS)
        found = self.judge_rows(self.fan("FanOut", "consumers", [(4, {"lost": 3})]))
        self.assertEqual(found["mailbox_broadcast"].status, DOES_NOT_HOLD)
        found = self.judge_rows(self.fan("FanOut", "consumers", [(1, {})]))
        self.assertEqual(found["mailbox_broadcast"].status, INCONCLUSIVE)


class Schema(unittest.TestCase):
    """verdicts.json entries: claim, placement, status, evidence with a sentence."""

    def test_every_entry_has_the_schema(self):
        for v in judge(rtt(**dict(KERNEL, shm_spin=150))).values():
            entry = v.as_json()
            self.assertIn(entry["status"], ("holds", "does_not_hold", "inconclusive"))
            # The claim judged between two hosts has a placement of its own.
            self.assertIn(entry["placement"], ("different_cpus", "between_hosts"))
            self.assertIsInstance(entry["claim"], str)
            self.assertIsInstance(entry["evidence"]["sentence"], str)


if __name__ == "__main__":
    unittest.main()
