"""How `deployer-tui canary` shows a running canary on stderr: on a terminal one status line (a progress bar,
the step, the soak left, per-version figures and the guards) rewritten in place, with what must stay (the
engine's messages, update log lines, each step's verdict) printed above it; elsewhere (CI logs, a pipe)
plain lines only, and a status line when a step starts soaking and now and then after.

Reads core/canary.py's CanaryProgress snapshots; no I/O besides the stream it is given.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TextIO

BAR_CELLS = 20
STATUS_EVERY_S = 10.0  # plain mode: a status line at most this often while a step soaks
MARKS = {True: "✓", False: "✗", None: "…"}
ENDED_STEP_STATES = ("passed", "failed", "skipped")


def duration_text(seconds: float) -> str:
    """12 s, 2 m 5 s, 0.3 s."""
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".0 s", " s")
    whole = int(round(seconds))
    minutes, secs = divmod(whole, 60)
    return f"{minutes} m {secs} s" if minutes else f"{secs} s"


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f} %".replace(".0 %", " %")


def stats_text(progress: Any) -> str:
    """Per version, the previous ones first: requests, errors, p95."""
    plan = progress.plan
    order = [*plan.previous_versions, plan.target]
    order += [v for v in progress.stats if v not in order]
    parts = []
    for version in order:
        stats = progress.stats.get(version)
        if stats is None:
            continue
        p95 = "–" if stats.p95 is None else f"{stats.p95:.0f} ms"
        parts.append(f"{version} {stats.requests} req {_percent(stats.error_rate)} err p95 {p95}")
    return " · ".join(parts)


def guard_text(guard: Any) -> str:
    value = guard.value or "not measured"
    if guard.threshold.startswith("off"):  # shown, not judged (answers without --match-answers)
        return f"{guard.name}: {value} (not judged)"
    return f"{guard.name} {value} ({guard.threshold}) {MARKS.get(guard.ok, '…')}"


def guards_text(guards: list[Any]) -> str:
    return " · ".join(guard_text(g) for g in guards)


def short_guards_text(guards: list[Any]) -> str:
    """The judged guards' values and marks, without their thresholds (the plan's line gave those)."""
    return " · ".join(f"{g.name} {g.value or 'not measured'} {MARKS.get(g.ok, '…')}" for g in guards
                      if not g.threshold.startswith("off"))


def fraction_done(progress: Any) -> float:
    """How far the whole canary is: steps done, and the share of the current step's soak already spent."""
    steps = len(progress.steps) or 1
    if progress.phase == "done":
        return 1.0
    within = 0.0
    soak = progress.plan.soak_s
    if progress.phase == "soak" and progress.soak_left_s is not None and soak > 0:
        within = min(1.0, max(0.0, 1 - progress.soak_left_s / soak))
    elif 0 <= progress.step_index < len(progress.steps) and progress.steps[progress.step_index].state in ENDED_STEP_STATES:
        within = 1.0
    return min(1.0, (max(progress.step_index, 0) + within) / steps)


def status_line(progress: Any) -> str:
    """The step, its phase and the figures, without the bar."""
    total = len(progress.steps)
    index = min(max(progress.step_index, 0), max(total - 1, 0))
    percent = progress.percent
    head = f"step {index + 1}/{total}" + (f" ({percent} %)" if percent is not None else "")
    phase = progress.phase
    if phase == "soak" and progress.soak_left_s is not None:
        phase = f"soak, {duration_text(progress.soak_left_s)} left"
    # The guards before the figures: on a narrow terminal the end of the line is what gets cut.
    parts = [f"{head} {phase}", short_guards_text(progress.guards), stats_text(progress)]
    return " · ".join(p for p in parts if p)


def bar(fraction: float, cells: int = BAR_CELLS) -> str:
    filled = int(round(fraction * cells))
    return "[" + "█" * filled + "░" * (cells - filled) + f"] {fraction * 100:3.0f} %"


class ProgressPrinter:
    """A CanaryProgress sink for run_canary that writes to `stream`. `terminal`: rewrite one status line in
    place (\\r); else plain lines. `note()` prints a line of the caller's own (an interrupt, say)."""

    def __init__(self, stream: TextIO, *, terminal: bool, prefix: str = "deployer-tui canary: ",
                 status_every_s: float = STATUS_EVERY_S, clock: Callable[[], float] = time.monotonic,
                 width: int | None = None) -> None:
        self.stream = stream
        self.terminal = terminal
        self.prefix = prefix
        self.status_every_s = status_every_s
        self.clock = clock
        self.width = width  # None: the terminal's, read at every redraw (it may be resized)
        self._message = ""
        self._step_states: dict[int, str] = {}
        self._guards_of: dict[int, list[Any]] = {}
        self._gone = False  # the stream could not be written any more
        self._soak_step = -1  # plain mode: the step whose soak has had its first status line
        self._last_status = clock()
        self._bar_shown = False

    # ---- the run's snapshots ---------------------------------------------------------------------------------
    def __call__(self, progress: Any) -> None:
        for line in progress.log_lines:
            self._line(f"  {line}")
        for i, step in enumerate(progress.steps):
            if step.state != self._step_states.get(i):
                self._step_states[i] = step.state
                if step.state in ENDED_STEP_STATES:
                    verdict = f"step {step.percent} % {step.state}"
                    if step.note:
                        verdict += f" ({step.note})"
                    # The step just ended is usually the current one; else its last readings seen.
                    readings = progress.guards if i == progress.step_index else self._guards_of.get(i, [])
                    figures = guards_text(readings)
                    self._line(verdict + (f": {figures}" if figures else ""))
        self._guards_of[progress.step_index] = list(progress.guards)
        soaking = progress.phase == "soak"
        # A soak's messages only carry its running figures: the status line shows those, so they do not stay.
        if progress.message and progress.message != self._message and not soaking:
            self._message = progress.message
            self._line(progress.message)
        if progress.phase == "done":
            self.close()
            return
        if self.terminal:
            self._draw(f"canary {bar(fraction_done(progress))} {status_line(progress)}")
        elif soaking and (progress.step_index != self._soak_step
                          or self.clock() - self._last_status >= self.status_every_s):
            self._soak_step = progress.step_index
            self._line(status_line(progress))

    @property
    def last_message(self) -> str:
        """The engine's last message printed (the caller need not print the result's own again)."""
        return self._message

    def note(self, line: str) -> None:
        self._line(line)

    def close(self) -> None:
        """Clear the status line (a terminal's next prompt starts on a clean line)."""
        if self._bar_shown:
            self._write("\r\x1b[K")
            self._bar_shown = False

    # ---- writing ---------------------------------------------------------------------------------------------
    def _write(self, text: str) -> None:
        # A terminal closed mid-run (SIGHUP) must not stop the revert that follows: it is then written to
        # no one.
        if self._gone:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self._gone = True

    def _line(self, text: str) -> None:
        self._write(("\r\x1b[K" if self._bar_shown else "") + f"{self.prefix}{text}\n")
        self._bar_shown = False
        self._last_status = self.clock()

    def _draw(self, line: str) -> None:
        width = self._width()
        if len(line) >= width:
            line = line[: max(width - 2, 1)] + "…"
        self._write(f"\r\x1b[K{line}")
        self._bar_shown = True

    def _width(self) -> int:
        if self.width is not None:
            return self.width
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns if columns > 0 else 100  # a terminal that tells no size (a bare pty) says 0
