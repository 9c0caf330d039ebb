"""Run one or more Starlette apps on uvicorn in one event loop, and announce each listener.

`deployer-tui serve` and `deployer-tui apinode` both print "<name>: <url>" once a listener
accepts connections, flushed, so that a script or a test reading a pipe can wait for it
(tests/servers.py does). SIGINT and SIGTERM stop every server cleanly (lifespans run their shutdown).

What this leans on in uvicorn beyond `uvicorn.Config`/`uvicorn.Server` is listed, and checked against
the installed release, in tests/test_library_internals.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.auto import AutoHTTPProtocol

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed.

    A server's event loop is its hot path: uvloop's C loop and pipe/socket transports cost less CPU per
    request than asyncio's, which on a loaded machine is also less latency. Without it (Windows, PyPy)
    the servers run on asyncio's loop, unchanged.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


@dataclass
class Listener:
    name: str
    app: ASGIApp
    host: str = "127.0.0.1"
    port: int = 0
    # Announce only after `on_ready` finished: the deployer is announced once its demo content
    # exists, so whoever waits for the line (the TUI, tests) never sees a half-filled deployer.
    announce_after_ready: bool = False
    # Filled once bound: the real port when 0 was asked.
    url: str = field(default="", init=False)


# Writes are held back (until the end of the loop step) only while they total at most this much.
COALESCE_MAX_BYTES = 64 * 1024


class _CoalescingTransport:
    """A transport whose writes within one event-loop step go out as one send.

    uvicorn writes a response's head and its body separately; on loopback each send wakes the client,
    which then preempts the server mid-request. Joining them (flushed at the end of the current loop
    step, before any I/O wait) halves the sends and the client's wake-ups per response.
    """

    __slots__ = ("_transport", "_loop", "_pending", "_size")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)
        self._size += len(data)
        if self._size > COALESCE_MAX_BYTES:
            # A big body goes out now, so that the transport's flow control (pause_writing) still
            # stops a producer that streams without yielding to the loop.
            self._flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        if self._pending:
            data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
            self._pending.clear()
            self._size = 0
            if not self._transport.is_closing():
                self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _CoalescingHTTP(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools when installed, else h11, as uvicorn picks) on a coalescing transport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(_CoalescingTransport(transport))  # type: ignore[arg-type]


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to serve_all.

    uvicorn's `serve()` wraps itself in `capture_signals()`, which replaces the process's SIGINT/SIGTERM
    handlers with one that stops only that server, then re-raises the signal once it stopped. With several
    servers in one loop the last one started takes the signal, and the re-raised SIGINT lands as a
    KeyboardInterrupt while the others are still shutting down (their lifespans are cancelled). serve_all
    handles both signals itself and stops every server in order.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn so that port 0 resolves to a known port we can announce."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP,
    # and without it every response split in two writes waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def serve_all(
    listeners: list[Listener],
    *,
    announce: Callable[[str], None] | None = None,
    on_ready: Callable[[list[Listener]], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve every listener until `stop` is set or a signal arrives.

    Listeners start in order; each is announced as soon as it accepts connections, so that
    later ones (the deployer) may rely on earlier ones (the API nodes) being up.
    """
    announce = announce or _print_flush
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers in place before, put back once every server stopped (a test or an embedding app keeps its own).
    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            before = signal.getsignal(sig)
            loop.add_signal_handler(sig, stop.set)
            previous[sig] = before

    servers: list[uvicorn.Server] = []
    tasks: list[asyncio.Task] = []
    try:
        for listener in listeners:
            sock = bind_socket(listener.host, listener.port)
            listener.url = url_of(listener.host, sock)
            config = uvicorn.Config(listener.app, log_level="warning", access_log=False, lifespan="on",
                                    timeout_graceful_shutdown=5, http=_CoalescingHTTP)
            server = _Server(config)
            servers.append(server)
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
            while not server.started:
                if tasks[-1].done():
                    tasks[-1].result()  # re-raise the start-up failure
                    raise RuntimeError(f"{listener.name} stopped during start-up")
                await asyncio.sleep(0.01)
            if not listener.announce_after_ready:
                announce(f"{listener.name}: {listener.url}")
        if on_ready is not None:
            await on_ready(listeners)
        for listener in listeners:
            if listener.announce_after_ready:
                announce(f"{listener.name}: {listener.url}")
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
    finally:
        # Stop in reverse order: the deployer first, then the nodes it drives.
        for server in reversed(servers):
            server.should_exit = True
        for task in reversed(tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        for sig, before in previous.items():
            loop.remove_signal_handler(sig)
            if before is not None:
                signal.signal(sig, before)


def _print_flush(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
