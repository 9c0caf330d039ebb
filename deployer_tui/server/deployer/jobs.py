"""Futures (docs/protocol.md, "Futures"): long-running jobs the client polls with ``GET /futures/{id}``.

Jobs live in memory — a running job dies with the process; what must survive (the update
record and its log) is persisted by the job itself. A finished job stays claimable for
``GRACE_S`` (10 minutes) rather than disappearing on the first non-peek read, which the
client cannot tell apart from DSS and which forgives callers that read twice (INFERRED safe,
see docs/deployer.md). An aborted job is answered once with ``aborted: true`` and then forgotten,
so that ``wait_for_result()`` ends with DSS's "No future by that id" instead of polling forever.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from deployer_tui.server.http import DSSHTTPError, error_body

GRACE_S = 600.0
_ALPHABET = string.ascii_letters + string.digits
LEVEL_NAMES = {0: "DEBUG", 1: "INFO", 2: "WARNING", 3: "ERROR", 4: "SUCCESS"}


def _ms() -> int:
    return int(time.time() * 1000)


def log_line(level: int, message: str) -> str:
    """A job log line as DSS writes them: `[<local time>] [<LEVEL>] message`."""
    stamp = time.strftime("%Y/%m/%d-%H:%M:%S", time.localtime()) + f".{_ms() % 1000:03d}"
    return f"[{stamp}] [{LEVEL_NAMES.get(level, 'INFO')}] {message}"


class JobFailed(Exception):
    """Raised by a job to fail with a DSS-shaped error (the future's GET answers with it)."""

    def __init__(self, message: str, error_type: str = "com.dataiku.dip.exceptions.DKUException") -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class Job:
    job_id: str
    display_name: str
    owner: str
    payload: dict[str, Any]
    start: int = field(default_factory=_ms)
    end: int | None = None
    lines: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    aborted: bool = False
    abort_reason: str = ""
    task: asyncio.Task | None = None
    finished_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.end is None

    def log(self, level: int, message: str) -> str:
        line = log_line(level, message)
        self.lines.append(line)
        self.levels.append(level)
        return line

    def set_progress(self, name: str, cur: float, target: float) -> None:
        self.progress = {"name": name, "unit": "NONE", "cur": cur, "target": target, "important": True,
                         "depth": 0, "msSinceStart": _ms() - self.start}

    def log_tail(self) -> dict[str, Any]:
        return {"totalLines": len(self.lines), "lines": list(self.lines), "status": list(self.levels),
                "maxLevel": max(self.levels, default=0)}

    def response(self, *, peek: bool) -> dict[str, Any]:
        done = not self.alive
        body: dict[str, Any] = {
            "jobId": self.job_id,
            "hasResult": done and not self.aborted and self.error is None,
            "alive": self.alive,
            "aborted": self.aborted,
            "unknown": False,
            "startTime": self.start,
            "runningTime": (self.end or _ms()) - self.start,
            "jobDisplayName": self.display_name,
            "payload": self.payload,
            "progress": {"states": [self.progress] if self.progress and self.alive else []},
            "log": self.log_tail(),
            "owner": self.owner,
        }
        if peek:
            body["hasResult"] = done
        elif body["hasResult"]:
            body["result"] = self.result
        return body


class FutureRegistry:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def start(self, display_name: str, owner: str, payload: dict[str, Any],
              run: Callable[[Job], Awaitable[Any]]) -> Job:
        self._expire()
        job_id = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        job = Job(job_id, display_name, owner, payload)
        self.jobs[job_id] = job

        async def runner() -> None:
            try:
                job.result = await run(job)
            except asyncio.CancelledError:
                job.aborted = True
            except JobFailed as exc:
                job.error = error_body(exc.error_type, str(exc))
            except Exception as exc:  # a bug must fail the job, not leave it alive forever
                job.error = error_body("java.lang.RuntimeException", f"{type(exc).__name__}: {exc}")
            finally:
                job.end = _ms()
                job.finished_at = time.monotonic()

        job.task = asyncio.create_task(runner())
        # A task cancelled before its first step never enters runner(): still end the job.
        job.task.add_done_callback(lambda _t: self._ended(job))
        return job

    @staticmethod
    def _ended(job: Job) -> None:
        if job.end is None:
            job.aborted = True
            job.end = _ms()
            job.finished_at = time.monotonic()

    def _expire(self) -> None:
        limit = time.monotonic() - GRACE_S
        for job_id in [j.job_id for j in self.jobs.values() if j.finished_at and j.finished_at < limit]:
            self.jobs.pop(job_id, None)

    def get(self, job_id: str) -> Job:
        self._expire()
        job = self.jobs.get(job_id)
        if job is None:
            raise DSSHTTPError(400, "No future by that id")
        return job

    def read(self, job: Job, *, peek: bool) -> tuple[int, dict[str, Any]]:
        """The (status, body) of a GET: a failed job answers with its error once finished."""
        if not peek and not job.alive:
            if job.aborted:
                self.jobs.pop(job.job_id, None)
            elif job.error is not None:
                return 500, job.error
        return 200, job.response(peek=peek)

    async def abort(self, job: Job, reason: str) -> None:
        if job.task is not None and job.alive:
            job.abort_reason = reason
            job.task.cancel()
            # Wait for the job's own cleanup (it records ABORTED) before answering.
            await asyncio.wait([job.task], timeout=10)

    def running(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.alive]

    async def shutdown(self) -> None:
        jobs = [j for j in self.jobs.values() if j.task is not None and not j.task.done()]
        tasks = [j.task for j in jobs if j.task is not None]
        for job in jobs:
            job.abort_reason = "aborted because the deployer stopped"
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
