"""A lean HTTP/1.1 keep-alive connection for many small GETs (the bulk heavy-status fetch).

httpx spends about 1 ms of CPU per request (URL and header models, the connection pool, anyio, h11):
with hundreds of heavy statuses fetched at once from a deployer on the same machine, that is most of the
time. A connection that writes one GET and reads one answer costs about a tenth of it. The DeployerClient
uses it only where nothing more is needed: GETs without a body, through no proxy. The answer may be
Content-Length, chunked or close-delimited, identity, gzip or deflate; anything else raises Unsupported
and the client sends that request again through httpx.

The Authorization header lives only in the connection's request head; `repr()` does not show it.
"""

from __future__ import annotations

import asyncio
import contextlib
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

    def json(self) -> Any:
        return json.loads(self.content)

    async def aclose(self) -> None:
        """Nothing to release: the body is already read (httpx.Response has the same method)."""


def _failure(exc: BaseException) -> Failure:
    return Timeout(str(exc)) if isinstance(exc, TimeoutError) else Failure(str(exc) or type(exc).__name__)


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
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._expired = False

    def __repr__(self) -> str:
        return f"Connection({self.host!r}, {self.port})"

    async def get(self, target: str) -> Reply:
        """GET `target` (path and query, already encoded). Raises Timeout, Failure or Unsupported."""
        async with self._lock:
            request = b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._head_fields + b"\r\n"
            reused = self._writer is not None
            try:
                return await self._exchange(request)
            except (OSError, asyncio.IncompleteReadError) as exc:
                self._drop()
                if not reused or self._expired:
                    raise _failure(exc) from exc
            # A kept-alive connection the server had closed meanwhile: a GET may be sent again.
            try:
                return await self._exchange(request)
            except (OSError, asyncio.IncompleteReadError) as exc:
                self._drop()
                raise _failure(exc) from exc
            except BaseException:
                self._drop()
                raise

    async def _exchange(self, request: bytes) -> Reply:
        loop = asyncio.get_running_loop()
        self._expired = False
        if self._writer is None:
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, ssl=self._ssl, limit=_MAX_HEAD,
                                            server_hostname=self._server_hostname),
                    self.connect_timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"connect timed out after {self.connect_timeout:g} s") from None
        reader, writer = self._reader, self._writer
        assert reader is not None
        # A timer that aborts the connection costs far less than wrapping each request in a task.
        timer = loop.call_later(self.timeout, self._expire)
        try:
            writer.write(request)
            status, headers, http10 = await self._read_head(reader)
            body, reusable = await self._read_body(reader, status, headers, http10)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, zlib.error) as exc:
            if self._expired:
                raise TimeoutError(f"no answer within {self.timeout:g} s") from None
            if isinstance(exc, (asyncio.LimitOverrunError, ValueError, zlib.error)):
                self._drop()
                raise ConnectionError(f"malformed HTTP answer ({exc})") from None
            raise
        except BaseException:
            self._drop()  # cancelled or Unsupported mid-answer: the connection's state is unknown
            raise
        finally:
            timer.cancel()
        if not reusable:
            self._drop()
        return Reply(status, headers, body)

    def _expire(self) -> None:
        self._expired = True
        if self._writer is not None:
            self._writer.transport.abort()

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bool]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
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

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, status: int, headers: dict[str, str],
                         http10: bool) -> tuple[bytes, bool]:
        connection = headers.get("connection", "").lower()
        reusable = "keep-alive" in connection if http10 else "close" not in connection
        if status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                        pass
                    break
                parts.append(await reader.readexactly(size))
                if await reader.readexactly(2) != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
            body = b"".join(parts)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body, reusable = await reader.read(), False
        encoding = headers.get("content-encoding", "identity").lower().strip()
        if encoding == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -zlib.MAX_WBITS)
        elif encoding not in ("identity", ""):
            raise Unsupported(f"Content-Encoding {encoding}")
        return body, reusable

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            # A TLS peer that never answers the close must not hold the client's exit for long.
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
