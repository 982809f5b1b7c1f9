"""Test data made in the tests: ipcbench's transport list (the context key ipcbench_transports,
as the C++ registry writes it), repetitions of committed rows with chosen noise, and histogram
side files built with an independent re-implementation of ipcbench's log-linear buckets.

The ids below are test data (they mirror transports/transports.def); the report program itself
takes them from the input."""

import copy
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = os.path.join(REPO, "results", "amd-epyc-kvm-2cpu")


def _form(supported, text):
    return {"supported": supported, ("design" if supported else "reason"): text}


def _transport(id_, family, row, means, description, payload="bytes", largest=None,
               in_process=False, may_lose=False, may_coalesce=False, busy_polls=False,
               waits_by="blocking call", fan_in=True):
    return {"id": id_, "family": family, "lecture_row": row, "lecture_means": means,
            "description": description, "payload": payload, "max_message_bytes": largest,
            "in_process": in_process, "may_lose": may_lose, "may_coalesce": may_coalesce,
            "busy_polls": busy_polls, "waits_by": waits_by,
            "forms": {"pair": _form(True, "one per direction"),
                      "fan_in": _form(fan_in, "one accepted data socket per client" if fan_in
                                      else "no fan-in form"),
                      "fan_out": _form(True, "one channel per consumer"),
                      "pairs": _form(True, "independent pairs")}}


TRANSPORTS = [
    _transport("signal", "signals", "Signal", True, "standard signals: kill(SIGUSR1/SIGUSR2) + "
               "sigwaitinfo(), notification only", "nothing", 0, may_coalesce=True,
               waits_by="sigwaitinfo", fan_in=False),
    _transport("rt_signal", "signals", "Signal", False, "realtime signals: sigqueue(SIGRTMIN+n) "
               "with an 8-byte sigval + sigwaitinfo()", "word", 8, waits_by="sigwaitinfo",
               fan_in=False),
    _transport("pipe", "pipes", "Pipe", True, "anonymous pipe: pipe() + fork()"),
    _transport("fifo", "pipes", "FIFO queue", True, "named pipe: mkfifo() in a private directory"),
    _transport("posix_mq", "message queues", "", False, "POSIX message queues", largest=8192),
    _transport("sysv_mq", "message queues", "", False, "SysV message queue", largest=8192),
    _transport("boost_mq", "message queues", "", False, "boost::interprocess::message_queue",
               largest=1048576),
    _transport("sysv_shm", "SysV shared memory and semaphores", "Shared memory", True,
               "SysV shared memory + SysV semaphores: shmget/shmat + semget/semop P and V",
               waits_by="semop"),
    _transport("sysv_sem", "SysV shared memory and semaphores", "Semaphore", True,
               "two SysV semaphores ping-ponging, no payload", "nothing", 0, waits_by="semop"),
    _transport("shm_spin", "shared-memory ring", "Shared memory", False, "POSIX shm SPSC ring, "
               "busy-polling", busy_polls=True, waits_by="spin"),
    _transport("shm_futex", "shared-memory ring", "Shared memory", False, "POSIX shm SPSC ring, "
               "spin then futex", waits_by="futex"),
    _transport("shm_sem", "shared-memory ring", "Shared memory", False, "POSIX shm SPSC ring, "
               "interprocess_semaphore"),
    _transport("shm_condvar", "shared-memory ring", "Shared memory", False, "POSIX shm SPSC ring, "
               "mutex + condition"),
    _transport("unix_stream", "sockets", "Socket", True, "AF_UNIX SOCK_STREAM: socket/bind/"
               "listen/accept + connect"),
    _transport("unix_dgram", "sockets", "Socket", True, "AF_UNIX SOCK_DGRAM: two sockets bound "
               "in a private 0700 directory, connected", largest=212960),
    _transport("tcp", "sockets", "Socket", True, "AF_INET SOCK_STREAM on 127.0.0.1: bind port "
               "0/listen/accept + connect, TCP_NODELAY"),
    _transport("udp", "sockets", "Socket", True, "AF_INET SOCK_DGRAM on 127.0.0.1: two sockets "
               "connected to each other; may lose", largest=65507, may_lose=True),
    _transport("threads", "baseline", "", False, "two threads of one process: std::mutex + "
               "std::condition_variable", in_process=True),
]


def with_transports(document, transports=None):
    """A copy of a Google Benchmark document with ipcbench_transports in its context."""
    document = copy.deepcopy(document)
    document["context"]["ipcbench_transports"] = json.dumps(
        TRANSPORTS if transports is None else transports)
    return document


