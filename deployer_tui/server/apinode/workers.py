"""The node's handle on one worker process: spawn it, send it a query, kill it.

A worker is `python -c BOOT` with the endpoint spec as its first frame; it runs in its own
session (a Ctrl-C at the terminal reaches the node, which then stops its workers) and dies with
the node. Its stderr, where endpoint code's prints and tracebacks go, is appended to a log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import deployer_tui
from deployer_tui.server.apinode.frames import HEADER, MAX_FRAME, encode

ROOT = str(Path(deployer_tui.__file__).resolve().parent.parent)
SHIM_DIR = str(Path(__file__).resolve().parent / "shim")
BOOT = (
    f"import sys; sys.path.insert(0, {ROOT!r}); "
    "import deployer_tui.server.apinode.worker_main as m, deployer_tui.server.apinode.endpoint_code; "
    f"sys.path.remove({ROOT!r}); m.main()"
)


# A service's worker log is rotated (one old copy kept) when a worker starts and it is larger than this.
LOG_ROTATE_BYTES = 10 * 1024 * 1024


def rotate_log(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


# Workers behave the same whatever the node was started with: buffering is set by worker_main itself.
WORKER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


class WorkerDied(Exception):
    """The worker process ended (crashed, was killed, or closed its pipe) while we waited for it."""


class WorkerLoadError(Exception):
    """The endpoint could not be loaded in a fresh worker; `trace` holds the Python traceback."""

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace


class Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.busy = False
        self.idle_since = 0.0

    @classmethod
    async def spawn(cls, spec: dict[str, Any], cwd: Path, log_path: Path, load_timeout: float) -> Worker:
        rotate_log(log_path)
        with open(log_path, "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", BOOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
                cwd=str(cwd), start_new_session=True, env=WORKER_ENV,
            )
        worker = cls(proc)
        try:
            worker._write(spec)
            hello = await asyncio.wait_for(worker._read(), load_timeout)
        except asyncio.TimeoutError:
            worker.kill()
            raise WorkerLoadError(f"the endpoint code did not load within {load_timeout:g} s") from None
        except WorkerDied as exc:
            worker.kill()
            raise WorkerLoadError(f"the worker process exited while loading the endpoint code ({exc})") from None
        except BaseException:
            worker.kill()
            raise
        if not hello.get("ready"):
            worker.kill()
            raise WorkerLoadError(hello.get("error") or "the endpoint code failed to load", hello.get("trace", ""))
        return worker

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def _write(self, message: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(encode(message))
        except (ConnectionError, RuntimeError) as exc:
            raise WorkerDied(self._exit_text()) from exc

    async def _read(self) -> Any:
        assert self.proc.stdout is not None
        try:
            header = await self.proc.stdout.readexactly(HEADER.size)
            (size,) = HEADER.unpack(header)
            if size > MAX_FRAME:
                self.kill()
                raise WorkerDied(f"it sent a reply of {size} bytes, more than {MAX_FRAME}")
            payload = await self.proc.stdout.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 2)
            raise WorkerDied(self._exit_text()) from exc
        return json.loads(payload)

    async def call(self, message: Any) -> dict[str, Any]:
        """One query; raises WorkerDied when the process ends before answering."""
        self._write(message)
        return await self._read()

    def _exit_text(self) -> str:
        code = self.proc.returncode
        if code is None:
            return "its pipe closed"
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def kill(self) -> None:
        """SIGKILL the worker's whole session (endpoint code may have started children)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        if self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()

    async def stop(self, grace: float = 1.0) -> None:
        """Close its stdin (a clean exit once idle), then kill it if it lingers."""
        if self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except asyncio.TimeoutError:
            self.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 2)
