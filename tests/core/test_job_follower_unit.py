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
