"""The headless canary's stderr (deployer_tui/canary_progress.py) fed core/canary.py's own progress types:
a bar rewritten in place on a terminal, plain lines elsewhere, what must stay printed once; and the flags'
durations, rates and ratios."""

from __future__ import annotations

import argparse
import io

import pytest

from deployer_tui.canary_cli import parse_duration, parse_fraction, parse_ratio
from deployer_tui.canary_progress import ProgressPrinter, bar, fraction_done, status_line
from deployer_tui.core.canary import CanaryPlan, CanaryProgress, GuardReading, StepState, VersionStats

PREFIX = "deployer-tui canary: "


def snapshot(phase: str, step: int, states: list[str], *, left: float | None = None, message: str = "",
             log: list[str] | None = None, ok: bool | None = None) -> CanaryProgress:
    plan = CanaryPlan("dep", "v5", {"mode": "SINGLE_GENERATION", "generation": "v2"}, steps=(10, 50, 100),
                      soak_s=10.0)
    old, new = VersionStats("v2", requests=40, errors=0, latencies_ms=[10.0] * 40), \
        VersionStats("v5", requests=8, errors=1, latencies_ms=[12.0] * 7)
    guards = [GuardReading("error rate", "≤ 1 %", "12.5 %" if ok is False else "0 %", ok),
              GuardReading("p95 latency ratio", "≤ 1.5×", None, None)]
    return CanaryProgress(plan, phase, step, [StepState(p, s) for p, s in zip((10, 50, 100), states, strict=True)],
                          {"v2": old, "v5": new}, guards, "forced generation on the API nodes", message,
                          log or [], soak_left_s=left)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_status_line_is_rewritten_and_lasting_lines_go_above_it() -> None:
    out = io.StringIO()
    printer = ProgressPrinter(out, terminal=True, width=300)
    printer(snapshot("step", 0, ["updating", "pending", "pending"], message="step 10 %: updating",
                     log=["node-1: v5 activated"]))
    printer(snapshot("soak", 0, ["soaking", "pending", "pending"], left=5.0, message="step 10 %: updating"))
    text = out.getvalue()
    assert text.startswith(f"{PREFIX}  node-1: v5 activated\n{PREFIX}step 10 %: updating\n")
    # Each redraw starts by going back to the start of the line and clearing it; no newline after the bar.
    assert text.count("\r\x1b[K") == 2 and not text.endswith("\n")
    last = text.rsplit("\r\x1b[K", 1)[1]
    assert last.startswith("canary [") and " % step 1/3 (10 %) soak, 5 s left · " in last
    # The guards come before the figures (a narrow terminal cuts the end).
    assert last.endswith("error rate 0 % … · p95 latency ratio not measured … · "
                         "v2 40 req 0 % err p95 10 ms · v5 8 req 12.5 % err p95 12 ms")
    # A step's verdict clears the bar, stays, and the bar comes back under it.
    printer(snapshot("reverting", 0, ["failed", "pending", "pending"], ok=False, message="error rate 12.5 % > 1 %"))
    after = out.getvalue()[len(text):]
    assert after.startswith(f"\r\x1b[K{PREFIX}step 10 % failed: error rate 12.5 % (≤ 1 %) ✗")
    printer(snapshot("done", 0, ["failed", "skipped", "skipped"], message="reverted to v2"))
    assert out.getvalue().endswith(f"{PREFIX}reverted to v2\n")


def test_elsewhere_only_plain_lines_and_a_status_now_and_then() -> None:
    out, clock = io.StringIO(), Clock()
    printer = ProgressPrinter(out, terminal=False, status_every_s=10, clock=clock)
    printer(snapshot("step", 0, ["updating", "pending", "pending"], message="step 10 %: updating"))
    for second in range(1, 25):
        clock.now = float(second)
        printer(snapshot("soak", 0, ["soaking", "pending", "pending"], left=30.0 - second,
                         message=f"step 10 %: soaking, {30 - second} s left — v5: {second} probes"))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and all(line.startswith(PREFIX) for line in lines)
    assert lines[0] == f"{PREFIX}step 10 %: updating"
    assert not [line for line in lines if "probes" in line], "a soak's running messages do not each stay"
    statuses = [line for line in lines if "soak," in line]
    # When the soak starts, then every 10 s: not at every snapshot.
    assert [s.split(" · ")[0] for s in statuses] == [f"{PREFIX}step 1/3 (10 %) soak, {left} s left"
                                                    for left in (29, 19, 9)]
    printer(snapshot("step", 0, ["passed", "pending", "pending"], ok=True, message="step 10 %: updating"))
    printer(snapshot("step", 1, ["passed", "updating", "pending"], message="step 50 %: updating"))
    assert out.getvalue().splitlines()[-2:] == [
        f"{PREFIX}step 10 % passed: error rate 0 % (≤ 1 %) ✓ · p95 latency ratio not measured (≤ 1.5×) …",
        f"{PREFIX}step 50 %: updating"]


def test_a_narrow_terminal_gets_a_cut_status_line() -> None:
    out = io.StringIO()
    ProgressPrinter(out, terminal=True, width=40)(snapshot("soak", 0, ["soaking", "pending", "pending"], left=5.0))
    line = out.getvalue().rsplit("\r\x1b[K", 1)[1]
    assert len(line) == 39 and line.endswith("…")


def test_how_far_the_bar_goes() -> None:
    assert fraction_done(snapshot("step", 0, ["updating", "pending", "pending"])) == 0
    assert fraction_done(snapshot("soak", 1, ["passed", "soaking", "pending"], left=5.0)) == pytest.approx(0.5)
    assert fraction_done(snapshot("done", 0, ["failed", "skipped", "skipped"])) == 1
    assert bar(0.5, cells=4) == "[██░░]  50 %"
    assert status_line(snapshot("reverting", 0, ["failed", "pending", "pending"])).startswith(
        "step 1/3 (10 %) reverting")


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60), ("2m", 120), ("0.5", 0.5), ("500ms", 0.5),
                                               ("1h", 3600), (" 3 s ", 3), (".3s", 0.3)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "-1s", "3x", "1.2.3s", "s"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="60s, 2m, 0.5"):
        parse_duration(text)


def test_rates_and_ratios() -> None:
    assert parse_fraction("0.02") == 0.02 and parse_fraction("1%") == pytest.approx(0.01)
    assert parse_ratio("1.5") == parse_ratio("1.5x") == parse_ratio("1.5×") == 1.5
    with pytest.raises(argparse.ArgumentTypeError, match="fraction"):
        parse_fraction("a lot")
    with pytest.raises(argparse.ArgumentTypeError, match="ratio"):
        parse_ratio("fast")
