"""Future following without a server: log de-duplication and the end conditions, on a scripted fake client."""

from __future__ import annotations

from typing import Any

import pytest

from deployer_tui.core.errors import ConnectionLost, DeployerError
from deployer_tui.core.job_follower import abort, follow_future, new_log_lines, skipped_marker


def tail(total: int, keep: int) -> dict:
    """A SmartLogTail holding the last `keep` of `total` lines "l1".."lN"."""
    lines = [f"l{i}" for i in range(max(1, total - keep + 1), total + 1)]
    return {"totalLines": total, "lines": lines, "status": [1] * len(lines)}


def test_new_lines_only_once() -> None:
    lines, seen = new_log_lines(tail(3, 10), 0)
    assert (lines, seen) == (["l1", "l2", "l3"], 3)
    assert new_log_lines(tail(3, 10), 3) == ([], 3)
    assert new_log_lines(tail(5, 10), 3) == (["l4", "l5"], 5)


def test_tail_that_dropped_lines_gets_a_marker() -> None:
    lines, seen = new_log_lines(tail(20, 4), 3)
    assert lines == [skipped_marker(13), "l17", "l18", "l19", "l20"] and seen == 20
    assert "13" in lines[0]


def test_odd_tails() -> None:
    assert new_log_lines(None, 0) == ([], 0)
    assert new_log_lines({"lines": ["a", "b"]}, 1) == (["b"], 2)  # no totalLines: the list is the whole log
    assert new_log_lines({"totalLines": 1, "lines": ["a", "b"]}, 0) == (["a", "b"], 2)  # inconsistent total
    assert new_log_lines(tail(2, 10), 5) == ([], 5)  # log restarted shorter: nothing until it grows past


class FakeClient:
    """Answers get_future from a script: each item is a dict (returned) or an exception (raised)."""

    def __init__(self, peeks: list[Any], claim: Any) -> None:
        self.peeks = list(peeks)
        self.claim = claim
        self.calls: list[bool] = []
        self.aborted: list[str] = []

    async def get_future(self, job_id: str, peek: bool = False) -> dict:
        self.calls.append(peek)
        item = self.peeks.pop(0) if peek else self.claim
        if isinstance(item, Exception):
            raise item
        return item

    async def abort_future(self, job_id: str) -> None:
        self.aborted.append(job_id)


async def no_sleep(_: float) -> None:
    return None


def running(total: int, keep: int = 50, **extra: Any) -> dict:
    return {"jobId": "j", "alive": True, "hasResult": False, "log": tail(total, keep), "runningTime": total, **extra}


async def collect(client: FakeClient) -> list:
    return [event async for event in follow_future(client, "j", sleep=no_sleep)]


async def test_every_line_exactly_once_then_result() -> None:
    state = {"states": [{"name": "Updating", "cur": 1, "target": 2}]}
    client = FakeClient(
        [running(2, progress=state), running(2), running(6, keep=3),
         {"alive": False, "hasResult": True, "log": tail(8, 3)}],
        {"alive": False, "hasResult": True, "result": {"nbOKNodes": 1}, "log": tail(9, 3)},
    )
    events = await collect(client)
    lines = [line for e in events for line in e.new_lines]
    assert lines == ["l1", "l2", skipped_marker(1), "l4", "l5", "l6", "l7", "l8", "l9"]
    assert events[0].progress == state["states"]
    assert [e.done for e in events] == [False, False, False, True]
    assert events[-1].result == {"nbOKNodes": 1} and events[-1].error is None
    assert client.calls == [True, True, True, True, False]  # peeks, then one claim


async def test_job_failure_is_the_last_event_with_its_error() -> None:
    failure = DeployerError("node exploded", status=500, error_type="java.lang.RuntimeException",
                            body={"errorType": "java.lang.RuntimeException", "message": "node exploded",
                                  "logTail": tail(3, 10)})
    events = await collect(FakeClient([running(1), {"alive": False, "hasResult": True}], failure))
    assert events[-1].done and events[-1].error is failure
    assert [line for e in events for line in e.new_lines] == ["l1", "l2", "l3"]


async def test_aborted_job() -> None:
    events = await collect(FakeClient([running(1), {"alive": False, "aborted": True, "hasResult": False}], None))
    assert events[-1].done and events[-1].aborted and events[-1].result is None


async def test_claimed_elsewhere_after_finish_is_done() -> None:
    gone = DeployerError("No future by that id", status=400, error_type="java.lang.IllegalArgumentException")
    events = await collect(FakeClient([{"alive": False, "hasResult": True}], gone))
    assert events[-1].done and events[-1].error is None


async def test_gone_before_finish_is_an_error() -> None:
    gone = DeployerError("No future by that id", status=400)
    events = await collect(FakeClient([running(1), gone], None))
    assert not events[-1].done and events[-1].error is gone


async def test_connection_lost_ends_the_follow() -> None:
    lost = ConnectionLost("127.0.0.1:1", "connection refused")
    events = await collect(FakeClient([running(1), lost], None))
    assert isinstance(events[-1].error, ConnectionLost) and not events[-1].done


