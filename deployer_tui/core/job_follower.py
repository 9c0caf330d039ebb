"""Following a long-running job (a DSS "future", docs/protocol.md, "Futures") with progress and incremental logs.

Each poll peeks at the future (`peek=True`: progress and log, nothing claimed). Once the job is no longer
alive, one non-peek GET claims its result — or its error, which DSS returns as the error body of that GET.

The log is a SmartLogTail `{totalLines, lines[], status[]}` whose `lines` may hold only the last N lines of
the `totalLines` written so far; `totalLines` tells how many lines are new since the previous poll, so each
line is yielded exactly once. When more lines were written between two polls than the tail holds, a marker
line says how many were skipped rather than silently losing them.

Servers differ in what happens after a claim: DSS forgets the job, ours keeps it for a while. "No future by
that id" after the job was seen finished therefore means done (`gone`), not failure: the outcome is then the
one the deployment's update record says (`settle`). A peek that answers with an error body is the job's own
failure (a deployer may answer a peek of a failed job as it answers the claim). A deployer whose peeks carry
no log (DSS documents none there) is polled the way the official client polls it, with claims, so that its
log still shows while the job runs.

What the console may say about a finished update comes from positive evidence only (`result_outcome`,
`settle`): node counts when the deployer sends them, else the InfoMessages of the result, else the
deployment's update record; when nothing tells, the outcome is NOT_REPORTED ("finished, outcome not
reported").
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout


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
    gone: bool = False  # finished, then "no future by that id": claimed by someone else, result unknown
    start_time: int | None = None  # the job's startTime (epoch ms) when the deployer said it


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


def _is_job_error(err: DeployerError) -> bool:
    """Whether an error answer to a future's GET is the job's own failure (not "cannot ask")."""
    if isinstance(err, (ConnectionLost, RequestTimeout)) or _is_gone(err):
        return False
    if "insufficient rights" in (err.message or "").lower():
        return False  # DSS answers a refused look at a future with a 500 too
    return err.status not in (None, 401, 403, 404, 405) and isinstance(err.body, dict) and "errorType" in err.body


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
    outcome is in the deployment's update record (see `settle`), as it is for a `gone` event.
    """
    seen = 0
    started = time.monotonic()
    wait = interval
    progress: list[dict] = []
    saw_finished = False
    signature: Any = None
    peek = True  # False once a deployer showed peeks without a log (only for our own futures)
    start_time: int | None = None

    def elapsed(state: dict | None) -> int:
        running = state.get("runningTime") if isinstance(state, dict) else None
        return int(running) if isinstance(running, (int, float)) else int((time.monotonic() - started) * 1000)

    def event(alive: bool, done: bool, aborted: bool, lines: list[str], state: dict | None, **kw: Any) -> FutureEvent:
        return FutureEvent(job_id, alive, done, aborted, progress, lines, elapsed(state), start_time=start_time, **kw)

    def error_lines(err: DeployerError) -> list[str]:
        nonlocal seen
        tail = err.body.get("logTail") if isinstance(err.body, dict) else None
        more, seen = new_log_lines(tail, seen)
        return more

    while True:
        try:
            state = await client.get_future(job_id, peek=peek)
        except DeployerError as err:
            if _is_gone(err) and (saw_finished or not peek):
                # Seen finished (or polled by claims, which would have taken it): claimed elsewhere.
                yield event(False, True, False, [], None, gone=True)
                return
            if not _is_gone(err) and _is_job_error(err):
                yield event(False, True, False, error_lines(err), None, error=err)
                return
            yield event(False, False, False, [], None, error=err)
            return
        state = state if isinstance(state, dict) else {}
        if isinstance(state.get("startTime"), int):
            start_time = state["startTime"]
        if peek and claim and "log" not in state:
            peek = False  # its peeks say nothing of the log; its claims of a running job do
        lines, seen = new_log_lines(state.get("log"), seen)
        progress = _states(state)
        alive = bool(state.get("alive", not state.get("hasResult")))
        aborted = bool(state.get("aborted"))
        if aborted:
            yield event(False, True, True, lines, state)
            return
        if alive and not state.get("hasResult"):
            yield event(True, False, False, lines, state)
            now = (len(lines), repr(progress))
            wait = interval if lines or now != signature else min(wait * 1.5, max_interval)
            signature = now
            await sleep(wait)
            continue
        if not state.get("alive", False) and "result" in state:
            # A claim (a non-peek poll) that found it finished: this is the result.
            yield event(False, True, False, lines, state, result=state.get("result"))
            return

        # Finished: claim the result (or the job's error) with a non-peek GET.
        saw_finished = True
        if not claim:
            yield event(False, True, False, lines, state)
            return
        try:
            final = await client.get_future(job_id, peek=False)
        except DeployerError as err:
            if _is_gone(err):
                yield event(False, True, False, lines, state, gone=True)
                return
            yield event(False, True, False, lines + error_lines(err), state, error=err)
            return
        final = final if isinstance(final, dict) else {}
        more, seen = new_log_lines(final.get("log"), seen)
        progress = _states(final) or progress
        yield event(False, True, bool(final.get("aborted")), lines + more, final or state, result=final.get("result"))
        return


