"""A lean HTTP/1.1 keep-alive connection for many small GETs (the bulk heavy-status fetch) and POSTs
(canary probes, core/canary_probe.py).

httpx spends about 1 ms of CPU per request (URL and header models, the connection pool, anyio, h11):
with hundreds of heavy statuses fetched at once from a deployer on the same machine, that is most of the
time. A connection that writes one GET and parses its answer as the bytes arrive (an asyncio Protocol,
no stream reader in between) costs a sixth to an eighth of httpx's CPU at the console's load
(bench/bench_http1_ab.py). The DeployerClient uses it only where nothing
more is needed: GETs without a body, through no proxy. The answer may be Content-Length, chunked or
close-delimited, identity, gzip or deflate; anything else raises Unsupported and the client sends that
request again through httpx.

The Authorization header lives only in the connection's request head; `repr()` does not show it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import zlib
from typing import Any

_MAX_HEAD = 64 * 1024


class Unsupported(Exception):
    """The answer uses HTTP this connection does not speak (an upgrade, a 1xx, br/zstd bodies...)."""


class Failure(Exception):
    """No complete answer: the connection could not be made or broke. `__cause__` is the OS error."""


class Timeout(Failure):
    """No complete answer in time (connecting, or the answer after the request was sent)."""


class Reply:
    """The parts of an httpx.Response the client reads."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self, **kwargs: Any) -> Any:
        return json.loads(self.content, **kwargs)

    async def aclose(self) -> None:
        """Nothing to release: the body is already read (httpx.Response has the same method)."""


def _failure(exc: BaseException) -> Failure:
    return Timeout(str(exc)) if isinstance(exc, TimeoutError) else Failure(str(exc) or type(exc).__name__)