async def test_abort_tolerates_a_finished_job() -> None:
    client = FakeClient([], None)
    await abort(client, "j")
    assert client.aborted == ["j"]

    class Gone(FakeClient):
        async def abort_future(self, job_id: str) -> None:
            raise DeployerError("No future by that id", status=400)

    await abort(Gone([], None), "j")

    class Denied(FakeClient):
        async def abort_future(self, job_id: str) -> None:
            raise DeployerError("Insufficient rights to abort future", status=403)

    with pytest.raises(DeployerError, match="Insufficient"):
        await abort(Denied([], None), "j")


async def test_stopping_the_follow_does_not_abort_the_job() -> None:
    client = FakeClient([running(1), running(2), running(3)], None)
    follower = follow_future(client, "j", sleep=no_sleep)
    first = await follower.__anext__()
    await follower.aclose()
    assert first.new_lines == ["l1"] and client.aborted == [] and client.calls == [True]


async def test_polling_slows_down_when_nothing_changes_and_speeds_up_on_news() -> None:
    waits: list[float] = []

    async def record(delay: float) -> None:
        waits.append(delay)

    quiet = [running(1)] * 5 + [running(2)] + [{"alive": False, "hasResult": True, "log": tail(2, 9)}]
    client = FakeClient(quiet, {"hasResult": True, "result": 1})
    events = [e async for e in follow_future(client, "j", interval=0.1, max_interval=0.3, sleep=record)]
    assert events[-1].result == 1
    assert waits[0] == 0.1 and max(waits) == pytest.approx(0.3) and waits[-1] == 0.1
    assert waits[1:5] == sorted(waits[1:5])


# ---- outcomes from positive evidence ---------------------------------------------------------------------


def msg(severity: str) -> dict:
    return {"severity": severity, "message": severity.lower()}


@pytest.mark.parametrize(("result", "expected"), [
    ({"nbOKNodes": 2, "nbNOKNodes": 0}, "SUCCESS"),
    ({"nbOKNodes": 1, "nbNOKNodes": 1}, "WARNING"),
    ({"nbOKNodes": 0, "nbNOKNodes": 2}, "FAILED"),
    ({"messages": [msg("ERROR")], "maxSeverity": "ERROR"}, "FAILED"),  # failure told only by messages
    ({"messages": [msg("ERROR")]}, "FAILED"),
    ({"messages": [{"severity": "INFO", "isFatal": True}]}, "FAILED"),
    ({"maxSeverity": "WARNING", "messages": []}, "WARNING"),
    ({"messages": [msg("SUCCESS")], "maxSeverity": "SUCCESS"}, "SUCCESS"),
    ({"messages": [msg("INFO")], "maxSeverity": "INFO"}, "SUCCESS"),
    ({"success": True}, "SUCCESS"),
    ({"fatal": True}, "FAILED"),
    ({"messages": [], "anyMessage": False, "success": False}, None),  # says nothing
    ({}, None),
    (None, None),
    ("done", None),
])
def test_result_outcome_needs_positive_evidence(result: Any, expected: str | None) -> None:
    from deployer_tui.core.job_follower import result_outcome

    assert result_outcome(result) == expected


def test_outcome_of_the_last_event() -> None:
    from deployer_tui.core.job_follower import NOT_REPORTED, FutureEvent, outcome

    assert outcome(FutureEvent("j", False, True, False, result={})) == NOT_REPORTED
    assert outcome(FutureEvent("j", False, True, False, gone=True)) == NOT_REPORTED
    assert outcome(FutureEvent("j", False, True, True)) == "ABORTED"
    assert outcome(FutureEvent("j", False, True, False, error=DeployerError("x", status=500))) == "FAILED"
    assert outcome(FutureEvent("j", False, False, False, error=ConnectionLost("h", "refused"))) == "LOST"


async def test_a_peek_answering_the_jobs_error_ends_failed() -> None:
    failure = DeployerError("boom", status=500, body={"errorType": "java.lang.RuntimeException", "message": "boom"})
    events = [e async for e in follow_future(FakeClient([running(1), failure], None), "j", sleep=no_sleep,
                                             claim=False)]
    assert events[-1].done and events[-1].error is failure
    denied = DeployerError("no", status=403, body={"errorType": "x", "message": "no"})
    events = [e async for e in follow_future(FakeClient([running(1), denied], None), "j", sleep=no_sleep)]
    assert not events[-1].done and events[-1].error is denied  # could not ask: lost track, not failed
    rights = DeployerError("Insufficient rights to inspect future", status=500,
                           body={"errorType": "com.dataiku.dip.exceptions.DKUSecurityException"})
    events = [e async for e in follow_future(FakeClient([running(1), rights], None), "j", sleep=no_sleep)]
    assert not events[-1].done and events[-1].error is rights