async def abort(client: Any, job_id: str) -> None:
    """Ask the server to abort a job. A job already gone is not an error."""
    try:
        await client.abort_future(job_id)
    except DeployerError as err:
        if not _is_gone(err):
            raise


# ---- outcomes from positive evidence ----------------------------------------------------------------------

NOT_REPORTED = "NOT_REPORTED"
NOT_REPORTED_TEXT = "finished, outcome not reported"
RECORD_OUTCOMES = ("SUCCESS", "WARNING", "FAILED", "ABORTED")
_GOOD_SEVERITIES = ("INFO", "SUCCESS")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def result_outcome(result: Any) -> str | None:
    """SUCCESS / WARNING / FAILED from what an update result says, or None when it says nothing.

    Evidence read, in order: node counts (the local deployer's `nbOKNodes`/`nbNOKNodes`), then the
    InfoMessages: `fatal`/`error`/`warning`/`success` flags, the messages' severities, `maxSeverity`.
    SUCCESS needs something positive: counts with no failed node, `success: true`, or a `maxSeverity`
    of INFO or SUCCESS with no error or warning message. An empty result is no evidence.
    """
    if not isinstance(result, dict):
        return None
    ok, nok = _count(result.get("nbOKNodes")), _count(result.get("nbNOKNodes"))
    messages = result.get("messages") if isinstance(result.get("messages"), list) else []
    severities = {str(m.get("severity") or "").upper() for m in messages if isinstance(m, dict)}
    if any(isinstance(m, dict) and m.get("isFatal") for m in messages):
        severities.add("FATAL")
    top = str(result.get("maxSeverity") or "").upper()
    if nok is not None and nok > 0:
        return "WARNING" if ok else "FAILED"
    if result.get("fatal") is True or result.get("error") is True or severities & {"FATAL", "ERROR"} \
            or top in ("FATAL", "ERROR"):
        return "FAILED"
    if result.get("warning") is True or "WARNING" in severities or top == "WARNING":
        return "WARNING"
    if (ok is not None and ok > 0 and nok == 0) or result.get("success") is True or top in _GOOD_SEVERITIES:
        return "SUCCESS"
    return None


def record_outcome(record: Any) -> str | None:
    """The outcome an update record states (its `status`), when it is a final one we know."""
    status = str(record.get("status") or "").upper() if isinstance(record, dict) else ""
    return status if status in RECORD_OUTCOMES else None


def outcome(event: FutureEvent) -> str:
    """The outcome the last event alone tells: ABORTED, FAILED, LOST, a result's, or NOT_REPORTED."""
    if event.aborted:
        return "ABORTED"
    if event.error is not None:
        return "FAILED" if event.done else "LOST"
    if not event.done:
        return "LOST"
    return result_outcome(event.result) or NOT_REPORTED


async def last_update_record(client: Any, deployment_id: str) -> dict | None:
    """The deployment's last update record with its logs: `last-update`, else the newest item of the
    update list read by its start timestamp (a deployer without `last-update`), else None."""
    try:
        record = await client.get_update(deployment_id)
        return record if isinstance(record, dict) else None
    except DeployerError as err:
        if err.status not in (404, 405):
            raise
    try:
        items = await client.list_updates(deployment_id)
    except DeployerError as err:
        if err.status in (404, 405):
            return None
        raise
    stamps = [i["startTimestamp"] for i in items if isinstance(i, dict) and _count(i.get("startTimestamp"))]
    if not stamps:
        return None
    try:
        record = await client.get_update(deployment_id, max(stamps))
    except DeployerError as err:
        if err.status in (404, 405):
            # Only the list item is there: its status is still evidence.
            return next(i for i in items if isinstance(i, dict) and i.get("startTimestamp") == max(stamps))
        raise
    return record if isinstance(record, dict) else None


