"""The embedded local deployer: `deployer-tui serve` run as a child process for the TUI.

The child announces "apinode: URL" lines then "deployer: URL" on stdout once each listener accepts
connections (a contract of the command line, see README); we read those lines as they come (no sleeping) and then read the admin key the
server writes to `<data-dir>/admin-api-key`. The child's stderr (and any stdout after the announcements)
goes to `<data-dir>/serve.log`, never to the terminal, which belongs to the TUI.

The child is a plain `subprocess.Popen`, not an asyncio one: asyncio kills a child still running when its
loop closes, and quitting the console must not wait for the servers to stop (`stop_soon`) nor cut their
clean shutdown short.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

from deployer_tui.core import paths
from deployer_tui.core.errors import DeployerError

LOG_FILE = "serve.log"
# The port the deployer listened on last time: tried first at the next start, so that its URL stays the same
# and what the console keeps per deployer URL (the update journal, a canary left half-way, latency trends)
# still applies to it. Taken by something else meanwhile: a free port, as on the first start.
PORT_FILE = "last-port"


def _remembered_port(data_dir: Path) -> int | None:
    try:
        port = int((data_dir / PORT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def _remember_port(data_dir: Path, url: str) -> None:
    port = url.rstrip("/").rsplit(":", 1)[-1]
    if port.isdigit():
        with contextlib.suppress(OSError):
            (data_dir / PORT_FILE).write_text(port + "\n", encoding="utf-8")


class LocalDeployerError(DeployerError):
    """The local deployer could not be started."""

    def __init__(self, message: str, *, exited: bool = False) -> None:
        super().__init__(message, error_type="LocalDeployerError")
        self.exited = exited  # the child ended before announcing its URL (a port taken, say), not a timeout


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class LocalDeployer:
    """A running local deployer (and its API nodes). Create with `await LocalDeployer.start(...)`."""

    def __init__(self, process: subprocess.Popen, data_dir: Path, url: str, node_urls: list[str],
                 api_key: str, log_path: Path) -> None:
        self.process = process
        self.data_dir = data_dir
        self.url = url
        self.node_urls = node_urls
        self.api_key = api_key
        self.log_path = log_path
        self._drain: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LocalDeployer(url={self.url!r}, node_urls={self.node_urls!r}, pid={self.process.pid})"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @classmethod
    async def start(
        cls,
        data_dir: Path | None = None,
        *,
        apinodes: int = 1,
        demo: bool = True,
        timeout: float = 60,
    ) -> LocalDeployer:
        data_dir = Path(data_dir) if data_dir is not None else paths.data_dir()
        # 0700: the data dir will hold the admin key and the nodes' keys; serve keeps it so, but
        # we create it first (for the log) and must not widen it.
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        remembered = _remembered_port(data_dir)
        if remembered is not None:
            try:
                return await cls._start_on(remembered, data_dir, apinodes, demo, timeout)
            except LocalDeployerError as exc:
                if not exc.exited:
                    raise
                # That port is taken now (the log says so): a free one, as on the first start.
        return await cls._start_on(0, data_dir, apinodes, demo, timeout)

    @classmethod
    async def _start_on(cls, port: int, data_dir: Path, apinodes: int, demo: bool, timeout: float) -> LocalDeployer:
        log_path = data_dir / LOG_FILE
        args = [sys.executable, "-m", "deployer_tui.cli", "serve", "--port", str(port), "--data-dir", str(data_dir),
                "--apinodes", str(apinodes)]
        if not demo:
            args.append("--no-demo")
        # The child holds its own descriptor once started, so ours closes right after.
        with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            url, nodes = await asyncio.wait_for(cls._announced(process), timeout)
        except (asyncio.TimeoutError, LocalDeployerError) as exc:
            await _terminate(process, 5)
            why = str(exc) if isinstance(exc, LocalDeployerError) else f"did not start within {timeout:g}s"
            tail = _tail(log_path)
            raise LocalDeployerError(
                f"local deployer {why} (log: {log_path})" + (f"\n{tail}" if tail else ""),
                exited=isinstance(exc, LocalDeployerError),
            ) from None
        except BaseException:
            await _terminate(process, 5)
            raise
        key_file = data_dir / paths.ADMIN_KEY_FILE
        try:
            api_key = key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            await _terminate(process, 5)
            raise LocalDeployerError(f"local deployer started but {key_file} is unreadable ({exc})") from None
        if not api_key:
            await _terminate(process, 5)
            raise LocalDeployerError(f"local deployer started but {key_file} is empty")
        _remember_port(data_dir, url)
        self = cls(process, data_dir, url, nodes, api_key, log_path)
        # Keep reading so a chatty child never blocks on a full pipe; what it says goes to the log. A daemon
        # thread: it must not keep the console's process alive once the console quits.
        self._drain = threading.Thread(target=self._drain_stdout, name="local-deployer-stdout", daemon=True)
        self._drain.start()
        return self

    @staticmethod
    async def _announced(process: subprocess.Popen) -> tuple[str, list[str]]:
        assert process.stdout is not None
        nodes: list[str] = []
        while True:
            # A blocked read ends when the child writes or dies (a timeout above kills it).
            raw = await asyncio.to_thread(process.stdout.readline)
            if not raw:
                code = await asyncio.to_thread(process.wait)
                raise LocalDeployerError(f"exited with code {code} before announcing its URL")
            name, sep, value = raw.decode("utf-8", "replace").strip().partition(": ")
            if not sep or not value.startswith("http"):
                continue
            if name == "apinode":
                nodes.append(value)
            elif name == "deployer":
                return value, nodes

    def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(Exception), self.log_path.open("ab") as log:
            while line := self.process.stdout.readline():
                log.write(line)
                log.flush()

    async def stop(self, timeout: float = 10) -> None:
        """SIGTERM, wait up to `timeout`, then SIGKILL."""
        await _terminate(self.process, timeout)
        if self._drain is not None:
            await asyncio.to_thread(self._drain.join, 2)

    def stop_soon(self) -> None:
        """SIGTERM and return at once: the servers finish their clean shutdown on their own (they outlive
        the console by the second or two that takes). For quitting, so the shell prompt comes back now."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()

    async def __aenter__(self) -> LocalDeployer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _terminate(process: subprocess.Popen, timeout: float) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.to_thread(process.wait, timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.to_thread(process.wait)
