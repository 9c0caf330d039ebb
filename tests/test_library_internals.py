"""What server/runner.py relies on inside uvicorn, checked against the installed release.

runner.py subclasses two uvicorn classes. Neither hook is private by name, but neither is a documented
API either, so a uvicorn release may rename or reshape them without notice; pyproject.toml caps uvicorn
at the releases these tests ran on, and these tests fail first when a new release breaks a hook.

The allow-list (every uvicorn name runner.py uses beyond `uvicorn.Config(...)` and `uvicorn.Server(config)`):
- `uvicorn.protocols.http.auto.AutoHTTPProtocol`: the HTTP protocol class uvicorn picks (httptools, else
  h11); `_CoalescingHTTP` subclasses it and overrides `connection_made(transport)` only.
- `uvicorn.Config(http=<protocol class>)`: a class given as `http` is used as is.
- `uvicorn.Server.capture_signals()`: the context manager `serve()` runs inside to take SIGINT/SIGTERM;
  `_Server` overrides it with one that does nothing, since serve_all owns the signals.
- `uvicorn.Server.started` / `uvicorn.Server.should_exit` / `uvicorn.Server.serve(sockets=...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from deployer_tui.server import runner


def test_auto_http_protocol_is_a_protocol_with_connection_made_of_one_transport() -> None:
    assert issubclass(AutoHTTPProtocol, asyncio.Protocol)
    params = list(inspect.signature(AutoHTTPProtocol.connection_made).parameters)
    assert params == ["self", "transport"]
    # Overridden in the class uvicorn picks, not inherited from asyncio: it is where the transport is kept.
    assert "connection_made" in vars(AutoHTTPProtocol)
    assert issubclass(runner._CoalescingHTTP, AutoHTTPProtocol)


def test_config_uses_a_protocol_class_given_as_http() -> None:
    config = uvicorn.Config(Starlette(), http=runner._CoalescingHTTP, lifespan="off")
    config.load()
    assert config.http_protocol_class is runner._CoalescingHTTP


def test_server_serve_runs_inside_capture_signals() -> None:
    assert "capture_signals" in vars(uvicorn.Server)
    assert list(inspect.signature(uvicorn.Server.capture_signals).parameters) == ["self"]
    assert "sockets" in inspect.signature(uvicorn.Server.serve).parameters
    # The override is the one serve() calls: a rename in uvicorn would leave it unused.
    assert "self.capture_signals()" in inspect.getsource(uvicorn.Server.serve)
    server = runner._Server(uvicorn.Config(Starlette()))
    assert server.started is False and server.should_exit is False
    before = signal.getsignal(signal.SIGINT)
    with server.capture_signals():
        assert signal.getsignal(signal.SIGINT) is before


async def test_a_signal_stops_every_server_with_their_lifespans_and_handlers_restored() -> None:
    """SIGINT to the process: serve_all returns normally, every lifespan ran its shutdown, and the process's handlers are what they were."""
    events: list[str] = []

    def app(name: str) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette):
            events.append(f"{name} up")
            yield
            events.append(f"{name} down")

        async def hello(request) -> PlainTextResponse:
            return PlainTextResponse(name)

        return Starlette(routes=[Route("/", hello)], lifespan=lifespan)

    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    listeners = [runner.Listener("first", app("first")), runner.Listener("second", app("second"))]
    announced: list[str] = []
    ready = asyncio.Event()

    async def on_ready(_listeners: list[runner.Listener]) -> None:
        ready.set()

    serving = asyncio.create_task(runner.serve_all(listeners, announce=announced.append, on_ready=on_ready))
    await asyncio.wait_for(ready.wait(), 10)
    async with httpx.AsyncClient() as client:
        answers = [(await client.get(listener.url + "/")).text for listener in listeners]
    assert answers == ["first", "second"]
    # While serving, SIGINT belongs to serve_all (the loop's handler), not to one of the uvicorn servers.
    for sig in before:
        assert not isinstance(getattr(signal.getsignal(sig), "__self__", None), uvicorn.Server)
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(serving, 10)
    assert serving.exception() is None
    assert announced == [f"first: {listeners[0].url}", f"second: {listeners[1].url}"]
    assert events[:2] == ["first up", "second up"]
    assert sorted(events[2:]) == ["first down", "second down"]
    assert {sig: signal.getsignal(sig) for sig in before} == before


class _Recording(asyncio.Protocol):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)


async def test_coalescing_transport_joins_the_writes_of_one_loop_step() -> None:
    """What _CoalescingHTTP hands uvicorn: writes of one loop step go out as one send, in order."""
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    with left, right:
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=left)
        received = _Recording()
        peer, _ = await loop.create_connection(lambda: received, sock=right)
        coalescing = runner._CoalescingTransport(transport)  # type: ignore[arg-type]
        coalescing.write(b"HTTP/1.1 200 OK\r\n\r\n")
        coalescing.write(b"body")
        assert received.chunks == [] and coalescing.get_write_buffer_size() >= len(b"body")
        deadline = loop.time() + 5
        while not received.chunks and loop.time() < deadline:
            await asyncio.sleep(0)
        assert received.chunks == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        coalescing.close()
        peer.close()


@pytest.mark.parametrize("size", [runner.COALESCE_MAX_BYTES + 1])
async def test_a_big_write_goes_out_at_once(size: int) -> None:
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    with left, right:
        transport, _ = await loop.create_connection(asyncio.Protocol, sock=left)
        coalescing = runner._CoalescingTransport(transport)  # type: ignore[arg-type]
        coalescing.write(b"x" * size)
        assert coalescing._size == 0  # flushed to the socket transport, not held for the loop step
        transport.close()
