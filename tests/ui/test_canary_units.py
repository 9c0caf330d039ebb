"""The canary UI's pure parts: reading the form's fields, which versions a canary can go to, the row label,
the outcome sentence, and which version the latency log says answered worse."""

from __future__ import annotations

import pytest
from rich.text import Text

from deployer_tui.core.canary import CanaryControl, CanaryPlan, CanaryResult, StepState
from deployer_tui.core.canary_options import parse_delta_ms, parse_duration, parse_percent, parse_steps
from deployer_tui.core.latency_log import NOT_REPORTED, VersionSummary
from deployer_tui.core.rollback import single
from deployer_tui.ui.screens.canary import (
    candidate_versions,
    field_errors,
    lone_version,
)
from deployer_tui.ui.state.canary_tracker import CanaryRun, outcome_text
from deployer_tui.ui.state.latency_trends import worse_version
from deployer_tui.ui.view.rows import decorate_deployment_row, deployment_row
from tests.ui.test_canary_pilot import progress_at


def test_fields_are_read_as_people_type_them() -> None:
    assert parse_steps("10, 50,100") == (10, 50, 100)
    assert parse_steps("25% 100%") == (25, 100)
    assert parse_duration("60") == 60 and parse_duration("2m") == 120 and parse_duration("500ms") == 0.5
    assert parse_percent("1") == pytest.approx(0.01) and parse_percent("0.5 %") == pytest.approx(0.005)
    assert parse_delta_ms("5") == parse_delta_ms("5ms") == 5.0 and parse_delta_ms("0.01s") == pytest.approx(10.0)
    for bad, parse in (("ten", parse_steps), ("soon", parse_duration), ("one", parse_percent),
                       ("fast", parse_delta_ms), ("10;50", parse_steps)):
        with pytest.raises(ValueError):
            parse(bad)


def test_each_field_gets_the_engines_own_sentence() -> None:
    raw = {"steps": "10,50", "soak": "-1", "error_rate": "1", "latency_ratio": "1.5", "probe_rate": "10"}
    values, errors, whole = field_errors("dep", "v2", raw, "HASH_BASED", False)
    assert errors["steps"] == "the last step must be 100 (the new version alone), not 50"
    assert "duration" in errors["soak"], "a negative number is not a duration the form reads"
    assert set(errors) == {"steps", "soak"} and whole == ""
    _values, errors, _whole = field_errors("dep", None, dict(raw, steps="10,50,100", soak="1s"), "RANDOM", True)
    assert set(errors) == {"version"}
    values, errors, whole = field_errors("dep", "v2", dict(raw, steps="10,50,100", soak="1s"), "RANDOM", True)
    assert not errors and not whole and values["steps"] == (10, 50, 100) and values["soak"] == 1.0


def test_the_versions_offered_leave_out_the_one_alone_in_the_mapping() -> None:
    light = {"deploymentBasicInfo": {"generationsMapping": {"mode": "SINGLE_GENERATION", "generation": "v2"}},
             "packages": [{"id": "v1", "publishedOn": 1}, {"id": "v3", "publishedOn": 3}, {"id": "v2", "publishedOn": 2}]}
    assert candidate_versions(light) == ["v3", "v1"]
    split = {"mode": "MULTI_GENERATION", "entries": [{"generation": "v1", "proba": 0.9},
                                                     {"generation": "v2", "proba": 0.1}]}
    assert lone_version(split) is None
    assert candidate_versions({**light, "deploymentBasicInfo": {"generationsMapping": split}}) == ["v3", "v2", "v1"]
    assert lone_version({"entries": [{"generation": "v4", "proba": 1}]}) == "v4"


def test_the_row_says_the_canary_step_in_place_of_the_health() -> None:
    plan = CanaryPlan("dep", "v2", previous=single("v1"))
    run = CanaryRun("dep", plan, CanaryControl())
    assert run.row_label() == "⟳ CANARY 10 %", "before the first snapshot: the first step"
    run.progress = progress_at(plan, 1)
    assert run.row_label() == "⟳ CANARY 50 %"
    run.progress.phase = "paused"
    assert run.row_label() == "‖ CANARY 50 %"
    run.progress.phase = "reverting"
    assert run.row_label() == "⟳ REVERTING"
    labels = [run.row_label()]
    for phase in ("step", "soak", "paused", "promoting"):
        run.progress.phase = phase
        labels.append(run.row_label())
    # The pane's columns only widen: a label wider than the longest one would push a column out at 80 columns.
    assert max(Text(label).cell_len for label in labels) <= Text("⟳ CANARY 100 %").cell_len, labels
    light = {"deploymentBasicInfo": {"id": "dep", "generationsMapping": single("v1")}}
    row = decorate_deployment_row(deployment_row(light, "HEALTHY", "Dev"), marked=False, update_state="RUNNING",
                                  canary="⟳ CANARY 50 %")
    assert Text("⟳ CANARY 50 %").plain in [c.plain for c in row if isinstance(c, Text)]


