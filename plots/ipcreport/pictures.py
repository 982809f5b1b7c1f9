"""The pictures: each has a name, a caption (model.PICTURES and optional_pictures()) and draws
only the data it needs from the dataset. matplotlib (Debian's python3-matplotlib) on Agg."""

import math
import os

from .model import (InputError, KILO, LOAD, LOAD_P99_BOUND_NS, MB, NS_PER_US, PATTERN_LIST,
                    PLACEMENT_PICTURE, ROUND_TRIP, STREAM, PERCENTILE_TAILS, cpu_shared,
                    load_picture, load_sustained, sharing_segments, unique)
from .fmt import fmt_bytes, fmt_sig, placement_title


def has_histograms(dataset):
    """True when some round trip carries a histogram from ipcbench's side file."""
    return any(c.histograms.get("rtt") for c in dataset.cases if c.kind == ROUND_TRIP)


def import_pyplot():
    """matplotlib.pyplot on the Agg backend (no display); InputError-like exit if missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("matplotlib is not installed: install the Debian package "
                         "python3-matplotlib and run with /usr/bin/python3") from None
    return plt


def transport_style(dataset):
    """A fixed colour and marker per transport, the same in every picture."""
    import matplotlib
    tab20 = matplotlib.colormaps["tab20"].colors
    colours = tab20[0::2] + tab20[1::2]  # dark shades first: neighbours in the order differ
    markers = "osD^v<>phX*"
    return {t: (colours[i % len(colours)], markers[i % len(markers)])
            for i, t in enumerate(dataset.all_transports)}


def placement_axes(plt, dataset, title, height=5.0):
    """A figure with one panel per placement, side by side, sharing the y axis."""
    n = len(dataset.placements)
    fig, axes = plt.subplots(1, n, figsize=(7.5 * n + 2.5, height), sharex=True,
                             sharey=True, squeeze=False)
    fig.suptitle(title, fontsize=10)
    return fig, list(zip(dataset.placements, axes[0]))


def save(fig, out_dir, name):
    """Writes the figure to out_dir/name and closes it; returns the path."""
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def zero_byte_note(dataset, kind):
    """Transports measured only at 0 bytes, which a log size axis cannot show."""
    zero = [t for t in dataset.transports
            if any(c.bytes == 0 for p in dataset.placements for c in dataset.select(kind, p, t))
            and not any(c.bytes for p in dataset.placements for c in dataset.select(kind, p, t))]
    return ("Not on the log size axis (they carry 0 bytes; see REPORT.md): " + ", ".join(zero)
            if zero else "")


def finish_panel(ax, legend):
    """Adds the legend when the panel has lines, or says that it has nothing to show."""
    if ax.get_legend_handles_labels()[0]:
        if legend:
            ax.legend(fontsize=7, loc="lower left")
    else:
        ax.text(0.5, 0.5, "no measured case to plot\n(see REPORT.md)", ha="center",
                va="center", transform=ax.transAxes)


def plot_latency(plt, dataset, out_dir, style):
    """latency.png: RTT p50 bars per transport at its smallest size, whisker to p99."""
    n = max(len(dataset.transports), 1)
    k = len(dataset.placements)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * n * k + 2), 5.5))
    width = 0.8 / k
    hatches = ("", "//", "..", "xx", "\\\\")
    labels = []
    for ti, t in enumerate(dataset.transports):
        sizes = []
        for pi, p in enumerate(dataset.placements):
            case = dataset.small_rtt(p, t)
            if case is None:
                continue
            sizes.append(fmt_bytes(case.bytes))
            x = ti - 0.4 + width * (pi + 0.5)
            p50 = case.get("p50_ns") / NS_PER_US
            p99 = case.get("p99_ns") / NS_PER_US
            ax.bar(x, p50, width * 0.9, color=style[t][0], edgecolor="black", linewidth=0.5,
                   hatch=hatches[pi % len(hatches)],
                   label=placement_title(p) if k > 1 and ti == first_bar(dataset, p) else None)
            ax.errorbar(x, p50, yerr=[[0], [max(p99 - p50, 0)]], fmt="none", ecolor="black",
                        capsize=3, linewidth=0.8)
        labels.append(f"{t}\n{'/'.join(unique(sizes)) or 'n/a'}")
    ax.set_xticks(range(len(dataset.transports)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("round-trip time (RTT) p50, µs (log scale)\nwhisker: p99")
    ax.set_title("Round trip p50 per transport at its smallest measured message size "
                 "(size under each name)", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    if k > 1 and ax.get_legend_handles_labels()[0]:
        ax.legend(title="placement", fontsize=8)
    if not ax.patches:
        finish_panel(ax, legend=False)
    return save(fig, out_dir, "latency.png")


def first_bar(dataset, placement):
    """Index of the first transport that has a bar at `placement` (for one legend entry)."""
    for i, t in enumerate(dataset.transports):
        if dataset.small_rtt(placement, t) is not None:
            return i
    return -1


def plot_vs_size(plt, dataset, out_dir, style, kind, key, scale, ylabel, title, name):
    """A log-log picture of one counter against message size, one line per transport."""
    fig, panels = placement_axes(plt, dataset, title)
    for placement, ax in panels:
        for t in dataset.transports:
            points = [(c.bytes, c.get(key) / scale) for c in dataset.select(kind, placement, t)
                      if c.bytes and c.get(key)]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker=style[t][1], color=style[t][0], label=t, linewidth=1.2,
                        markersize=5)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("message size, bytes (log scale)")
        ax.set_title(placement_title(placement), fontsize=9)
        ax.grid(which="both", alpha=0.3)
        ax.xaxis.set_major_formatter(
            plt.FuncFormatter(lambda v, _: fmt_bytes(int(v)) if v >= 1 else ""))
        finish_panel(ax, legend=False)
    panels[0][1].set_ylabel(ylabel)
    handles = {}
    for _, ax in panels:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize=8)
    note = zero_byte_note(dataset, kind)
    if note:
        fig.text(0.01, -0.04, note, fontsize=8)
    return save(fig, out_dir, name)


def cdf_size(dataset):
    """The message size for the distribution picture: the most common smallest RTT size."""
    sizes = [dataset.small_rtt(p, t).bytes for p in dataset.placements for t in dataset.transports
             if dataset.small_rtt(p, t) is not None]
    return max(unique(sizes), key=sizes.count) if sizes else None


def distribution_points(case):
    """[(RTT µs, fraction of round trips slower)] from the case's percentiles and max.

    A percentile is used only when the case has enough samples to resolve it (a p99.9 from
    fewer than 1000 samples is just the maximum); the max sits at 1/samples.
    """
    samples = case.get("samples")
    points = []
    for key, tail in PERCENTILE_TAILS:
        value = case.get(key)
        if value is not None and (samples is None or tail >= 1 / samples):
            points.append((value / NS_PER_US, tail))
    if samples and case.get("max_ns") is not None and (not points or 1 / samples < points[-1][1]):
        points.append((case.get("max_ns") / NS_PER_US, 1 / samples))
    return points


def plot_cdf(plt, dataset, out_dir, style):
    """latency_cdf.png: the round-trip distribution of each transport at one size, per
    placement: the cumulative fraction of round trips at or below x, from the merged histogram
    buckets (every round trip of every repetition); a case without a histogram (an older file)
    is drawn from its five reported percentiles, dashed, and the title says so."""
    size = cdf_size(dataset)
    fallback = []
    fig, panels = placement_axes(
        plt, dataset, f"Round-trip (RTT) distribution at {fmt_bytes(size)} (transports that "
        "cannot carry it: their smallest size, in the legend): fraction of round trips at or "
        "below x, from every round trip's histogram bucket over all repetitions", height=5.5)
    for placement, ax in panels:
        for t in dataset.transports:
            case = dataset.rtt_at(placement, t, size) or dataset.small_rtt(placement, t)
            if case is None:
                continue
            label = t if case.bytes == size else f"{t} ({fmt_bytes(case.bytes)})"
            histogram = case.histograms.get("rtt")
            if histogram is not None and histogram.count:
                points = [(histogram.min / NS_PER_US, 0.0)] + [
                    (x / NS_PER_US, y) for x, y in histogram.cdf()]
                xs, ys = zip(*points)
                ax.step(xs, ys, where="post", color=style[t][0], label=label, linewidth=1.1)
                continue
            points = distribution_points(case)
            if points:
                fallback.append(t)
                xs, ys = zip(*[(x, 1 - tail) for x, tail in points])
                ax.plot(xs, ys, marker=style[t][1], color=style[t][0], label=label,
                        linewidth=1.0, markersize=4, linestyle="--")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("round-trip time (RTT), µs (log scale)")
        ax.set_title(placement_title(placement), fontsize=9)
        ax.grid(which="both", alpha=0.3)
        finish_panel(ax, legend=True)
    panels[0][1].set_ylabel("fraction of round trips at or below x")
    if fallback:
        fig.text(0.01, -0.04, "Dashed, with markers: no histogram side file in the input (older "
                 "ipcbench):\ndrawn from the reported p50, p90, p99, p99.9 and max only; the "
                 "points are measured, the lines between them are not"
                 + ("" if set(fallback) >= set(dataset.transports)
                    else ": " + ", ".join(unique(fallback))), fontsize=8, wrap=True)
    return save(fig, out_dir, "latency_cdf.png")


def group_title(dataset, kind, placement):
    """A panel title for one group of pattern rows: its file(s) and their placement."""
    files = unique(os.path.basename(c.source) for c in dataset.cases
                   if c.kind == kind and c.placement == placement)
    return f"{', '.join(files)} ({placement_title(placement)})"


def figure_legend(fig, panels, extra=()):
    """One legend for the whole figure, right of it: each label once, then `extra` handles."""
    handles = {}
    for ax in panels:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    for h in extra:
        handles.setdefault(h.get_label(), h)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize=8)


def plain_log_labels(plt, axis):
    """Labels a log axis with plain numbers (30, not 3x10^1), also at the minor ticks 2, 3 and
    5 of each decade, so that a range of less than one decade still has labels."""
    def minor(value, _):
        leading = round(value / 10 ** math.floor(math.log10(value)))
        return f"{value:.10g}" if leading in (2, 3, 5) else ""
    axis.set_major_formatter(plt.FuncFormatter(lambda value, _: f"{value:.10g}"))
    axis.set_minor_formatter(plt.FuncFormatter(minor))


def plot_scaling(plt, dataset, out_dir, style, pattern):
    """scaling_<pattern>.png: aggregate rate (top) and latencies (bottom) against N, one line
    per transport, one column per group of rows (the file's placement). Good cases only."""
    from matplotlib.lines import Line2D
    groups = [p for p in dataset.pattern_placements
              if dataset.pattern(pattern.kind, p, good=False)]
    fig, axes = plt.subplots(2, len(groups), figsize=(7.0 * len(groups) + 1.0, 9.0),
                             sharex=True, sharey="row", squeeze=False)
    fig.suptitle(f"{pattern.title}: aggregate rate and latency against N (log2 axis); "
                 "errored and unsupported cases are absent (listed in REPORT.md)", fontsize=10)
    ns = set()
    shared_drawn = False
    for col, placement in enumerate(groups):
        rate_ax, time_ax = axes[0][col], axes[1][col]
        for t in dataset.all_transports:
            cases = [c for c in dataset.pattern(pattern.kind, placement, t)
                     if isinstance(c.params.get(pattern.n_key), int)]
            if not cases:
                continue
            colour, marker = style[t]
            ns.update(c.params[pattern.n_key] for c in cases)
            # One line per run of equal cpu_shared: no line joins a case whose processes each
            # had a CPU to one where they shared; shared cases get hollow markers.
            for i, segment in enumerate(sharing_segments(cases)):
                xs = [c.params[pattern.n_key] for c in segment]
                face = "none" if cpu_shared(segment[0]) == 1 else colour
                shared_drawn = shared_drawn or cpu_shared(segment[0]) == 1
                rate_ax.plot(xs, [c.get("items_per_second") / KILO for c in segment],
                             marker=marker, color=colour, markerfacecolor=face,
                             label=t if i == 0 else "_nolegend_", linewidth=1.2, markersize=5)
                for key, line in ((pattern.p50_key, "-"), (pattern.tail_key, "--")):
                    points = [(x, c.get(key) / NS_PER_US) for x, c in zip(xs, segment)
                              if c.get(key)]
                    if points:
                        time_ax.plot(*zip(*points), marker=marker, color=colour,
                                     markerfacecolor=face, linestyle=line, linewidth=1.0,
                                     markersize=4)
        rate_ax.set_title(group_title(dataset, pattern.kind, placement), fontsize=9)
        for ax in (rate_ax, time_ax):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            plain_log_labels(plt, ax.yaxis)
            ax.grid(which="both", alpha=0.3)
        time_ax.set_xlabel(f"N = {pattern.n_key} (log2 scale)")
        finish_panel(rate_ax, legend=False)
        if not time_ax.lines:
            finish_panel(time_ax, legend=False)
    for ax in axes[1]:
        if ns:
            ax.set_xticks(sorted(ns))
            ax.set_xticklabels([str(n) for n in sorted(ns)])
            ax.xaxis.set_minor_locator(plt.NullLocator())
    axes[0][0].set_ylabel(f"{pattern.rate_words},\n10^3 messages/s (log scale)")
    axes[1][0].set_ylabel("µs (log scale)")
    styles = [Line2D([], [], color="black", linestyle="-", label=f"solid: {pattern.p50_words}"),
              Line2D([], [], color="black", linestyle="--",
                     label=f"dashed: {pattern.tail_words}")]
    if shared_drawn:
        styles.append(Line2D([], [], color="black", marker="o", markerfacecolor="none",
                             linestyle="none", label="hollow: processes share CPUs (cpu_shared "
                             "1); a line breaks where that changes"))
    fig.subplots_adjust(right=0.96)  # the legend sits just right of the panels
    figure_legend(fig, axes[0], styles)
    fig.text(0.01, -0.02, "The pattern pins its processes itself (CPUs per case in REPORT.md); "
             "a column is the group of rows from one file, named by that file's placement.",
             fontsize=8)
    return save(fig, out_dir, pattern.picture)


def plot_placement(plt, dataset, out_dir, style):
    """placement.png: RTT p50 per transport at each placement, near to far, log scale, at the
    smallest size measured at every placement; the far bars carry their p50 / the near p50."""
    placements = dataset.rtt_placements()
    rows = [(t, dataset.placement_rtt(t, placements)) for t in dataset.transports]
    rows = [(t, found) for t, found in rows if found]
    k = len(placements)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(rows) * k + 2), 5.5))
    width = 0.8 / k
    hatches = ("", "//", "..", "xx", "\\\\", "oo")
    for ti, (t, found) in enumerate(rows):
        near = found[placements[0]].get("p50_ns")
        for pi, p in enumerate(placements):
            p50 = found[p].get("p50_ns")
            x = ti - 0.4 + width * (pi + 0.5)
            ax.bar(x, p50 / NS_PER_US, width * 0.9, color=style[t][0], edgecolor="black",
                   linewidth=0.5, hatch=hatches[pi % len(hatches)])
            if pi > 0:
                ax.text(x, p50 / NS_PER_US * 1.05, f"{fmt_sig(p50 / near, 2)}x", ha="center",
                        va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{t}\n{fmt_bytes(found[placements[0]].bytes)}" for t, found in rows],
                       rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log")
    plain_log_labels(plt, ax.yaxis)
    ax.set_ylabel("round-trip time (RTT) p50, µs (log scale)")
    ax.set_title("Round trip p50 per transport at each CPU placement, near to far (size under "
                 "each name: the smallest measured at every placement)\nnumber above a bar: its "
                 f"p50 / the {placement_title(placements[0])} p50", fontsize=9)
    ax.grid(axis="y", which="both", alpha=0.3)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=hatches[i % len(hatches)],
                             label=placement_title(p)) for i, p in enumerate(placements)],
              title="placement (bar pattern)", fontsize=8)
    return save(fig, out_dir, PLACEMENT_PICTURE)


