"""How values look on screen: health colours, ages, timestamps. Pure functions, no widgets."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone

from rich.text import Text

# The colours the DSS UI gives each health value, plus the UI-derived pseudo-states.
HEALTH_STYLES: dict[str, str] = {
    "HEALTHY": "bold green",
    "WARNING": "bold dark_orange",
    "OUT_OF_SYNC": "bold dark_orange",
    "UNKNOWN": "yellow",
    "UNHEALTHY": "bold red",
    "ERROR": "bold red",
    "LOADING_FAILED": "bold red",
    "DISABLED": "dim",
    # Nodes of the deployment serve different versions (core/skew.py): the console says it, no deployer does.
    "SKEW": "bold magenta",
    "LOADING": "dim italic",
}
SEVERITY_STYLES: dict[str, str] = {"ERROR": "bold red", "WARNING": "dark_orange", "INFO": "cyan", "SUCCESS": "green"}


def health_text(health: str) -> Text:
    """A health value as a coloured cell; unknown values (an open set) are shown plain."""
    return Text(health.replace("_", " ") if health != "LOADING" else "loading…", style=HEALTH_STYLES.get(health, ""))


def age(seconds: float) -> str:
    """A short human age: 4s, 3m, 2h, 5d."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def timestamp(epoch_ms: object, clock: Callable[[], float] = time.time) -> str:
    """Epoch milliseconds as 'YYYY-MM-DD HH:MM UTC (3d ago)'; '-' when absent."""
    if not isinstance(epoch_ms, (int, float)) or isinstance(epoch_ms, bool) or epoch_ms <= 0:
        return "-"
    when = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return f"{when:%Y-%m-%d %H:%M} UTC ({age(clock() - epoch_ms / 1000)} ago)"


def yes_no(value: object) -> str:
    return "yes" if value is True else "no" if value is False else "-"


class Presentation:
    """Every volatile thing the UI prints (clock-relative ages, timestamps, URLs with ephemeral ports)
    goes through one of these, so snapshot tests can swap in a stable one instead of masking pixels."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock()

    def timestamp(self, epoch_ms: object) -> str:
        return timestamp(epoch_ms, self.clock)

    def url(self, url: str) -> str:
        return url


class StablePresentation(Presentation):
    """For snapshots and screenshots of runs whose data carries real times and ephemeral ports:
    a frozen clock, fixed timestamps and URLs with the port replaced."""

    def __init__(self, frozen_at: float = 1_767_225_600.0) -> None:  # 2026-01-01 00:00 UTC
        super().__init__(clock=lambda: frozen_at)

    def timestamp(self, epoch_ms: object) -> str:
        return "-" if timestamp(epoch_ms) == "-" else "2026-01-01 00:00 UTC"

    def url(self, url: str) -> str:
        return re.sub(r"(//[^/:]+):\d+", r"\1:PORT", url)