def test_the_outcome_sentence() -> None:
    plan = CanaryPlan("dep", "v2", previous=single("v1"))
    run = CanaryRun("dep", plan, CanaryControl(), running=False)
    run.error = "deployer unreachable"
    assert outcome_text(run) == "Canary of dep stopped: deployer unreachable"
    run.result = CanaryResult("dep", "REVERTED", False, single("v1"), single("v1"), failed_guard="error rate",
                              failed_step=10, duration_ms=4200)
    assert outcome_text(run) == ("Canary of dep: REVERTED — error rate breached at 10 %; the previous mapping is "
                                 "back (4.2s)")
    run.result.message = "the error rate of v2 was 20 % (≤ 1 %) at 10 %"
    assert outcome_text(run) == "Canary of dep: REVERTED — the error rate of v2 was 20 % (≤ 1 %) at 10 %"
    assert StepState(10).state == "pending"


def summary(version: str, count: int, errors: int, p95: float | None) -> VersionSummary:
    return VersionSummary(version, count, errors, p95, p95)


def test_the_version_that_answered_worse() -> None:
    assert worse_version({"v1": summary("v1", 20, 0, 5.0)}) == (None, "", "")
    slower = worse_version({"v1": summary("v1", 20, 0, 5.0), "v2": summary("v2", 20, 0, 9.0)})
    assert slower[:2] == ("v2", "slower")
    assert worse_version({"v1": summary("v1", 20, 0, 5.0), "v2": summary("v2", 20, 0, 5.5)})[0] is None
    errors = worse_version({"v1": summary("v1", 20, 0, 9.0), "v2": summary("v2", 20, 4, 5.0)})
    assert errors[:2] == ("v2", "more errors") and "20.0 %" in errors[2]
    too_few = {"v1": summary("v1", 20, 0, 5.0), "v2": summary("v2", 3, 3, 50.0)}
    assert worse_version(too_few)[0] is None
    unnamed = {"v1": summary("v1", 20, 0, 5.0), NOT_REPORTED: summary(NOT_REPORTED, 20, 5, 50.0)}
    assert worse_version(unnamed)[0] is None, "answers naming no version are not a version"


def test_version_rows_fit_an_80_column_terminal() -> None:
    from deployer_tui.core.canary import VersionStats
    from deployer_tui.ui.screens.canary import FIGURES_WIDTH, SPARK_WIDTH, VERSION_HEADER_NARROW, version_line

    slow = VersionStats("v12345678901", requests=123456, errors=12345, latencies_ms=[1234.5, 9999.9])
    for stats, role in ((slow, "new"), (VersionStats("not reported"), ""), (VersionStats("v2"), "old")):
        assert len(version_line(stats, role).plain) <= FIGURES_WIDTH, stats
    # The figures, the sparkline and its margins, within 80 columns less the rows' padding.
    assert FIGURES_WIDTH + 1 + SPARK_WIDTH + 1 <= 78
    assert len(VERSION_HEADER_NARROW.plain) <= 78
    assert "-" in version_line(VersionStats("v3"), "new").plain, "no figure yet: a dash, not a wide word"


def test_a_guard_not_judged_says_why() -> None:
    from deployer_tui.core.canary import GUARD_ANSWERS, GUARD_ERROR_RATE, GuardReading
    from deployer_tui.ui.screens.canary import guard_verdict

    plan = CanaryPlan("dep", "v2", previous=single("v1"))
    progress = progress_at(plan, 0)
    waiting = GuardReading(GUARD_ERROR_RATE, "≤ 1 %", None, None)
    assert guard_verdict(waiting, progress).plain == "waiting for enough probes"
    assert guard_verdict(GuardReading(GUARD_ANSWERS, "off (shown only)", "0 of 3 differ", None),
                         progress).plain == "not judged (off)"
    assert guard_verdict(GuardReading(GUARD_ERROR_RATE, "≤ 1 %", "0 %", True), progress).plain == "✓ ok"
    progress.phase = "done"
    assert guard_verdict(waiting, progress).plain == "not judged"
