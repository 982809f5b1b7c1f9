"""Numbers and tables for people: three significant digits, units, markdown cells."""

import math
import re
import textwrap

from .model import MB, NS_PER_US, PLACEMENT_NAMES


def fmt_sig(value, digits=3):
    """A number with `digits` significant digits and no exponent (12345 -> "12345")."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    if float(value).is_integer() and abs(value) >= 10 ** (digits - 1):
        return str(int(value))  # counts and large values: no spurious ".0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def fmt_count(value):
    """A count (messages, samples): an integer when it is one, else three significant digits."""
    if value is None:
        return "n/a"
    return str(int(value)) if float(value).is_integer() else fmt_sig(value)


def fmt_us(ns):
    """Nanoseconds shown in microseconds."""
    return "n/a" if ns is None else f"{fmt_sig(ns / NS_PER_US)} µs"


def fmt_mbps(bytes_per_second):
    """Bytes/s shown in MB/s (10^6 bytes/s)."""
    return "n/a" if bytes_per_second is None else f"{fmt_sig(bytes_per_second / MB)} MB/s"


def fmt_bytes(n):
    """A message size: "64 B", "16 KiB", "1 MiB"."""
    if n is None:
        return "n/a"
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def fmt_ratio(a, b):
    """a/b as "1.23x", or "n/a"."""
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{fmt_sig(a / b)}x"


def fmt_rate(per_second):
    """A message rate: "58098/s"."""
    return "n/a" if per_second is None else f"{fmt_sig(per_second)}/s"


# How a pattern table's counter is shown (Pattern.columns).
FORMATS = {"us": fmt_us, "count": fmt_count, "sig": fmt_sig}


def placement_title(placement):
    """A placement for people: "same CPU", "different CPUs"."""
    return PLACEMENT_NAMES.get(placement, placement.replace("_", " "))


def md_cell(text):
    """Text made safe for one markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header, rows):
    """A markdown table."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# A number and its unit, and "p = 0.05", kept on one line when prose is wrapped.
UNBROKEN = re.compile(r"(?:\b[pP] = |\b)[0-9][0-9.]*x? (?:B|KiB|MiB|µs|MB/s|msg/s)\b"
                      r"|\b[pP] = [0-9][0-9.]*")
GLUE = "\0"


def md_wrap(text, bullet=False, width=100):
    """A markdown paragraph (or a "- " list item when `bullet`) wrapped at `width` columns,
    never between a number and its unit."""
    glued = UNBROKEN.sub(lambda m: m.group(0).replace(" ", GLUE), text)
    wrapped = textwrap.fill(glued, width=width, initial_indent="- " if bullet else "",
                            subsequent_indent="  " if bullet else "", break_long_words=False,
                            break_on_hyphens=False)
    return wrapped.replace(GLUE, " ")
