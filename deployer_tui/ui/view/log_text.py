"""What a log line says about itself, shared by the update tracker (a node's state) and the log view
(colours, jump to the first error). Pure functions over text."""

from __future__ import annotations

import re

# How many lines of one update's log are kept in memory (the tracker's run and the log view alike).
DEFAULT_MAX_LINES = 50_000

# Log lines carry their level as a word ("[ERROR]", "ERROR:", " FAILED "); upper case only, so prose such as
# "0 failed" does not light up.
_ERROR_WORDS = re.compile(r"\b(ERROR|FATAL|SEVERE|FAILED|Traceback)\b")
_WARNING_WORDS = re.compile(r"\b(WARN|WARNING)\b")


def line_level(line: str) -> str | None:
    """"error", "warning" or None, from the words a log line carries."""
    if _ERROR_WORDS.search(line):
        return "error"
    if _WARNING_WORDS.search(line):
        return "warning"
    return None
