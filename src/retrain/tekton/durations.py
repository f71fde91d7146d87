"""Go `time.Duration` text, as Tekton uses it for every timeout ("1h30m", "90s", "0").

Parsing follows Go's `time.ParseDuration` exactly (optional sign, one or more `<number><unit>` parts, the bare
"0"); formatting follows Go's `Duration.String()` ("1h0m0s", "1m30s", "500ms", "0s"). Python's timedelta has
microsecond resolution, so nanoseconds are rounded to the nearest microsecond.
"""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

from retrain.errors import InvalidInput, Location

__all__ = ["DEFAULT_TIMEOUT", "format_duration", "parse_duration"]

DEFAULT_TIMEOUT = timedelta(hours=1)
"""Tekton's default timeout for a TaskRun or PipelineRun (`default-timeout-minutes: 60`)."""

_UNIT_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_NS = (1 << 63) - 1  # Go's Duration is an int64 count of nanoseconds

# One `<number><unit>` part. Like Go, everything up to the next digit or "." is the unit, so "1sec" reports
# the unknown unit "sec" rather than a confusing leftover.
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")
_EXAMPLES = '"90s", "1h30m", "1.5h", "300ms" or "0"'


def _invalid(text: str, field: str | None, why: str) -> InvalidInput:
    return InvalidInput(
        f"invalid duration {text!r}: {why}",
        location=Location(field=field) if field else None,
        hint=f"use a Go duration such as {_EXAMPLES}; units are ns, us, ms, s, m, h",
    )


def parse_duration(text: str, *, field: str | None = None) -> timedelta:
    """Parse Go duration syntax; raise InvalidInput naming `field` on bad input."""
    rest = text
    negative = False
    if rest[:1] in ("-", "+"):
        negative = rest[0] == "-"
        rest = rest[1:]
    if rest == "0":
        return timedelta(0)
    if not rest:
        raise _invalid(text, field, "it is empty" if not text else "a sign alone is not a duration")
    total = Fraction(0)
    for match in _PART.finditer(rest):
        whole, frac, unit = match.group(1), match.group(2), match.group(3)
        if match.group(0) == "":
            break
        if not whole and not frac:
            raise _invalid(text, field, f"expected a number at {match.group(0)!r}")
        if not unit:
            raise _invalid(text, field, f"missing unit after {match.group(0)!r}")
        if unit not in _UNIT_NS:
            raise _invalid(text, field, f"unknown unit {unit!r}")
        value = Fraction(int(whole or "0"))
        if frac:
            value += Fraction(int(frac), 10 ** len(frac))
        total += value * _UNIT_NS[unit]
        if total > _MAX_NS + (1 if negative else 0):
            raise _invalid(text, field, "it is longer than Go's maximum duration (about 292 years)")
    # Go truncates fractions of a nanosecond per part; rounding the sum to microseconds makes that moot.
    micros = round(total / 1000)
    return timedelta(microseconds=-micros if negative else micros)


def _frac(value: int, precision: int) -> tuple[str, int]:
    """Go's fmtFrac: the fractional digits of value/10**precision without trailing zeros, and the rest."""
    digits = ""
    printed = False
    for _ in range(precision):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printed else ""), value


def format_duration(td: timedelta) -> str:
    """Go's `Duration.String()`: "1h0m0s", "1m30s", "1.5s", "500ms", "0s"."""
    ns = (td.days * 86_400 + td.seconds) * 1_000_000_000 + td.microseconds * 1_000
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u == 0:
        return "0s"
    if u < 1_000_000_000:
        if u < 1_000:
            precision, unit = 0, "ns"
        elif u < 1_000_000:
            precision, unit = 3, "µs"
        else:
            precision, unit = 6, "ms"
        frac, whole = _frac(u, precision)
        return f"{sign}{whole}{frac}{unit}"
    frac, secs = _frac(u, 9)
    text = f"{secs % 60}{frac}s"
    minutes = secs // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text