LOAD_CAPTION = ("Latency under a fixed offered load for {t}: corrected latency (from each "
                "message's intended send time) p50 solid and p99 dashed, and the uncorrected "
                "p99 (from its actual send time, what a closed loop reports) dotted, in µs "
                "against the offered rate in messages/s, both axes log; one colour per "
                "placement; hollow markers: the rate was not sustained (replies slower than 98% "
                "of the offered rate, or more than 0.1% lost); the grey line is the report's "
                "p99 bound. Where the corrected lines leave the dotted one is the knee.")


def rate_words(value):
    """A rate axis label: 500, 10k, 2.5M."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def plot_load(plt, dataset, out_dir, transport):
    """load_<transport>.png: corrected p50 and p99 and the uncorrected p99 against the
    offered rate, one colour per placement, log-log. Good cases only."""
    import matplotlib
    from matplotlib.lines import Line2D
    colours = matplotlib.colormaps["tab10"].colors
    fig, ax = plt.subplots(figsize=(8.0, 5.5))
    for i, placement in enumerate(dataset.load_placements):
        cases = [c for c in dataset.load(placement, transport)
                 if isinstance(c.params.get("rate"), int)]
        if not cases:
            continue
        colour = colours[i % len(colours)]
        xs = [c.params["rate"] for c in cases]
        for key, line in (("p50_ns", "-"), ("p99_ns", "--"), ("uncorrected_p99_ns", ":")):
            ys = [(c.get(key) or 0) / NS_PER_US for c in cases]
            ax.plot(xs, ys, color=colour, linestyle=line, linewidth=1.2)
            for x, y, c in zip(xs, ys, cases):
                ax.plot([x], [y], marker="o", markersize=4, color=colour,
                        markerfacecolor=colour if load_sustained(c) else "none")
        ax.plot([], [], color=colour, label=placement_title(placement))
    ax.axhline(LOAD_P99_BOUND_NS / NS_PER_US, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    plain_log_labels(plt, ax.yaxis)
    # Rates span decades: decade labels only, in words short enough not to collide ("100k").
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda value, _: rate_words(value)))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.grid(which="both", alpha=0.3)
    ax.set_xlabel("offered rate, messages/s (log scale)")
    ax.set_ylabel("latency, µs (log scale)")
    ax.set_title(f"Load/{transport}: latency against offered load", fontsize=10)
    handles = ax.get_legend_handles_labels()[0] + [
        Line2D([], [], color="black", linestyle="-", label="corrected p50"),
        Line2D([], [], color="black", linestyle="--", label="corrected p99"),
        Line2D([], [], color="black", linestyle=":", label="uncorrected p99"),
        Line2D([], [], color="grey", label=f"p99 bound {LOAD_P99_BOUND_NS / NS_PER_US:g} µs")]
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    return save(fig, out_dir, load_picture(transport))


def optional_pictures(dataset):
    """[(name, caption, why it is not drawn or None)] for the pictures that need pattern or
    placement rows."""
    out = []
    for pattern in PATTERN_LIST:
        caption = (f"{pattern.title}: top, {pattern.rate_words} (10^3 messages/s) against N; "
                   f"bottom, solid {pattern.p50_words}, dashed {pattern.tail_words} (µs); one "
                   "line per transport, log2 N axis, log y axes; errored cases absent. A line "
                   "breaks where the case's processes start (or stop) sharing CPUs (counter "
                   "cpu_shared), and cases that share CPUs have hollow markers.")
        rows = [c for c in dataset.cases if c.kind == pattern.kind]
        if not rows:
            why = f"the input has no {pattern.kind} rows"
        elif not any(c.good for c in rows):
            why = f"no {pattern.kind} case ran without error (see the list of errored cases)"
        else:
            why = None
        out.append((pattern.picture, caption, why))
    placements = dataset.rtt_placements()
    caption = ("Round-trip p50 per transport at each CPU placement found in the input, near to "
               "far, log scale; the number above a bar is its p50 divided by the nearest "
               "placement's.")
    if len(placements) < 2:
        why = ("the input has good round trips at one placement only ("
               + (", ".join(placement_title(p) for p in placements) or "none") + ")")
    elif not any(dataset.placement_rtt(t, placements) for t in dataset.transports):
        why = "no transport has a round trip of one size at every placement"
    else:
        why = None
    out.append((PLACEMENT_PICTURE, caption, why))
    transports = dataset.load_transports()
    for t in transports:
        out.append((load_picture(t), LOAD_CAPTION.format(t=t), None))
    if not transports:
        rows = [c for c in dataset.cases if c.kind == LOAD]
        why = ("the input has no Load rows" if not rows
               else "no Load case ran without error (see the list of errored cases)")
        out.append((load_picture("<transport>"), LOAD_CAPTION.format(t="each transport"), why))
    return out


def write_pictures(dataset, out_dir):
    """Writes the four pictures and those of optional_pictures() that have data (removing a
    stale copy of the others); returns the paths written."""
    plt = import_pyplot()
    style = transport_style(dataset)
    optional = []
    for name, _, why in optional_pictures(dataset):
        if why is not None:
            stale = os.path.join(out_dir, name)
            if os.path.exists(stale):
                os.remove(stale)  # an earlier report's picture would show rows this input lacks
        elif name == PLACEMENT_PICTURE:
            optional.append(plot_placement(plt, dataset, out_dir, style))
        elif name.startswith("load_"):
            transport = next(t for t in dataset.load_transports() if load_picture(t) == name)
            optional.append(plot_load(plt, dataset, out_dir, transport))
        else:
            pattern = next(p for p in PATTERN_LIST if p.picture == name)
            optional.append(plot_scaling(plt, dataset, out_dir, style, pattern))
    return [
        plot_latency(plt, dataset, out_dir, style),
        plot_vs_size(plt, dataset, out_dir, style, ROUND_TRIP, "p50_ns", NS_PER_US,
                     "round-trip time (RTT) p50, µs (log scale)",
                     "Round trip p50 against message size", "latency_vs_size.png"),
        plot_vs_size(plt, dataset, out_dir, style, STREAM, "bytes_per_second", MB,
                     "stream throughput, MB/s = 10^6 bytes/s (log scale)",
                     "Stream throughput against message size", "throughput_vs_size.png"),
        plot_cdf(plt, dataset, out_dir, style),
    ] + optional

