"""Following a long-running job (a DSS "future", protocol.md §3) with progress and incremental logs.

Each poll peeks at the future (`peek=True`: progress and log, nothing claimed). Once the job is no longer
alive, one non-peek GET claims its result — or its error, which DSS returns as the error body of that GET.

The log is a SmartLogTail `{totalLines, lines[], status[]}` whose `lines` may hold only the last N lines of
the `totalLines` written so far; `totalLines` tells how many lines are new since the previous poll, so each
line is yielded exactly once. When more lines were written between two polls than the tail holds, a marker
line says how many were skipped rather than silently losing them.

Servers differ in what happens after a claim: DSS forgets the job, ours keeps it for a while. "No future by
that id" after the job was seen finished therefore means done, not failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from deployer_tui.core.errors import DeployerError


@dataclass
class FutureEvent:
    """What one poll learned about a job."""

    job_id: str
    alive: bool
    done: bool
    aborted: bool
    progress: list[dict] = field(default_factory=list)
    new_lines: list[str] = field(default_factory=list)
    elapsed_ms: int = 0
    result: Any | None = None
    error: DeployerError | None = None


def skipped_marker(count: int) -> str:
    return f"[… {count} log line{'s' if count != 1 else ''} not kept by the server …]"


def new_log_lines(log: Any, seen: int) -> tuple[list[str], int]:
    """The lines of a SmartLogTail not yielded yet, given `seen` lines already yielded; returns (lines, new seen).

    `lines` are the last len(lines) of `totalLines` lines. A tail without `totalLines` is taken as complete.
    A total smaller than `seen` (a server that restarted the log) yields nothing until it grows past `seen`.
    """
    if not isinstance(log, dict):
        return [], seen
    lines = [str(line) for line in (log.get("lines") or [])]
    total = log.get("totalLines")
    if not isinstance(total, int) or total < len(lines):
        total = len(lines)
    fresh = total - seen
    if fresh <= 0:
        return [], seen
    if fresh > len(lines):
        return [skipped_marker(fresh - len(lines)), *lines], total
    return lines[len(lines) - fresh :], total


def _is_gone(err: DeployerError) -> bool:
    return err.status in (400, 404) and "no future" in (err.message or "").lower()


def _states(state: dict) -> list[dict]:
    progress = state.get("progress")
    states = progress.get("states") if isinstance(progress, dict) else None
    return [s for s in states if isinstance(s, dict)] if isinstance(states, list) else []


async def follow_future(
    client: Any, job_id: str, *, interval: float = 0.25, max_interval: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, claim: bool = True,
) -> AsyncIterator[FutureEvent]:
    """Poll a future until it is done, aborted or failing; yield one FutureEvent per poll.

    The last event has `done=True` (with `result`, or with `aborted`, or with the job's `error`), or has
    `error` set to why following it stopped (e.g. ConnectionLost when the deployer went away).
    Polling speeds back up to `interval` whenever something new shows, and slows down to `max_interval`.
    Cancel (or `aclose()`) the iterator to stop following; that does not abort the job (see `abort`).

    `claim=False` follows someone else's future (another session, a CI script) without taking its
    result: a non-peek GET of a finished future hands the result over and DSS then forgets the job, so
    its owner's `wait_for_result()` would fail. The last event is then `done` with no result; the
    outcome is in the deployment's update record.
    """
    seen = 0
    started = time.monotonic()
    wait = interval
    progress: list[dict] = []
    saw_finished = False
    signature: Any = None

    def elapsed(state: dict | None) -> int:
        running = state.get("runningTime") if isinstance(state, dict) else None
        return int(running) if isinstance(running, (int, float)) else int((time.monotonic() - started) * 1000)

    while True:
        try:
            state = await client.get_future(job_id, peek=True)
        except DeployerError as err:
            if saw_finished and _is_gone(err):
                yield FutureEvent(job_id, False, True, False, progress, [], elapsed(None))
                return
            yield FutureEvent(job_id, False, False, False, progress, [], elapsed(None), error=err)
            return
        state = state if isinstance(state, dict) else {}
        lines, seen = new_log_lines(state.get("log"), seen)
        progress = _states(state)
        alive = bool(state.get("alive", not state.get("hasResult")))
        aborted = bool(state.get("aborted"))
        if aborted:
            yield FutureEvent(job_id, False, True, True, progress, lines, elapsed(state))
            return
        if alive and not state.get("hasResult"):
            yield FutureEvent(job_id, True, False, False, progress, lines, elapsed(state))
            now = (len(lines), repr(progress))
            wait = interval if lines or now != signature else min(wait * 1.5, max_interval)
            signature = now
            await sleep(wait)
            continue

        # Finished: claim the result (or the job's error) with a non-peek GET.
        saw_finished = True
        if not claim:
            yield FutureEvent(job_id, False, True, False, progress, lines, elapsed(state))
            return
        try:
            final = await client.get_future(job_id, peek=False)
        except DeployerError as err:
            if _is_gone(err):
                yield FutureEvent(job_id, False, True, False, progress, lines, elapsed(state))
                return
            tail = err.body.get("logTail") if isinstance(err.body, dict) else None
            more, seen = new_log_lines(tail, seen)
            yield FutureEvent(job_id, False, True, False, progress, lines + more, elapsed(state), error=err)
            return
        final = final if isinstance(final, dict) else {}
        more, seen = new_log_lines(final.get("log"), seen)
        yield FutureEvent(
            job_id, False, True, bool(final.get("aborted")), _states(final) or progress, lines + more,
            elapsed(final or state), result=final.get("result"),
        )
        return


async def abort(client: Any, job_id: str) -> None:
    """Ask the server to abort a job. A job already gone is not an error."""
    try:
        await client.abort_future(job_id)
    except DeployerError as err:
        if not _is_gone(err):
            raise
