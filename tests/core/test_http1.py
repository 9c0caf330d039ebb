"""The lean HTTP/1.1 connection behind DeployerClient's lanes (core/http1.py), against a scripted
loopback server: body framings, keep-alive reuse, a connection the server closed, timeouts, refusals,
malformed answers, and the client's fall-back to httpx for answers it does not speak."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from deployer_tui.core import http1
from deployer_tui.core.bulk import iter_heavy_statuses
from deployer_tui.core.client import DeployerClient, _proxied
from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout

Answer = Callable[[bytes], bytes | None]  # request head -> raw answer; None: close without answering


class Close(bytes):
    """An answer after which the server closes the connection (a close-delimited body)."""


class Scripted:
    """A loopback server answering each request with the next scripted answer."""

    def __init__(self, answers: list[Answer | bytes]) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                answer = self.answers.pop(0)
                raw = answer(head) if callable(answer) else answer
                if raw is None:
                    break
                writer.write(raw)
                await writer.drain()
                if isinstance(raw, Close):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[list], Scripted]]:
    made: list[Scripted] = []

    def make(answers: list) -> Scripted:
        server = Scripted(answers)
        made.append(server)
        return server

    yield make
    for server in made:
        if server.server is not None:
            server.server.close()


async def started(server: Scripted) -> Scripted:
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    return server


def conn(server: Scripted, timeout: float = 5.0) -> http1.Connection:
    return http1.Connection("127.0.0.1", server.port, b"Host: test\r\nAuthorization: Basic c2VjcmV0Og==\r\n",
                            ssl_context=None, server_hostname=None, timeout=timeout, connect_timeout=2.0)


def ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body


async def test_keep_alive_reuses_one_connection_and_sends_the_head(scripted) -> None:
    server = await started(scripted([ok(b'{"a": 1}'), ok(b'{"a": 2}', "Content-Type: application/json")]))
    c = conn(server)
    first, second = await c.get("/x/one?q=1"), await c.get("/x/two")
    assert (first.status_code, first.json(), second.json()) == (200, {"a": 1}, {"a": 2})
    assert second.headers["content-type"] == "application/json"
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /x/one?q=1 HTTP/1.1\r\n")
    assert b"Authorization: Basic c2VjcmV0Og==\r\n" in server.requests[0]
    assert "c2VjcmV0" not in repr(c)
    await c.aclose()


async def test_chunked_gzip_and_close_delimited_bodies(scripted) -> None:
    packed = gzip.compress(b'{"zipped": true}')
    server = await started(scripted([
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n"
        b"X-Trailer: t\r\n\r\n",
        ok(packed, "Content-Encoding: gzip"),
        Close(b"HTTP/1.0 200 OK\r\n\r\n[1, 2]"),  # ends its connection: the next GET must not reuse it
        ok(b"[3]"),
    ]))
    c = conn(server)
    assert (await c.get("/chunked")).json() == {"a": 1}
    assert (await c.get("/gzip")).json() == {"zipped": True}
    assert (await c.get("/until-close")).json() == [1, 2]
    assert (await c.get("/after")).json() == [3]
    assert server.connections == 2
    await c.aclose()


async def test_a_kept_alive_connection_the_server_closed_is_opened_again(scripted) -> None:
    server = await started(scripted([ok(b"1"), None, ok(b"2")]))
    c = conn(server)
    assert (await c.get("/a")).content == b"1"
    assert (await c.get("/b")).content == b"2"  # the first try met a closed connection
    assert server.connections == 2
    await c.aclose()


async def test_a_new_connection_that_fails_is_not_tried_twice(scripted) -> None:
    server = await started(scripted([None, ok(b"never")]))
    c = conn(server)
    with pytest.raises(http1.Failure):
        await c.get("/a")
    assert server.connections == 1
    await c.aclose()


async def test_no_answer_in_time_is_a_timeout(scripted) -> None:
    server = await started(scripted([lambda head: b""]))  # writes nothing, keeps the connection open
    c = conn(server, timeout=0.3)
    with pytest.raises(http1.Timeout):
        await c.get("/slow")
    await c.aclose()


async def test_refused_and_malformed(scripted) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = http1.Connection("127.0.0.1", port, b"", ssl_context=None, server_hostname=None,
                               timeout=2, connect_timeout=2)
    with pytest.raises(http1.Failure) as info:
        await refused.get("/")
    assert isinstance(info.value.__cause__, ConnectionRefusedError)

    server = await started(scripted([b"SMTP ready\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"]))
    c = conn(server)
    for _ in range(2):
        with pytest.raises(http1.Failure, match="malformed"):
            await c.get("/")
    await c.aclose()


async def test_answers_it_does_not_speak_are_unsupported(scripted) -> None:
    server = await started(scripted([ok(b"xx", "Content-Encoding: br"), b"HTTP/1.1 103 Early Hints\r\n\r\n"]))
    c = conn(server)
    with pytest.raises(http1.Unsupported, match="br"):
        await c.get("/br")
    with pytest.raises(http1.Unsupported, match="103"):
        await c.get("/hints")
    await c.aclose()


# ---- through DeployerClient's lanes -------------------------------------------------------------------

async def no_sleep(_delay: float) -> None:
    return None


async def test_client_lanes_map_errors_retry_and_fall_back_to_httpx(scripted) -> None:
    error = json.dumps({"errorType": "com.dataiku.dip.server.controllers.NotFoundException",
                        "message": "Deployment 'b' does not exist"}).encode()
    server = await started(scripted([
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
        ok(b'{"health": "HEALTHY"}'),
        f"HTTP/1.1 404 Not Found\r\nContent-Length: {len(error)}\r\n\r\n".encode() + error,
        # httpx (h11) skips interim answers; the lean lane hands such a request over to it.
        b"HTTP/1.1 103 Early Hints\r\n\r\n" + ok(b'{"health": "WARNING"}'),
        b"HTTP/1.1 103 Early Hints\r\n\r\n" + ok(b'{"health": "WARNING"}'),
    ]))
    async with DeployerClient(f"http://127.0.0.1:{server.port}/dss é", "secret", sleep=no_sleep) as client:
        assert await client.get_deployment_status("a", lane=0) == {"health": "HEALTHY"}  # after one retry
        with pytest.raises(DeployerError) as info:
            await client.get_deployment_status("b", lane=0)
        assert info.value.status == 404 and info.value.short_type == "NotFoundException"
        assert await client.get_deployment_status("c d", lane=0) == {"health": "WARNING"}
        assert isinstance(client._lanes[0], http1.Connection)
    assert server.requests[0].startswith(b"GET /dss%20%C3%A9/public/api/api-deployer/deployments/a/status HTTP/1.1")
    for request in server.requests[3:]:  # the lean lane's, then httpx's
        assert request.startswith(b"GET /dss%20%C3%A9/public/api/api-deployer/deployments/c%20d/status HTTP/1.1")
    assert len(server.requests) == 5
    assert b"Authorization: Basic c2VjcmV0Og==" in server.requests[0]


async def test_client_lane_transport_failures_are_deployer_errors(scripted) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with DeployerClient(f"http://127.0.0.1:{port}", "k", retries=1, sleep=no_sleep) as client:
        with pytest.raises(ConnectionLost, match="connection refused"):
            await client.get_deployment_status("a", lane=0)
    server = await started(scripted([lambda head: b"", lambda head: b""]))
    async with DeployerClient(f"http://127.0.0.1:{server.port}", "k", timeout=0.3, retries=1,
                              sleep=no_sleep) as client:
        statuses = [s async for s in iter_heavy_statuses(client, ["slow"], concurrency=1)]
    assert isinstance(statuses[0][1], RequestTimeout)
    assert len(server.requests) == 2  # a GET is tried again after a timeout


def test_lanes_go_through_httpx_when_a_proxy_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert not _proxied("https://dss.example.com", True)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    assert _proxied("https://dss.example.com", True)
    assert not _proxied("https://dss.example.com", False)  # loopback: the client ignores the environment
    assert not _proxied("http://dss.example.com", True)  # only an https proxy is set
    monkeypatch.setenv("NO_PROXY", "dss.example.com")
    assert not _proxied("https://dss.example.com:8443", True)
    monkeypatch.delenv("NO_PROXY")
    client = DeployerClient("https://dss.example.com", "k")
    assert not client._lean_lanes and not isinstance(client._lane(0), http1.Connection)


class _Transport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


async def feed(raw: bytes, step: int) -> tuple[http1.Reply, http1._Answers]:
    """An answer handed to the parser `step` bytes at a time, as TCP may split it."""
    answers = http1._Answers()
    answers.connection_made(_Transport())  # type: ignore[arg-type]
    waiter = asyncio.get_running_loop().create_future()
    answers.expect(waiter)
    for i in range(0, len(raw), step):
        assert not waiter.done(), "answered before its last byte"
        answers.data_received(raw[i:i + step])
    return await waiter, answers


async def test_answers_split_anywhere_are_parsed_whole() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n")
    for raw, expected in ((ok(b'{"a": 1}'), {"a": 1}), (chunked, {"a": 1}),
                          (ok(gzip.compress(b"[7]"), "Content-Encoding: gzip"), [7])):
        for step in (1, 2, 7, len(raw)):
            reply, answers = await feed(raw, step)
            assert reply.json() == expected, (raw, step)
            assert answers.reusable and not answers.closed


async def test_bytes_after_an_answer_make_the_connection_unusable() -> None:
    reply, answers = await feed(ok(b"[1]") + b"HTTP/1.1 200 OK\r\n", 1000)
    assert reply.json() == [1] and not answers.reusable


async def test_a_connection_the_server_closed_while_idle_is_not_written_to(scripted) -> None:
    server = await started(scripted([Close(ok(b"1")), ok(b"2")]))
    c = conn(server)
    assert (await c.get("/a")).content == b"1"
    assert (await c.get("/b")).content == b"2"
    # Noticed while idle, or when the request on it failed: either way a second connection answers.
    assert (server.connections, len(server.requests)) == (2, 2)
    await c.aclose()