def committed(name):
    """A committed reference run (results/amd-epyc-kvm-2cpu/<name>.json), parsed."""
    with open(os.path.join(RESULTS, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


# Counters that scale with time (a slower repetition has larger values) and with rate.
TIME_KEYS = ("real_time", "cpu_time", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
             "mean_ns", "oneway_p50_ns", "oneway_p99_ns", "delivery_p50_ns", "delivery_p99_ns",
             "worst_client_p99_ns", "worst_pair_p99_ns", "cpu_ns_per_msg")
RATE_KEYS = ("bytes_per_second", "items_per_second")


def scaled(row, factor):
    """A copy of a row as if everything took `factor` times as long."""
    row = dict(row)
    for key in TIME_KEYS:
        if isinstance(row.get(key), (int, float)):
            row[key] = row[key] * factor
    for key in RATE_KEYS:
        if isinstance(row.get(key), (int, float)):
            row[key] = row[key] / factor
    return row


def repeated(document, repetitions, factor=lambda row, rep: 1.0, change=None):
    """A copy of the document whose every iteration row becomes `repetitions` rows (as Google
    Benchmark writes them with --benchmark_repetitions), the rep-th scaled by factor(row, rep);
    change(row, rep) may edit a repetition's row in place."""
    document = copy.deepcopy(document)
    rows = []
    for row in document["benchmarks"]:
        if row.get("run_type", "iteration") == "aggregate":
            continue
        for rep in range(repetitions):
            copy_ = scaled(row, factor(row, rep)) if not row.get("error_occurred") else dict(row)
            copy_.update(repetitions=repetitions, repetition_index=rep,
                         run_name=row.get("run_name", row["name"]), run_type="iteration")
            if change is not None:
                change(copy_, rep)
            rows.append(copy_)
    document["benchmarks"] = rows
    return document


def vm_noise(seed, run_sigma=0.25, rep_sigma=0.08, host_factor=1.0):
    """A factor(row, rep) like the development VM: each case moves as a whole from run to run
    (lognormal, run_sigma: about 1.5-2x between runs for the outer runs), each repetition
    around that (rep_sigma), and the whole run by host_factor (a busy host)."""
    rng = random.Random(seed)
    per_case = {}

    def factor(row, rep):
        name = row.get("run_name", row["name"])
        if name not in per_case:
            per_case[name] = math.exp(rng.gauss(0, run_sigma))
        return host_factor * per_case[name] * math.exp(rng.gauss(0, rep_sigma))
    return factor


# ---------------------------------------------------------------------------------------------
# Histograms: an independent re-implementation of ipcbench's log-linear buckets

EXACT_BELOW = 256
SUB_BUCKETS = 128


def bucket_of(value):
    """(low, high) inclusive of the bucket holding integer `value` ns: exact below 256; above,
    each power of two [2^e, 2^(e+1)) split into 128 equal buckets."""
    value = int(value)
    if value < EXACT_BELOW:
        return value, value
    e = value.bit_length() - 1
    width = (1 << e) // SUB_BUCKETS
    low = (1 << e) + ((value - (1 << e)) // width) * width
    return low, low + width - 1


def histogram_line(hist_id, case, samples, metric="rtt", latency="round trip"):
    """One side-file line (a dict) for integer samples."""
    buckets = {}
    for s in samples:
        buckets[bucket_of(s)] = buckets.get(bucket_of(s), 0) + 1
    return {"hist_id": hist_id, "case": case, "metric": metric, "latency": latency, "unit": "ns",
            "count": len(samples), "min": min(samples), "max": max(samples),
            "sum": sum(samples),
            "buckets": [[lo, hi, n] for (lo, hi), n in sorted(buckets.items())]}


HEADER = {"format": "ipcbench-histograms", "version": 1,
          "scheme": {"kind": "log-linear", "exact_below": EXACT_BELOW,
                     "sub_buckets": SUB_BUCKETS}}


def write_side_file(path, lines, header=HEADER):
    """Writes a JSON Lines side file: the header, then one line per histogram."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for line in lines:
            f.write(json.dumps(line) + "\n")


# ---------------------------------------------------------------------------------------------
# Synthetic runs, written compactly

# The repetition factors of a synthetic case: a spread of about 10% (upper / lower quartile
# about 1.05), deterministic.
JITTER = (1.00, 0.97, 1.03, 0.99, 1.02, 0.98, 1.01, 1.04, 0.96)


def synthetic(cases, placement="different_cpus", repetitions=9, context=None,
              transports=None, unsupported=None):
    """A Google Benchmark document from {(kind, transport, bytes): counters}, each case written
    as `repetitions` rows. A counter is a number (times and rates get JITTER, counts are copied)
    or a list of per-repetition values. RoundTrip rows get p99_ns = 2 * p50_ns unless given."""
    rows = []
    for (kind, transport, size), counters in cases.items():
        name = f"{kind}/{transport}/bytes:{size}/manual_time"
        for rep in range(repetitions):
            jitter = JITTER[rep % len(JITTER)]
            row = {"name": name, "run_name": name, "run_type": "iteration",
                   "repetitions": repetitions, "repetition_index": rep, "iterations": 1000,
                   "time_unit": "ns", "label": "checks=seq+payload"}
            for key, value in counters.items():
                if isinstance(value, (list, tuple)):
                    row[key] = value[rep]
                elif key in TIME_KEYS:
                    row[key] = value * jitter
                elif key in RATE_KEYS:
                    row[key] = value / jitter
                else:
                    row[key] = value
            if kind == "RoundTrip":
                row.setdefault("p99_ns", 2 * row["p50_ns"])
                row.setdefault("real_time", row["p50_ns"])
            rows.append(row)
    ctx = {"ipcbench_build_type": "Release", "ipcbench_placement": placement,
           "limit_pipe_default_bytes": "65536",
           "ipcbench_transports": json.dumps(TRANSPORTS if transports is None else transports)}
    ctx.update(context or {})
    for name, reason in (unsupported or {}).items():
        ctx[f"unsupported/{name}"] = reason
    return {"context": ctx, "benchmarks": rows}


def write_json(directory, name, document):
    """Writes a document as directory/name; returns the path."""
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f)
    return path