@dataclass
class Settled:
    """How a followed update ended, as far as the deployer tells.

    `state`: SUCCESS, WARNING, FAILED, ABORTED, LOST or NOT_REPORTED; `evidence` says what told it
    ("result", "record", "error", "aborted", "none"); `record` and `health` are re-read from the deployer
    once the job finished (None when it could not tell).
    """

    state: str
    evidence: str
    result: Any = None
    error: DeployerError | None = None
    record: dict | None = None
    health: str | None = None
    status: dict | None = None  # the heavy status `health` was read from, for whoever shows it next

    @property
    def text(self) -> str:
        return NOT_REPORTED_TEXT if self.state == NOT_REPORTED else self.state


async def settle(client: Any, deployment_id: str | None, event: FutureEvent) -> Settled:
    """The outcome of an update from its last event, completed by the deployment's last update record and
    health (re-read once the job finished): a claim answered "no such future", or a result that tells
    nothing, gets the record's status; else NOT_REPORTED."""
    if event.aborted:
        settled = Settled("ABORTED", "aborted", event.result)
    elif event.error is not None:
        settled = Settled("FAILED" if event.done else "LOST", "error", error=event.error)
    elif not event.done:
        return Settled("LOST", "none")
    else:
        state = result_outcome(event.result)
        settled = Settled(state or NOT_REPORTED, "result" if state else "none", event.result)
    if deployment_id is None or settled.state == "LOST":
        return settled
    try:
        record = await last_update_record(client, deployment_id)
    except DeployerError:
        record = None
    if record is not None and _of_this_job(record, event.start_time):
        settled.record = record
        told = record_outcome(record)
        if told is not None and settled.evidence == "none":
            settled.state, settled.evidence = told, "record"
        elif told == "WARNING" and settled.state == "FAILED" and settled.evidence == "result":
            settled.state = "WARNING"  # the messages name failed nodes; the record says some were fine
    try:
        status = await client.get_deployment_status(deployment_id)
        settled.health = str(status.get("health")) if isinstance(status, dict) and status.get("health") else None
        settled.status = status if isinstance(status, dict) else None
    except DeployerError:
        settled.health = None
    return settled


def _of_this_job(record: dict, start_time: int | None) -> bool:
    """Whether an update record may be the one of a job started at `start_time` (clocks may differ a bit)."""
    stamp = _count(record.get("startTimestamp"))
    return start_time is None or stamp is None or stamp >= start_time - 60_000


# ---- per-node progress ------------------------------------------------------------------------------------

# "[stamp] [LEVEL] [http://node:port] message": the local deployer's way of naming the node a line is about.
NODE_LINE = re.compile(r"\[(?P<url>https?://[^\]\s]+)\]\s*(?P<message>.*)$")
NO_NODE_PROGRESS = "this deployer does not report per-node progress"
_ERROR_LEVEL = re.compile(r"\[(ERROR|FATAL)\]")


def parse_node_line(line: str) -> tuple[str, str, str] | None:
    """(node url, state, message) of a per-node log line; state is working, ok or failed. None otherwise."""
    found = NODE_LINE.search(line)
    if found is None:
        return None
    if _ERROR_LEVEL.search(line):
        state = "failed"
    elif "[SUCCESS]" in line:
        state = "ok"
    else:
        state = "working"
    return found.group("url").rstrip("/"), state, found.group("message").strip()


@dataclass
class NodeProgress:
    """Per-node state read from an update's log lines. `reported` stays False while no line names a node:
    the screen then says NO_NODE_PROGRESS rather than "waiting" for every node."""

    nodes: dict[str, tuple[str, str]] = field(default_factory=dict)  # url -> (state, last message)
    reported: bool = False

    def add(self, lines: list[str]) -> None:
        for line in lines:
            parsed = parse_node_line(line)
            if parsed is None:
                continue
            url, state, message = parsed
            self.reported = True
            previous = self.nodes.get(url, ("waiting", ""))[0]
            if previous in ("ok", "failed") and state == "working":
                state = previous
            self.nodes[url] = (state, message)

    def state(self, url: str) -> str:
        """waiting, working, ok or failed; "not reported" when this deployer reports no node."""
        if not self.reported:
            return "not reported"
        return self.nodes.get(url.rstrip("/"), ("waiting", ""))[0]


