"""TLS verification: on by default, off with verify=False (--insecure), a CA bundle with verify=PATH (--ca-bundle).

A throw-away HTTPS server on loopback with a self-signed certificate made by the openssl CLI.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deployer_tui.core import http1
from deployer_tui.core.client import DeployerClient
from deployer_tui.core.errors import ConnectionLost

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")

BODY = b'[{"id": "Development", "desc": "Development"}]'


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    crt, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    return crt, key


@pytest.fixture
async def https_url(cert: tuple[Path, Path]) -> AsyncIterator[str]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readuntil(b"\r\n\r\n")):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


async def test_verification_on_by_default(https_url: str) -> None:
    async with DeployerClient(https_url, "k", retries=0) as client:
        with pytest.raises(ConnectionLost) as info:
            await client.list_stages()
    assert "TLS" in str(info.value) and "certificate" in str(info.value).lower()


async def test_insecure_skips_verification(https_url: str) -> None:
    async with DeployerClient(https_url, "k", verify=False) as client:
        assert (await client.list_stages())[0]["id"] == "Development"


async def test_ca_bundle(https_url: str, cert: tuple[Path, Path]) -> None:
    async with DeployerClient(https_url, "k", verify=str(cert[0])) as client:
        assert (await client.list_stages())[0]["id"] == "Development"


def test_missing_ca_bundle_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CA bundle"):
        DeployerClient("https://h", "k", verify=str(tmp_path / "nope.pem"))


async def test_lanes_verify_like_the_shared_pool(https_url: str, cert: tuple[Path, Path]) -> None:
    """Bulk heavy statuses go through lean lanes (core/http1.py): same TLS context, same verification."""
    async with DeployerClient(https_url, "k", retries=0) as client:
        with pytest.raises(ConnectionLost) as info:
            await client.get_deployment_status("d", lane=0)
        assert isinstance(client._lanes[0], http1.Connection)
    assert "TLS" in str(info.value) and "certificate" in str(info.value).lower()
    for verify in (False, str(cert[0])):
        async with DeployerClient(https_url, "k", verify=verify) as client:
            assert (await client.get_deployment_status("d", lane=0))[0]["id"] == "Development"
            assert (await client.get_deployment_status("e", lane=0))[0]["id"] == "Development"
            assert isinstance(client._lanes[0], http1.Connection)
