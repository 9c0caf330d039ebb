"""Probe pieces without a deployer: the lean POST of core/http1.py against a loopback server that reads
bodies, answers normalised for comparison, the verb of a stored query, the version an answer names."""

from __future__ import annotations

import asyncio
import json

import pytest

from deployer_tui.core import http1
from deployer_tui.core.canary_probe import ProbeQuery, answering_version, normalise_answer


class EchoServer:
    """Answers each POST with its body and headers; closes after `close_after` answers on a connection."""

    def __init__(self, close_after: int = 0) -> None:
        self.close_after = close_after
        self.connections = 0
        self.bodies: list[bytes] = []
        self.server: asyncio.AbstractServer | None = None
        self.closed = asyncio.Event()  # set when the server closed a connection

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = 0
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
                body = await reader.readexactly(int(fields.get("Content-Length", "0")))
                self.bodies.append(body)
                out = json.dumps({"body": body.decode(), "forced": fields.get("X-DKU-Forced-Generation")}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(out)).encode() + b"\r\n\r\n" + out)
                await writer.drain()
                answered += 1
                if self.close_after and answered >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            await writer.wait_closed()
            self.closed.set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]


def connection(port: int) -> http1.Connection:
    return http1.Connection("127.0.0.1", port, b"Host: 127.0.0.1\r\n", ssl_context=None, server_hostname=None,
                            timeout=5, connect_timeout=5)


def test_posts_share_one_kept_alive_connection_with_their_bodies_intact() -> None:
    async def scenario() -> None:
        server = EchoServer()
        conn = connection(await server.start())
        try:
            for i in range(3):
                reply = await conn.post("/p", json.dumps({"x": i}).encode(), b"X-DKU-Forced-Generation: v2\r\n")
                assert reply.status_code == 200 and reply.json() == {"body": f'{{"x": {i}}}', "forced": "v2"}
            assert server.connections == 1
        finally:
            await conn.aclose()
            server.server.close()

    asyncio.run(scenario())


def test_a_post_after_the_server_closed_the_idle_connection_goes_on_a_new_one() -> None:
    async def scenario() -> None:
        server = EchoServer(close_after=1)
        port = await server.start()
        conn = connection(port)
        try:
            await conn.post("/p", b"{}")
            await asyncio.wait_for(server.closed.wait(), 5)  # closed while idle, as between two probes
            reply = await conn.post("/p", b'{"again": 1}', resend=True)
            assert reply.json()["body"] == '{"again": 1}' and server.connections == 2
        finally:
            await conn.aclose()
            server.server.close()

    asyncio.run(scenario())


def test_answers_are_compared_without_timing_and_context() -> None:
    a = {"response": {"y": 2}, "timing": {"wait": 3}, "apiContext": {"serviceGeneration": "v1"}}
    b = {"apiContext": {"serviceGeneration": "v2"}, "timing": {"wait": 9}, "response": {"y": 2}}
    assert normalise_answer(a) == normalise_answer(b)
    assert normalise_answer(a) != normalise_answer({**b, "response": {"y": 3}})
    assert answering_version(a) == "v1" and answering_version({"response": 1}) is None


@pytest.mark.parametrize(("kind", "body", "verb", "in_body"), [
    ("PY_FUNCTION", {"x": 1}, "run", False),
    ("CUSTOM_PREDICTION", {"features": {"a": 1}}, "predict", True),
    ("CUSTOM_PREDICTION", {"items": [{"features": {"a": 1}}]}, "predict-multi", True),
    ("SQL_QUERY", {"p": 1}, "query", False),
    ("DATASETS_LOOKUP", {"data": {"k": 1}}, "lookup", True),
])
def test_the_verb_of_a_query_and_where_its_version_is_named(kind: str, body: dict, verb: str, in_body: bool) -> None:
    query = ProbeQuery("ep", kind, 0, body)
    assert query.verb == verb and query.body_dispatch is in_body and query.key == "ep#0"
