"""Reading and checking the input: Google Benchmark JSON written by ipcbench, the transports it
describes (context key ipcbench_transports), and its histogram side file (context key
ipcbench_histograms). Bad input raises InputError with a message naming the file."""

import gzip
import json
import math
import os
import statistics

from .model import (BETWEEN_HOSTS, Case, InputError, LOAD, PATTERN_KINDS, PEER_KEY,
                    POSITIVE_KINDS, REPORTED_KINDS, REQUIRED_FIELDS, RELEASE, ROUND_TRIP, Run,
                    RUN_LENGTH_KEYS, STREAM, TIMING_SUFFIXES, PLACEMENT_HINTS, UNKNOWN_PLACEMENT,
                    PER_CASE, TransportInfo, Dataset)
from .stats import Histogram, merge_all

TRANSPORTS_KEY = "ipcbench_transports"
HISTOGRAMS_KEY = "ipcbench_histograms"
HISTOGRAM_FORMAT = "ipcbench-histograms"
GZIP_SUFFIX = ".gz"
HISTOGRAM_VERSION = 1


def parse_value(text):
    """An int when `text` is one, else the text."""
    try:
        return int(text)
    except ValueError:
        return text


def parse_name(name):
    """Splits a benchmark name into (kind, subject, params, placement or None).

    "RoundTrip/pipe/bytes:64/iterations:2000/manual_time" -> ("RoundTrip", "pipe",
    {"bytes": 64, "iterations": 2000}, None). Tolerant: unknown components are kept as params or
    ignored, never an error; a "placement:X" component or a bare word that names CPUs is the
    placement.
    """
    parts = [p for p in name.split("/") if p]
    kind = parts[0] if parts else ""
    subject = parts[1] if len(parts) > 1 else ""
    params = {}
    placement = None
    for part in parts[2:]:
        if ":" in part:
            key, _, value = part.partition(":")
            if key == "placement":
                placement = value
            else:
                params[key] = parse_value(value)
        elif part in TIMING_SUFFIXES:
            continue
        elif any(hint in part.lower() for hint in PLACEMENT_HINTS):
            placement = part
    return kind, subject, params, placement


def numeric_fields(row):
    """Every finite number in a row (counters, times), as floats."""
    out = {}
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[key] = float(value)
    return out


def base_run_name(row):
    """The name shared by a case's repetitions and aggregates ("..._median" -> "...")."""
    run_name = row.get("run_name")
    if isinstance(run_name, str) and run_name:
        return run_name
    name = row["name"]
    aggregate = row.get("aggregate_name")
    if row.get("run_type") == "aggregate" and isinstance(aggregate, str):
        suffix = "_" + aggregate
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name