async def test_peeks_without_a_log_switch_to_claims() -> None:
    quiet = {"jobId": "j", "alive": True, "hasResult": False}

    class Script(FakeClient):
        def __init__(self) -> None:
            super().__init__([quiet], None)
            self.claims = [running(2), {"alive": False, "hasResult": True, "result": {"maxSeverity": "INFO"},
                                        "log": tail(3, 9)}]

        async def get_future(self, job_id: str, peek: bool = False) -> dict:
            self.calls.append(peek)
            return self.peeks.pop(0) if peek else self.claims.pop(0)

    client = Script()
    events = await collect(client)
    assert client.calls == [True, False, False]
    assert [line for e in events for line in e.new_lines] == ["l1", "l2", "l3"]
    assert events[-1].done and events[-1].result == {"maxSeverity": "INFO"}


class Records:
    """A deployer's update records and statuses, for settle / find_running_update."""

    def __init__(self, records: list[dict], *, last_update: bool = True, futures: list | None = None) -> None:
        self.records = records
        self.last_update = last_update
        self.futures = futures or []
        self.futures_calls: list[bool] = []

    async def get_update(self, deployment_id: str, start_timestamp: int | None = None) -> dict:
        if start_timestamp is None:
            if not self.last_update:
                raise DeployerError("No such API route", status=404)
            return self.records[-1]
        return next(r for r in self.records if r["startTimestamp"] == start_timestamp)

    async def list_updates(self, deployment_id: str) -> list[dict]:
        return [{k: r[k] for k in ("startTimestamp", "type", "status")} for r in self.records]

    async def get_deployment_status(self, deployment_id: str) -> dict:
        return {"health": "HEALTHY", "apiNodes": [{"url": "http://n"}]}

    async def list_futures(self, all_users: bool = False) -> list[dict]:
        self.futures_calls.append(all_users)
        if all_users:
            raise DeployerError("Only administrators", status=403)
        return self.futures


def record(ts: int, status: str) -> dict:
    return {"startTimestamp": ts, "type": "UPDATE", "status": status, "logs": {"lines": []}}


async def test_settle_reads_the_record_when_the_result_tells_nothing() -> None:
    from deployer_tui.core.job_follower import NOT_REPORTED, FutureEvent, settle

    client = Records([record(1, "FAILED"), record(2000, "SUCCESS")], last_update=False)
    done = FutureEvent("j", False, True, False, result={}, start_time=2000)
    settled = await settle(client, "d", done)
    assert (settled.state, settled.evidence, settled.health) == ("SUCCESS", "record", "HEALTHY")
    gone = await settle(client, "d", FutureEvent("j", False, True, False, gone=True, start_time=2000))
    assert gone.state == "SUCCESS" and gone.record["startTimestamp"] == 2000
    # A record older than the job is another update's: no evidence.
    stale = await settle(Records([record(1, "SUCCESS")]), "d", FutureEvent("j", False, True, False, start_time=10**9))
    assert stale.state == NOT_REPORTED and stale.text == "finished, outcome not reported"
    running = await settle(Records([record(5, "RUNNING")]), "d", FutureEvent("j", False, True, False, start_time=5))
    assert running.state == NOT_REPORTED


async def test_find_running_update_from_futures_then_records() -> None:
    from deployer_tui.core.job_follower import find_running_update

    listed = [{"jobId": "other", "alive": True, "payload": {"targets": [{"objectId": "x"}]}},
              {"jobId": "mine", "alive": True,
               "payload": {"targets": [{"objectType": "API_DEPLOYER_DEPLOYMENT", "objectId": "d"}]}}]
    client = Records([record(1, "SUCCESS")], futures=listed)
    found = await find_running_update(client, "d")
    assert found is not None and (found.job_id, found.source) == ("mine", "futures")
    assert client.futures_calls == [True, False]  # everyone's refused: its own
    by_record = await find_running_update(Records([record(7, "RUNNING")], last_update=False), "d")
    assert by_record is not None and (by_record.start_timestamp, by_record.source) == (7, "record")
    assert await find_running_update(Records([record(7, "SUCCESS")]), "d") is None


def test_node_progress_from_our_log_lines_only() -> None:
    from deployer_tui.core.job_follower import NodeProgress, parse_node_line

    assert parse_node_line("[t] [INFO] [http://n:1] imported version v1") == ("http://n:1", "working",
                                                                              "imported version v1")
    progress = NodeProgress()
    progress.add(["[t] [INFO] Updating deployment d", "[t] [INFO] API node http://n:1: imported version v1"])
    assert not progress.reported and progress.state("http://n:1") == "not reported"
    progress.add(["[t] [INFO] [http://n:1] imported", "[t] [SUCCESS] [http://n:1] node is up to date",
                  "[t] [ERROR] [http://n:2/] failed while connecting", "[t] [INFO] [http://n:1] set alive"])
    assert progress.reported
    assert [progress.state(u) for u in ("http://n:1", "http://n:2", "http://n:3")] == ["ok", "failed", "waiting"]
