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
import subprocess
import sys
from collections import deque
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


class _Pipes(asyncio.SubprocessProtocol):
    """Cuts the worker's stdout into frames and hands each to the call waiting for it.

    A protocol rather than StreamReader: a reply arrives in one chunk and resolves one future, which
    is the whole per-query cost on this side of the pipe.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.pending: deque[bytes] = deque()
        self.lost = False
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        if fd != 1:
            return
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if size > MAX_FRAME:
                self.buffer.clear()
                self._lose(WorkerDied(f"it sent a reply of {size} bytes, more than {MAX_FRAME}"))
                return
            end = HEADER.size + size
            if len(self.buffer) < end:
                return
            frame = bytes(self.buffer[HEADER.size:end])
            del self.buffer[:end]
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(frame)
                self.waiter = None
            else:
                self.pending.append(frame)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._lose(None)

    def process_exited(self) -> None:
        self._lose(None)
        if not self.exited.done():
            self.exited.set_result(None)

    def _lose(self, error: WorkerDied | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error or _Gone())
            self.waiter = None

    def expire(self, future: asyncio.Future[bytes]) -> None:
        if not future.done():
            future.set_exception(asyncio.TimeoutError())
        if self.waiter is future:
            self.waiter = None

    def next_frame(self) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        if self.pending:
            future.set_result(self.pending.popleft())
        elif self.lost:
            future.set_exception(_Gone())
        else:
            self.waiter = future
        return future


class _Gone(Exception):
    """The worker's stdout closed or the process exited; the exit status says why."""


class Worker:
    def __init__(self, transport: asyncio.SubprocessTransport, pipes: _Pipes) -> None:
        self.transport = transport
        self.pipes = pipes
        self.stdin = transport.get_pipe_transport(0)
        self.idle_since = 0.0

    @classmethod
    async def spawn(cls, spec: dict[str, Any], cwd: Path, log_path: Path, load_timeout: float) -> Worker:
        rotate_log(log_path)
        loop = asyncio.get_running_loop()
        with open(log_path, "ab") as log:
            transport, pipes = await loop.subprocess_exec(
                _Pipes, sys.executable, "-c", BOOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=str(cwd), start_new_session=True, env=WORKER_ENV,
            )
        worker = cls(transport, pipes)  # type: ignore[arg-type]
        try:
            hello = await asyncio.wait_for(worker.call(spec), load_timeout)
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
        return not self.pipes.lost and self.transport.get_returncode() is None

    async def call(self, message: Any, timeout: float | None = None) -> dict[str, Any]:
        """One query; raises WorkerDied when the process ends before answering, TimeoutError past `timeout`
        (the worker is then in an unknown state: the caller kills it)."""
        if self.stdin is None or self.stdin.is_closing():
            raise WorkerDied(self._exit_text())
        self.stdin.write(encode(message))
        reply = self.pipes.next_frame()
        # A timer on the reply itself: cheaper per query than wrapping the await in a timeout scope.
        timer = asyncio.get_running_loop().call_later(timeout, self.pipes.expire, reply) if timeout else None
        try:
            frame = await reply
        except _Gone:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.pipes.exited), 2)
            self.kill()
            raise WorkerDied(self._exit_text()) from None
        except WorkerDied:
            self.kill()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return json.loads(frame.decode("utf-8"))  # str: json.loads on bytes sniffs the encoding first

    def _exit_text(self) -> str:
        code = self.transport.get_returncode()
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
        if self.transport.get_returncode() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.transport.get_pid(), signal.SIGKILL)
        self.transport.close()

    async def stop(self, grace: float = 1.0) -> None:
        """Close its stdin (a clean exit once idle), then kill it if it lingers."""
        if self.stdin is not None:
            self.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.pipes.exited), grace)
        except asyncio.TimeoutError:
            self.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.pipes.exited), 2)
        self.transport.close()