def read_json(path):
    """The parsed JSON of `path`; InputError when it cannot be read or is not JSON."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read the file: {e.strerror or e}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON ({e.msg} at line {e.lineno}, "
                         f"column {e.colno})") from None


def check_build_type(path, context):
    """Refuses a run that ipcbench did not write or whose own build type is not a release."""
    build = context.get("ipcbench_build_type")
    if build is None:
        raise InputError(f"{path}: the context has no 'ipcbench_build_type': not written by "
                         "ipcbench (only ipcbench's own release runs can be reported)")
    if build != RELEASE:
        raise InputError(f"{path}: ipcbench_build_type is '{build}', not '{RELEASE}': only a "
                         "release build's numbers count (build with `cmake --preset release`)")


def check_required(path, kind, name, counters):
    """Refuses a row of a reported kind that lacks a field this program needs, or whose round
    trip (or pattern time or rate) is not positive."""
    for key in REQUIRED_FIELDS.get(kind, ()):
        if key not in counters:
            raise InputError(f"{path}: benchmark '{name}' has no numeric field '{key}' "
                             f"(needed for {kind} rows)")
        if kind in POSITIVE_KINDS and counters[key] <= 0:
            what = "rate" if key.endswith("_per_second") else "time"
            raise InputError(f"{path}: benchmark '{name}' has {key} = {counters[key]:g}: a "
                             f"measured {what} is positive")


def peer_address(path, context):
    """The --serve host of a two-host run (context PEER_KEY), or None for a local run;
    InputError when the key is there but is not a non-empty string."""
    address = context.get(PEER_KEY)
    if address is None:
        return None
    if not isinstance(address, str) or not address.strip():
        raise InputError(f"{path}: context '{PEER_KEY}' is not a non-empty string (a two-host "
                         "run names the --serve host it ran against)")
    return address.strip()


# The kinds a two-host run measures (ipcbench --peer: the socket transports' pair cases).
PEER_KINDS = (ROUND_TRIP, STREAM, LOAD)


def file_placement(context):
    """The placement of a file's rows that name none: its ipcbench_placement, PER_CASE for a
    --placement= run (whose context describes it in words), or UNKNOWN_PLACEMENT."""
    placement = str(context.get("ipcbench_placement", UNKNOWN_PLACEMENT))
    return PER_CASE if placement.startswith("per case") else placement


def short_name(name):
    """A benchmark name without its run length and timing suffix, as ipcbench keys its context
    ("FanIn/tcp/clients:2/bytes:64/iterations:300/manual_time"
    -> "FanIn/tcp/clients:2/bytes:64")."""
    parts = [p for p in name.split("/") if p and p not in TIMING_SUFFIXES
             and p.partition(":")[0] not in RUN_LENGTH_KEYS]
    return "/".join(parts)


def pattern_cpus(context, name, label):
    """Where a pattern case's processes ran: the context's ipcbench_placement/<case>, else a
    label that names CPUs (Pairs: "pair 0: cpu0->cpu1, ..."), else None."""
    recorded = context.get(f"ipcbench_placement/{short_name(name)}")
    if recorded is not None:
        return str(recorded)
    return label if "cpu" in label.lower() else None



def repetitions(rows):
    """Every repetition's numeric fields: the iteration rows (aggregates left out); when a file
    holds only aggregates, its median row stands for one repetition."""
    iterations = [numeric_fields(r) for r in rows if r.get("run_type", "iteration") != "aggregate"]
    if iterations:
        return iterations
    return [numeric_fields(r) for r in rows if r.get("aggregate_name") == "median"][:1]


def median_counters(reps):
    """The median of each field over the repetitions that carry it."""
    if not reps:
        return {}
    keys = set().union(*reps)
    return {k: statistics.median([r[k] for r in reps if k in r]) for k in keys}


# The fields of one ipcbench_transports entry and their types.
TRANSPORT_FIELDS = (("id", str), ("family", str), ("lecture_row", str), ("lecture_means", bool),
                    ("description", str), ("payload", str), ("in_process", bool),
                    ("may_lose", bool), ("may_coalesce", bool), ("busy_polls", bool),
                    ("waits_by", str), ("forms", dict))
PAYLOADS = ("bytes", "word", "nothing")


def load_transports(path, context, fallback=None):
    """The [TransportInfo] of ipcbench_transports (a JSON array written as a string); InputError
    naming the file and the key when it is malformed, or absent without a `fallback` (the same
    key's text from another file, for a file older than the key)."""
    text = context.get(TRANSPORTS_KEY, fallback)
    if text is None:
        raise InputError(f"{path}: the context has no '{TRANSPORTS_KEY}': this file comes from an "
                         "ipcbench older than the report (regenerate it with "
                         "scripts/run-suite.sh); the report takes the transports, their families "
                         "and lecture rows from that key")
    try:
        entries = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: context '{TRANSPORTS_KEY}' is not a JSON array ({e.msg})") \
            from None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: context '{TRANSPORTS_KEY}' is not a non-empty JSON array")
    out, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: context '{TRANSPORTS_KEY}'[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where} is not an object")
        for key, kind in TRANSPORT_FIELDS:
            if not isinstance(entry.get(key), kind):
                raise InputError(f"{where} has no {kind.__name__} '{key}'")
        if entry["payload"] not in PAYLOADS:
            raise InputError(f"{where}: payload '{entry['payload']}' is not one of "
                             + ", ".join(PAYLOADS))
        largest = entry.get("max_message_bytes")
        if largest is not None and (isinstance(largest, bool)
                                    or not isinstance(largest, (int, float))):
            raise InputError(f"{where}: max_message_bytes is neither a number nor null")
        if entry["id"] in seen:
            raise InputError(f"{where}: transport '{entry['id']}' is listed twice")
        seen.add(entry["id"])
        unavailable = entry.get("unavailable", "")  # absent in files before the field
        if not isinstance(unavailable, str):
            raise InputError(f"{where}: unavailable is not a string")
        out.append(TransportInfo(entry["id"], entry["family"], entry["lecture_row"],
                                 entry["lecture_means"], entry["description"], entry["payload"],
                                 largest, entry["in_process"], entry["may_lose"],
                                 entry["may_coalesce"], entry["busy_polls"], entry["waits_by"],
                                 entry["forms"], unavailable))
    return out