class _Answers(asyncio.Protocol):
    """The reading side of one connection: parses the answer to the request in flight as bytes arrive
    and hands it to `waiter` (a Reply, or the exception saying why there is none)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False  # the server closed (or the connection broke): never send on it again
        self.reusable = True  # the last answer allows another request on this connection
        self.waiter: asyncio.Future[Reply] | None = None
        self._buf = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._head: tuple[int, dict[str, str], bool] | None = None  # status, headers, HTTP/1.0
        self._body_at = 0
        self._chunks: list[bytes] = []
        self._cursor = 0  # chunked: where the next chunk-size line starts

    def expect(self, waiter: asyncio.Future[Reply]) -> None:
        self._buf.clear()
        self._reset()
        self.waiter = waiter

    # ---- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # bytes nobody asked for: this connection's framing cannot be trusted
            return
        try:
            self._parse(eof=False)
        except (ValueError, zlib.error, Unsupported) as exc:
            self._fail(exc if isinstance(exc, Unsupported) else ConnectionError(f"malformed HTTP answer ({exc})"))

    def eof_received(self) -> bool:
        self._lost(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    # ---- parsing
    def _lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        try:
            if self._parse(eof=True):
                return
        except (ValueError, zlib.error, Unsupported) as err:
            self._fail(err if isinstance(err, Unsupported) else ConnectionError(f"malformed HTTP answer ({err})"))
            return
        self._fail(exc if isinstance(exc, OSError) else
                   ConnectionError("the server closed the connection before answering in full"))

    def _fail(self, exc: BaseException) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _parse(self, *, eof: bool) -> bool:
        """Complete the waiter when the buffer holds a whole answer; True when it did."""
        buf = self._buf
        if self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise ValueError("answer head longer than 64 KiB")
                return False
            self._head = _parse_head(bytes(buf[:end]))
            self._body_at = self._cursor = end + 4
        status, headers, http10 = self._head
        connection = headers.get("connection", "").lower()
        reusable = "keep-alive" in connection if http10 else "close" not in connection
        if status in (204, 304):
            body, rest = b"", len(buf) - self._body_at
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            done = self._read_chunks()
            if done is None:
                return False
            body, rest = b"".join(self._chunks), len(buf) - done
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length < 0:
                raise ValueError("negative Content-Length")
            if len(buf) < self._body_at + length:
                return False
            body, rest = bytes(buf[self._body_at:self._body_at + length]), len(buf) - self._body_at - length
        elif eof:
            body, rest, reusable = bytes(buf[self._body_at:]), 0, False
        else:
            return False  # delimited by the server closing the connection
        body = _decoded(body, headers.get("content-encoding", "identity").lower().strip())
        self.reusable = reusable and rest == 0
        assert self.waiter is not None
        self.waiter.set_result(Reply(status, headers, body))
        return True

    def _read_chunks(self) -> int | None:
        """Parse the chunks that arrived; the end of the answer once all did, else None (wait for more)."""
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n", self._cursor)
            if line_end < 0:
                return None
            size = int(bytes(buf[self._cursor:line_end]).split(b";", 1)[0].strip(), 16)
            if size == 0:
                trailers_end = buf.find(b"\r\n\r\n", line_end)
                if buf[line_end:line_end + 4] == b"\r\n\r\n":
                    return line_end + 4
                if trailers_end < 0:
                    return None
                return trailers_end + 4
            data_end = line_end + 2 + size
            if len(buf) < data_end + 2:
                return None
            if buf[data_end:data_end + 2] != b"\r\n":
                raise ValueError("chunk not followed by CRLF")
            self._chunks.append(bytes(buf[line_end + 2:data_end]))
            self._cursor = data_end + 2


def _parse_head(raw: bytes) -> tuple[int, dict[str, str], bool]:
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1 status line: {lines[0][:80]!r}")
    status = int(rest[:3])
    if status < 200:
        raise Unsupported(f"HTTP {status} interim answer")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line: {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return status, headers, version == "HTTP/1.0"


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    if encoding not in ("identity", ""):
        raise Unsupported(f"Content-Encoding {encoding}")
    return body


class Connection:
    """One keep-alive connection to `host:port`, one request at a time, opened on first use and again
    whenever the server closed it. `head_fields` are the request header lines sent with every GET."""

    def __init__(self, host: str, port: int, head_fields: bytes, *, ssl_context: ssl.SSLContext | None,
                 server_hostname: str | None, timeout: float, connect_timeout: float) -> None:
        self.host = host
        self.port = port
        self._head_fields = head_fields
        self._ssl = ssl_context
        self._server_hostname = server_hostname if ssl_context is not None else None
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._answers: _Answers | None = None
        self._lock = asyncio.Lock()
        self._expired = False

    def __repr__(self) -> str:
        return f"Connection({self.host!r}, {self.port})"

    async def get(self, target: str) -> Reply:
        """GET `target` (path and query, already encoded). Raises Timeout, Failure or Unsupported."""
        request = b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._head_fields + b"\r\n"
        return await self._send(request, resend=True)

    async def post(self, target: str, body: bytes, head_fields: bytes = b"", *, resend: bool = False) -> Reply:
        """POST `body` to `target` with the connection's header lines plus `head_fields` (Content-Type and
        the like; Content-Length is added). `resend`: send it again when a kept-alive connection turns out
        closed by the server (only for a request that may run twice, as a GET may)."""
        request = (b"POST " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._head_fields + head_fields
                   + b"Content-Length: " + str(len(body)).encode("ascii") + b"\r\n\r\n" + body)
        return await self._send(request, resend=resend)

    async def _send(self, request: bytes, *, resend: bool) -> Reply:
        async with self._lock:
            if self._answers is not None and (self._answers.closed or not self._answers.reusable):
                self._drop()  # closed by the server while idle (its keep-alive timeout), or not reusable
            reused = self._answers is not None
            try:
                return await self._exchange(request)
            except OSError as exc:
                self._drop()
                if not reused or self._expired or not resend:
                    raise _failure(exc) from exc
            # A kept-alive connection the server closed just as the request went out: sent again.
            try:
                return await self._exchange(request)
            except OSError as exc:
                self._drop()
                raise _failure(exc) from exc

    async def _exchange(self, request: bytes) -> Reply:
        loop = asyncio.get_running_loop()
        self._expired = False
        if self._answers is None:
            try:
                _, answers = await asyncio.wait_for(
                    loop.create_connection(_Answers, self.host, self.port, ssl=self._ssl,
                                           server_hostname=self._server_hostname),
                    self.connect_timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"connect timed out after {self.connect_timeout:g} s") from None
            self._answers = answers
        answers = self._answers
        assert answers.transport is not None
        waiter: asyncio.Future[Reply] = loop.create_future()
        answers.expect(waiter)
        # A timer that aborts the connection costs far less than wrapping each request in a task.
        timer = loop.call_later(self.timeout, self._expire)
        try:
            answers.transport.write(request)
            reply = await waiter
        except OSError:
            if self._expired:
                raise TimeoutError(f"no answer within {self.timeout:g} s") from None
            raise
        except BaseException:
            self._drop()  # cancelled or Unsupported mid-answer: the connection's state is unknown
            raise
        finally:
            timer.cancel()
            answers.waiter = None
        return reply

    def _expire(self) -> None:
        self._expired = True
        if self._answers is not None:
            self._answers._fail(ConnectionError("timed out"))

    def _drop(self) -> None:
        answers, self._answers = self._answers, None
        if answers is not None and answers.transport is not None:
            answers.transport.abort()

    async def aclose(self) -> None:
        answers, self._answers = self._answers, None
        if answers is not None and answers.transport is not None:
            answers.transport.close()