# ---- an update already running ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningUpdate:
    """An update of a deployment that is running now: its future (`job_id`), when a futures list names it,
    else its update record (`start_timestamp`, follow it with follow_update_record)."""

    deployment_id: str
    job_id: str | None = None
    start_timestamp: int | None = None
    source: str = "futures"  # "futures" | "record"


def _names_deployment(future: dict, deployment_id: str) -> bool:
    """Whether a listed future is an update of `deployment_id`, from the FuturePayload's targets."""
    payload = future.get("payload")
    targets = payload.get("targets") if isinstance(payload, dict) else None
    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict) and target.get("objectId") == deployment_id and \
                target.get("objectType") in (None, "API_DEPLOYER_DEPLOYMENT"):
            return True
    return False


async def find_running_update(client: Any, deployment_id: str) -> RunningUpdate | None:
    """The running update of a deployment, if any: a listed future whose payload targets it (everyone's
    futures when the key may list them, else its own), else the last update record when its status is
    RUNNING. None when neither shows one."""
    listed: Any = []
    for all_users in (True, False):
        try:
            listed = await client.list_futures(all_users=all_users)
            break
        except DeployerError:
            continue
    for future in listed if isinstance(listed, list) else []:
        if isinstance(future, dict) and future.get("jobId") and future.get("alive", True) \
                and _names_deployment(future, deployment_id):
            return RunningUpdate(deployment_id, job_id=str(future["jobId"]))
    try:
        record = await last_update_record(client, deployment_id)
    except DeployerError:
        return None
    if isinstance(record, dict) and str(record.get("status") or "").upper() == "RUNNING":
        return RunningUpdate(deployment_id, start_timestamp=_count(record.get("startTimestamp")), source="record")
    return None


@dataclass
class Started:
    """What `start_or_follow` found: the update it started (`response`), or the one already running
    (`running`), or the deployer's refusal as it said it (`error`)."""

    response: dict | None = None
    running: RunningUpdate | None = None
    error: DeployerError | None = None


async def start_or_follow(client: Any, deployment_id: str, reason: str | None = None) -> Started:
    """Start an update; on a refusal (whatever its HTTP status: DSS has no 409), look for the update that
    is already running and hand it back to follow, else the refusal itself. `reason`: see
    DeployerClient.start_update."""
    try:
        response = await (client.start_update(deployment_id, reason=reason) if reason
                          else client.start_update(deployment_id))
    except (ConnectionLost, RequestTimeout) as err:
        return Started(error=err)
    except DeployerError as err:
        running = await find_running_update(client, deployment_id)
        return Started(running=running, error=None if running else err)
    return Started(response=response if isinstance(response, dict) else {})


async def follow_update_record(
    client: Any, deployment_id: str, start_timestamp: int | None, *, interval: float = 0.5,
    max_interval: float = 2.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[FutureEvent]:
    """Follow an update through its record (no future to poll): new log lines until its status is final.
    The last event is done, with the record as `result` (see record_outcome), or has the error."""
    seen = 0
    wait = interval
    started = time.monotonic()
    while True:
        try:
            if start_timestamp is None:
                record = await last_update_record(client, deployment_id)
            else:
                record = await client.get_update(deployment_id, start_timestamp)
        except DeployerError as err:
            yield FutureEvent("", False, False, False, [], [], int((time.monotonic() - started) * 1000), error=err)
            return
        record = record if isinstance(record, dict) else {}
        lines, seen = new_log_lines(record.get("logs"), seen)
        ms = int((time.monotonic() - started) * 1000)
        if str(record.get("status") or "").upper() != "RUNNING":
            yield FutureEvent("", False, True, record_outcome(record) == "ABORTED", [], lines, ms,
                              result=record, start_time=_count(record.get("startTimestamp")))
            return
        yield FutureEvent("", True, False, False, [], lines, ms)
        wait = interval if lines else min(wait * 1.5, max_interval)
        await sleep(wait)