def is_number(value):
    """True for an int or float that is not a bool and is finite."""
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value))


def parse_histogram_line(side, lineno, entry):
    """(hist_id, case, metric, Histogram) of one side-file line; InputError when malformed."""
    where = f"{side}: line {lineno}"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: not a JSON object")
    hist_id = entry.get("hist_id")
    if isinstance(hist_id, bool) or not isinstance(hist_id, int):
        raise InputError(f"{where}: no integer 'hist_id'")
    for key in ("case", "metric", "unit"):
        if not isinstance(entry.get(key), str):
            raise InputError(f"{where}: no string '{key}'")
    if entry["unit"] != "ns":
        raise InputError(f"{where}: unit '{entry['unit']}' is not 'ns'")
    count = entry.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(f"{where}: 'count' is not a non-negative integer")
    for key in ("min", "max", "sum"):
        if count and not is_number(entry.get(key)):
            raise InputError(f"{where}: no number '{key}'")
    buckets = entry.get("buckets")
    if not isinstance(buckets, list):
        raise InputError(f"{where}: 'buckets' is not a list")
    parsed = []
    for bucket in buckets:
        if not (isinstance(bucket, list) and len(bucket) == 3 and all(is_number(x) for x in bucket)
                and bucket[0] <= bucket[1] and isinstance(bucket[2], int) and bucket[2] > 0):
            raise InputError(f"{where}: bucket {bucket!r} is not [low, high, count] with "
                             "low <= high and count > 0")
        parsed.append((bucket[0], bucket[1], bucket[2]))
    parsed.sort()
    if sum(n for _, _, n in parsed) != count:
        raise InputError(f"{where}: the buckets hold {sum(n for _, _, n in parsed)} samples, "
                         f"not count = {count}")
    histogram = Histogram(count, entry.get("min", 0), entry.get("max", 0), entry.get("sum", 0),
                          parsed, str(entry.get("latency", "")))
    return hist_id, entry["case"], entry["metric"], histogram


def load_histograms(path, context):
    """(side-file path, {hist_id: [(case, metric, Histogram)]}) when the context names a side
    file, else (None, {}). A named file that is missing or malformed raises InputError."""
    name = context.get(HISTOGRAMS_KEY)
    if name is None:
        return None, {}
    if not isinstance(name, str) or not name or os.path.basename(name) != name:
        raise InputError(f"{path}: context '{HISTOGRAMS_KEY}' = {name!r} is not a file name")
    side = os.path.join(os.path.dirname(path), name)
    # Committed reference runs keep the side file gzipped beside the JSON (NAME.gz): read that when
    # the plain file is absent.
    if not os.path.exists(side) and os.path.exists(side + GZIP_SUFFIX):
        side += GZIP_SUFFIX
    try:
        opener = gzip.open if side.endswith(GZIP_SUFFIX) else open
        with opener(side, "rb") as f:
            lines = f.read().decode("utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{side}: cannot read the histogram file that {path} names in "
                         f"'{HISTOGRAMS_KEY}': {e.strerror or e}") from None
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError):
        raise InputError(f"{side}: not a histogram file (not UTF-8 text, or a broken gzip file)") from None
    entries = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append((lineno, json.loads(line)))
        except json.JSONDecodeError as e:
            raise InputError(f"{side}: line {lineno}: not JSON ({e.msg})") from None
    if not entries:
        raise InputError(f"{side}: empty: no header line")
    lineno, header = entries[0]
    scheme = header.get("scheme") if isinstance(header, dict) else None
    if not (isinstance(header, dict) and header.get("format") == HISTOGRAM_FORMAT
            and header.get("version") == HISTOGRAM_VERSION and isinstance(scheme, dict)
            and scheme.get("kind") == "log-linear"):
        raise InputError(f"{side}: line {lineno}: not an '{HISTOGRAM_FORMAT}' version "
                         f"{HISTOGRAM_VERSION} header with a log-linear scheme")
    by_id = {}
    for lineno, entry in entries[1:]:
        hist_id, case, metric, histogram = parse_histogram_line(side, lineno, entry)
        by_id.setdefault(hist_id, []).append((case, metric, histogram))
    return side, by_id


def case_identity(name):
    """(kind, transport, parameters without the run length) of a benchmark or side-file name."""
    kind, subject, params, placement = parse_name(name)
    return kind, subject, {k: v for k, v in params.items() if k not in RUN_LENGTH_KEYS}, placement


