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
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import deployer_tui
from deployer_tui.server.apinode import confine
from deployer_tui.server.apinode.frames import HEADER, MAX_FRAME, RAW_MARK, encode

ROOT = str(Path(deployer_tui.__file__).resolve().parent.parent)
PACKAGE_DIR = str(Path(deployer_tui.__file__).resolve().parent)
SHIM_DIR = str(Path(__file__).resolve().parent / "shim")
BOOT = (
    f"import sys; sys.path.insert(0, {ROOT!r}); "
    "import deployer_tui.server.apinode.worker_main as m, deployer_tui.server.apinode.endpoint_code; "
    f"sys.path.remove({ROOT!r}); m.main()"
)


# A service's worker log is rotated (one old copy kept) when a worker starts and it is larger than this.
LOG_ROTATE_BYTES = 10 * 1024 * 1024


def rotate_log(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))


# Workers behave the same whatever the node was started with: buffering is set by worker_main itself.
# The project's own variables (an admin key given to the node that way) stay with the node.
WORKER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" and not k.startswith("DEPLOYER_TUI_")}

# Computed once per node process: the kernel and the node's uid do not change while it runs.
CONFINEMENT = confine.status()


def confinement_plan(gen_dir: Path, private: list[Path], tmp_dir: str,
                     access: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What a worker of `gen_dir` may read and write; nothing under `private` (the node's state) but its version.

    `access` adds the folders of config/server.json `endpointAccess` (checked at node start)."""
    python = confine.read_rules([*confine.python_paths(), *confine.SYSTEM_READ], private)
    access = access or {}
    return {"landlockAbi": CONFINEMENT["landlockAbi"],
            "read": [str(gen_dir), PACKAGE_DIR, *python, *access.get("read", [])],
            "readWrite": [tmp_dir, *access.get("readWrite", [])], "devices": list(confine.SYSTEM_READ_WRITE),
            "identity": confine.worker_identity()}


def open_log(path: Path) -> int:
    """The service's worker log, private to the node's user (endpoint prints may hold query data)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


# A frame larger than this grows in a buffer of its own as it arrives, and is handed over as is.
BIG_FRAME_BYTES = 1024 * 1024


class WorkerDied(Exception):
    """The worker process ended (crashed, was killed, or closed its pipe) while we waited for it."""


class WorkerMisbehaved(WorkerDied):
    """The worker broke the protocol (an answer nobody asked for, e.g. from a forked copy, or one too large)."""


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

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self.buffer = bytearray()
        self.big: bytearray | None = None
        self.big_size = 0
        self.waiter: asyncio.Future[bytes] | None = None
        self.lost = False
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        if fd != 1:
            return
        if self.big is not None:  # a big frame grows by itself (no final copy, no zero-filled block up front)
            take = min(len(data), self.big_size - len(self.big))
            self.big += memoryview(data)[:take]
            if len(self.big) < self.big_size:
                return
            frame, self.big = self.big, None
            if not self._deliver(frame):
                return
            data = memoryview(data)[take:]
            if not data:
                return
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self.buffer)
            if size > self.max_frame:
                self.buffer.clear()
                self._lose(WorkerMisbehaved(f"it sent an answer of {size} bytes, more than the node's limit of "
                                            f"{self.max_frame} (limits.maxAnswerBytes in config/server.json)"))
                return
            end = HEADER.size + size
            if len(self.buffer) < end:
                if size > BIG_FRAME_BYTES:
                    self.big, self.big_size = self.buffer, size
                    del self.big[:HEADER.size]
                    self.buffer = bytearray()
                return
            frame = bytes(memoryview(self.buffer)[HEADER.size:end])
            del self.buffer[:end]
            if not self._deliver(frame):
                return

    def _deliver(self, frame: bytes | bytearray) -> bool:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(frame)
            self.waiter = None
            return True
        # Only a copy of the worker (endpoint code that forked) sends what was not asked: it could
        # answer the next caller with the previous caller's data, so the worker is replaced.
        self.buffer.clear()
        self._lose(WorkerMisbehaved("it sent an answer nobody asked for (did the endpoint code fork?)"))
        return False

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
        if self.lost:
            future.set_exception(_Gone())
        else:
            self.waiter = future
        return future


def decode_reply(frame: bytes | bytearray) -> dict[str, Any]:
    """A reply frame: JSON, or (`RAW_MARK`) a small JSON header then the result already encoded.

    A big result stays bytes: decoding and re-encoding it here would hold the node's event loop
    (and the GIL) for seconds, while splicing it into the answer costs one copy."""
    if frame[:1] == RAW_MARK:
        (size,) = HEADER.unpack_from(frame, 1)
        reply = json.loads(frame[1 + HEADER.size:1 + HEADER.size + size].decode("utf-8"))
        reply["resultRaw"] = memoryview(frame)[1 + HEADER.size + size:]
        return reply
    return json.loads(frame.decode("utf-8"))  # str: json.loads on bytes sniffs the encoding first


class _Gone(Exception):
    """The worker's stdout closed or the process exited; the exit status says why."""


class Worker:
    def __init__(self, transport: asyncio.SubprocessTransport, pipes: _Pipes, tmp_dir: str = "") -> None:
        self.transport = transport
        self.pipes = pipes
        self.stdin = transport.get_pipe_transport(0)
        self.idle_since = 0.0
        self.tmp_dir = tmp_dir
        self.seq = 0

    @classmethod
    async def spawn(cls, spec: dict[str, Any], cwd: Path, log_path: Path, load_timeout: float,
                    private: list[Path] | None = None, max_answer: int = MAX_FRAME,
                    access: dict[str, list[str]] | None = None) -> Worker:
        """Start a worker confined to `cwd` (its version), Python and a private temporary folder.

        `private` are the folders endpoint code must never read (the node's data dir); the answer
        frames a worker may send are bounded by `max_answer` bytes."""
        rotate_log(log_path)
        loop = asyncio.get_running_loop()
        tmp_dir = tempfile.mkdtemp(prefix="deployer-tui-worker-")
        plan = confinement_plan(cwd, [Path(p).resolve() for p in private or []], tmp_dir, access)
        if plan["identity"]:
            os.chown(tmp_dir, *plan["identity"])
        spec = {**spec, "confine": plan, "maxAnswerBytes": max_answer}
        log = open_log(log_path)
        try:
            transport, pipes = await loop.subprocess_exec(
                lambda: _Pipes(max_answer + 64 * 1024), sys.executable, "-c", BOOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=str(cwd), start_new_session=True, env={**WORKER_ENV, "TMPDIR": tmp_dir},
            )
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        finally:
            os.close(log)
        worker = cls(transport, pipes, tmp_dir)  # type: ignore[arg-type]
        pipes.exited.add_done_callback(lambda _: shutil.rmtree(tmp_dir, ignore_errors=True))
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
        self.seq += 1
        seq = self.seq
        self.stdin.write(encode({**message, "seq": seq} if isinstance(message, dict) else message))
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
        reply = decode_reply(frame)
        if reply.get("seq", seq) != seq:
            self.kill()
            raise WorkerMisbehaved(f"it answered query {reply.get('seq')} when asked query {seq}")
        return reply

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
