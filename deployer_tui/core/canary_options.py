"""The canary's options as people type them, read once for the headless command (deployer_tui/canary_cli.py)
and the console's form (ui/screens/canary.py): each parser takes the text and returns the value
core/canary.py expects, or raises ValueError with a sentence saying what was expected."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DELTA = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)?\s*$")


def _number(text: str, expected: str, suffixes: tuple[str, ...] = ()) -> float:
    value = (text or "").strip().lower()
    for suffix in suffixes:
        value = value.removesuffix(suffix).strip()
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{expected}, not {text!r}") from None


def parse_steps(text: str) -> tuple[int, ...]:
    """"10,50,100", "10 50 100" or "10%, 50%, 100%" → (10, 50, 100)."""
    parts = [p.strip().removesuffix("%").strip() for p in re.split(r"[,\s]+", (text or "").strip()) if p.strip()]
    try:
        steps = tuple(int(p) for p in parts)
    except ValueError:
        steps = ()
    if not steps:
        raise ValueError(f"steps are comma-separated whole percentages (10,50,100), not {text!r}")
    return steps


def parse_duration(text: str) -> float:
    """Seconds from "60s", "2m", "500ms", "1h" or a bare number of seconds ("0.5")."""
    match = _DURATION.match((text or "").lower())
    if not match:
        raise ValueError(f"a duration is a number with s, m, h or ms (60s, 2m, 0.5), not {text!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


def parse_fraction(text: str) -> float:
    """An error rate as a fraction (0.01) or a percentage (1%)."""
    raw = (text or "").strip()
    if raw.endswith("%"):
        return _number(raw[:-1], "an error rate is a fraction (0.01) or a percentage (1%)") / 100
    return _number(raw, "an error rate is a fraction (0.01) or a percentage (1%)")


def parse_percent(text: str) -> float:
    """A percentage, with or without its sign ("1", "0.5 %"), as the fraction (0.01)."""
    return _number(text, "a percent, e.g. 1 or 0.5", ("%",)) / 100


def parse_ratio(text: str) -> float:
    """A latency ratio: 1.5, 1.5x or 1.5×."""
    return _number(text, "a latency ratio is a number (1.5)", ("×", "x"))


def parse_delta_ms(text: str) -> float:
    """Milliseconds from "5ms", "0.005s" or a bare number of milliseconds ("5")."""
    match = _DELTA.match((text or "").lower())
    if not match:
        raise ValueError(f"a latency difference is a number of milliseconds (5, 5ms or 0.005s), not {text!r}")
    return float(match.group(1)) * (1000.0 if match.group(2) == "s" else 1.0)


def parse_rate(text: str) -> float:
    """Queries per second: 10, 10/s or 10 qps."""
    return _number(text, "queries per second, e.g. 10", ("/s", "qps"))