def attach_histograms(path, side, by_id, case, rows):
    """Merges the side-file histograms of every repetition row of `case` into case.histograms,
    per metric; InputError when a row names a hist_id the file lacks or a line of another case."""
    per_metric = {}
    for row in rows:
        hist_id = row.get("hist_id")
        if hist_id is None:
            continue
        if not is_number(hist_id) or hist_id != int(hist_id):
            raise InputError(f"{path}: benchmark '{row['name']}' has hist_id {hist_id!r}, not an "
                             "integer")
        lines = by_id.get(int(hist_id))
        if not lines:
            raise InputError(f"{side}: no histogram with hist_id {int(hist_id)}, which "
                             f"benchmark '{row['name']}' of {path} names")
        for name, metric, histogram in lines:
            if case_identity(name)[:3] != case_identity(case.name)[:3]:
                raise InputError(f"{side}: hist_id {int(hist_id)} is case '{name}', but "
                                 f"benchmark '{row['name']}' of {path} names it")
            per_metric.setdefault(metric, []).append(histogram)
    case.histograms = {m: merge_all(hs) for m, hs in per_metric.items()}


def load_run(path, fallback_transports=None):
    """Reads and checks one ipcbench JSON file (and its side file); returns its Run. A file
    without ipcbench_transports is refused unless `fallback_transports` (that key's text from
    another file) stands in for it."""
    data = read_json(path)
    if not (isinstance(data, dict) and isinstance(data.get("context"), dict)
            and isinstance(data.get("benchmarks"), list)):
        raise InputError(f"{path}: not Google Benchmark JSON output (expected an object with a "
                         "'context' object and a 'benchmarks' list)")
    context = data["context"]
    check_build_type(path, context)
    transports = load_transports(path, context, fallback_transports)
    side, by_id = load_histograms(path, context)
    peer = peer_address(path, context)
    # A two-host run's cases all share one placement of their own: never a local one.
    default_placement = BETWEEN_HOSTS if peer is not None else file_placement(context)

    groups = {}  # run name -> rows, in order of first appearance
    for i, row in enumerate(data["benchmarks"]):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not row["name"]:
            raise InputError(f"{path}: benchmarks[{i}] has no 'name' string")
        groups.setdefault(base_run_name(row), []).append(row)
    if not groups and not any(k.startswith("unsupported/") for k in context):
        raise InputError(f"{path}: the 'benchmarks' list is empty: nothing was measured")

    cases, ignored = [], []
    for run_name, rows in groups.items():
        kind, subject, params, placement = parse_name(run_name)
        if kind not in REPORTED_KINDS:
            ignored.append(run_name)
            continue
        if peer is not None:
            placement = None
        case = Case(kind, subject, params, placement or default_placement, path, run_name)
        errored = [r for r in rows if r.get("error_occurred")]
        if errored:
            case.error = str(errored[0].get("error_message") or "error (no message)")
        else:
            case.reps = repetitions(rows)
            for rep in case.reps:
                check_required(path, kind, run_name, rep)
            case.counters = median_counters(case.reps)
            if side is not None:
                iteration_rows = [r for r in rows if r.get("run_type", "iteration") != "aggregate"]
                attach_histograms(path, side, by_id, case, iteration_rows)
        case.label = str(rows[0].get("label", ""))
        case.time_unit = str(rows[0].get("time_unit", "ns"))
        if kind in PATTERN_KINDS:
            case.cpus = pattern_cpus(context, run_name, case.label)
        cases.append(case)

    for key, reason in context.items():
        if key.startswith("unsupported/"):
            name = key[len("unsupported/"):]
            kind, subject, params, placement = parse_name(name)
            if peer is not None:
                placement = None
            if kind in REPORTED_KINDS:
                cases.append(Case(kind, subject, params, placement or default_placement, path,
                                  name, unsupported=str(reason)))
    if peer is not None and not any(c.kind in PEER_KINDS and c.unsupported is None
                                    for c in cases):
        raise InputError(f"{path}: a two-host run (context '{PEER_KEY}' = '{peer}') with no "
                         f"{', '.join(PEER_KINDS)} row: nothing was measured between the hosts")
    return Run(path, context, cases, ignored, transports, side, peer)


def load_dataset(paths):
    """Loads and combines the files (a two-host run, recognised by its context key
    ipcbench_peer_address, is kept apart: Dataset.peer); raises InputError on bad input."""
    return Dataset([load_run(p) for p in paths])
