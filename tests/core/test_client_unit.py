"""DeployerClient's HTTP layer on an in-process mock transport: auth, retries, errors, streaming."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from pathlib import Path

import httpx
import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import ConnectionLost, DeployerError, RequestTimeout

KEY = "s3cret-KEY-value"


def make(handler, **kwargs) -> tuple[DeployerClient, list[float]]:
    sleeps: list[float] = []

    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    client = DeployerClient("http://deployer.test:11200/", KEY, transport=httpx.MockTransport(handler),
                            sleep=sleep, **kwargs)
    return client, sleeps


async def test_basic_auth_with_key_as_username_and_prefix() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"id": "Development"}])

    client, _ = make(handler)
    assert await client.list_stages() == [{"id": "Development"}]
    request = seen[0]
    assert request.url.path == "/public/api/api-deployer/stages"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    assert client.url == "http://deployer.test:11200"
    await client.aclose()


def test_repr_hides_the_key() -> None:
    client = DeployerClient("http://h:1", KEY)
    assert KEY not in repr(client) and KEY not in str(client)


async def test_get_retried_with_bounded_backoff() -> None:
    answers = [httpx.Response(503, text="busy"), httpx.Response(502), httpx.Response(200, json={"ok": 1})]
    client, sleeps = make(lambda request: answers.pop(0), retries=2, backoff=0.1)
    assert await client.get_infra("i") == {"ok": 1}
    assert sleeps == [0.1, 0.2]


async def test_get_gives_up_after_retries() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(504, json={"errorType": "Gateway", "message": "upstream slow"})

    client, sleeps = make(handler, retries=3, backoff=0.5, max_backoff=1.0)
    with pytest.raises(DeployerError) as info:
        await client.list_infras()
    assert info.value.status == 504 and len(calls) == 4 and sleeps == [0.5, 1.0, 1.0]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
async def test_writes_never_retried(method: str) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("Connection reset", request=request)

    client, sleeps = make(handler, retries=5)
    calls_by_method = {"post": lambda: client.create_service("s"),
                       "put": lambda: client.save_service_settings("s", {}),
                       "delete": lambda: client.delete_service("s")}
    with pytest.raises(ConnectionLost):
        await calls_by_method[method]()
    assert len(calls) == 1 and sleeps == []


async def test_no_retry_on_4xx_and_dss_error_parsed() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(404, json={"errorType": "com.dataiku.dip.server.controllers.NotFoundException",
                                         "message": "Deployment x not found", "detailedMessage": "not found: x",
                                         "extra": 1})

    client, _ = make(handler)
    with pytest.raises(DeployerError) as info:
        await client.get_deployment("x")
    err = info.value
    assert len(calls) == 1
    assert (err.status, err.error_type, err.message, err.detail) == (
        404, "com.dataiku.dip.server.controllers.NotFoundException", "Deployment x not found", "not found: x")
    assert err.body["extra"] == 1 and err.is_not_found
    assert str(err) == "NotFoundException: Deployment x not found"
    assert "HTTP status: 404" in err.describe() and "not found: x" in err.describe()


async def test_non_json_error_keeps_the_raw_text() -> None:
    client, _ = make(lambda request: httpx.Response(500, text="<html>proxy exploded</html>"))
    with pytest.raises(DeployerError) as info:
        await client.create_infra("i", "Development")
    assert info.value.status == 500 and info.value.body is None
    assert "proxy exploded" in info.value.message and "proxy exploded" in info.value.detail


async def test_ok_with_non_json_body_is_an_error() -> None:
    client, _ = make(lambda request: httpx.Response(200, text="not json"))
    with pytest.raises(DeployerError, match="not JSON"):
        await client.list_deployments()


async def test_timeout_is_told_apart() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client, sleeps = make(handler, retries=1)
    with pytest.raises(RequestTimeout) as info:
        await client.get_deployment_status("d")
    assert info.value.status is None and len(sleeps) == 1
    assert KEY not in str(info.value) and KEY not in info.value.describe()


async def test_connection_refused_on_a_real_closed_port() -> None:
    with socket.socket() as sock:  # bind then close: nobody listens on that port afterwards
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with DeployerClient(f"http://127.0.0.1:{port}", KEY, retries=1, backoff=0.01) as client:
        with pytest.raises(ConnectionLost) as info:
            await client.list_infras()
    err = info.value
    assert err.status is None and f"127.0.0.1:{port}" in str(err) and "refused" in str(err)
    assert KEY not in str(err) and KEY not in err.describe() and KEY not in repr(err)


async def test_query_parameters_as_the_official_client_sends_them() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"responses": []})

    client, _ = make(handler)
    await client.run_test_queries("d", "ep", [{"q": {"a": 1}}])
    await client.run_queries("d", [{"q": {"b": 2}}], endpoint_id="ep", adapt=True)
    await client.get_future("j", peek=True)
    await client.save_deployment_settings("d", {"id": "d", "unknown": [1]}, ignore_warnings=True)
    q0, q1, q2, q3 = (dict(r.url.params) for r in seen)
    assert q0 == {"endpointIdParam": "ep", "testQueriesParam": '[{"q": {"a": 1}}]'}
    assert json.loads(q1["queries"]) == [{"q": {"b": 2}}] and q1["adaptQueryForInfraType"] == "True"
    assert q2 == {"peek": "True"} and q3 == {"ignoreWarnings": "True"}
    assert json.loads(seen[3].content) == {"id": "d", "unknown": [1]}
    assert seen[0].content == b""  # payload is in the query string, not the body


async def test_ids_are_one_path_segment() -> None:
    seen: list[httpx.Request] = []
    client, _ = make(lambda r: seen.append(r) or httpx.Response(200, json={}))
    await client.get_deployment("a/b c")
    assert seen[0].url.raw_path.decode().endswith("/deployments/a%2Fb%20c")


async def test_import_streams_a_multipart_file_with_progress(tmp_path: Path) -> None:
    package = tmp_path / "svc-v1.zip"
    payload = bytes(range(256)) * 1000  # 256 kB, several chunks
    package.write_bytes(payload)
    bodies: list[bytes] = []
    types: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        types.append(request.headers["Content-Type"])
        assert int(request.headers["Content-Length"]) > len(payload)
        bodies.append(b"".join([chunk async for chunk in request.stream]))
        return httpx.Response(204)

    progress: list[tuple[int, int]] = []
    client, _ = make(handler)
    await client.import_version("svc", package, progress=lambda done, total: progress.append((done, total)))
    boundary = types[0].split("boundary=")[1]
    body = bodies[0]
    assert body.startswith(f"--{boundary}\r\n".encode())
    assert b'name="file"; filename="svc-v1.zip"' in body
    assert payload in body and body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert progress[0] == (0, len(payload)) and progress[-1] == (len(payload), len(payload))
    assert len(progress) > 3 and progress == sorted(progress)


async def test_import_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    client, _ = make(lambda r: httpx.Response(204))
    with pytest.raises(DeployerError, match="nope.zip"):
        await client.import_version("svc", tmp_path / "nope.zip")


async def test_download_is_atomic(tmp_path: Path) -> None:
    payload = b"PK" + b"x" * 200_000
    client, _ = make(lambda r: httpx.Response(200, content=payload, headers={"Content-Length": str(len(payload))}))
    target = tmp_path / "v1.zip"
    progress: list[tuple[int, int]] = []
    await client.download_version("svc", "v1", target, progress=lambda d, t: progress.append((d, t)))
    assert target.read_bytes() == payload and not (tmp_path / "v1.zip.partial").exists()
    assert progress[-1] == (len(payload), len(payload))


async def test_failed_download_leaves_nothing(tmp_path: Path) -> None:
    class Broken(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b"PK" + b"x" * 1000
            raise httpx.ReadError("connection reset")

    client, _ = make(lambda r: httpx.Response(200, stream=Broken(), headers={"Content-Length": "5000"}))
    target = tmp_path / "v1.zip"
    target.write_bytes(b"previous")
    with pytest.raises(ConnectionLost):
        await client.download_version("svc", "v1", target)
    assert target.read_bytes() == b"previous" and not (tmp_path / "v1.zip.partial").exists()

    client, _ = make(lambda r: httpx.Response(404, json={"errorType": "NotFound", "message": "no version v9"}))
    with pytest.raises(DeployerError, match="no version v9"):
        await client.download_version("svc", "v9", tmp_path / "v9.zip")
    assert list(tmp_path.iterdir()) == [target]


def test_bad_url_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        DeployerClient("dss.example:11200", KEY)


async def test_error_statuses_without_dss_json() -> None:
    answers = {"/public/api/api-deployer/infras/a": httpx.Response(409, json={"reason": "busy"}),
               "/public/api/api-deployer/infras/b": httpx.Response(403)}
    client, _ = make(lambda request: answers[request.url.path])
    with pytest.raises(DeployerError) as info:
        await client.get_infra("a")
    assert info.value.status == 409 and info.value.body == {"reason": "busy"} and "busy" in info.value.detail
    with pytest.raises(DeployerError) as info:
        await client.get_infra("b")
    assert info.value.status == 403 and str(info.value) == "HTTP 403: Forbidden"


async def _answering(name: str) -> asyncio.Server:
    """A loopback HTTP server answering every request with [{"id": name}]."""
    body = json.dumps([{"id": name}]).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_loopback_deployer_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, direct = await _answering("proxy"), await _answering("direct")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        async with DeployerClient(f"http://127.0.0.1:{direct.sockets[0].getsockname()[1]}", KEY) as local:
            assert await local.list_stages() == [{"id": "direct"}]
        async with DeployerClient("http://dss.example:11200", KEY) as remote:
            assert await remote.list_stages() == [{"id": "proxy"}]  # remote deployers honour the proxy
    finally:
        proxy.close()
        direct.close()
