"""The headless client (core/) against `serve --dss-strict`: it claims nothing the answers do not say."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from deployer_tui.core import job_follower, readers
from deployer_tui.core.client import DeployerClient, Timeouts
from deployer_tui.core.errors import DeployerError
from deployer_tui.core.job_follower import FutureEvent
from tests.deployer.conftest import ADMIN_KEY, BlackHole, make_package
from tests.strict.conftest import Env, dead_url


@pytest.fixture
async def dss(strict_env: Env) -> AsyncIterator[DeployerClient]:
    async with DeployerClient(strict_env.url, ADMIN_KEY) as client:
        yield client


async def follow(client: Any, job_id: str, *, claim: bool = True) -> list[FutureEvent]:
    events = [e async for e in job_follower.follow_future(client, job_id, interval=0.05, max_interval=0.2,
                                                          claim=claim)]
    assert events and (events[-1].done or events[-1].error is not None)
    return events


async def update(client: Any, deployment_id: str, **kw: Any) -> tuple[list[FutureEvent], job_follower.Settled]:
    started = await client.start_update(deployment_id)
    events = await follow(client, started["jobId"], **kw)
    return events, await job_follower.settle(client, deployment_id, events[-1])


async def test_a_failure_told_only_by_messages_is_not_success(strict_env: Env, dss: DeployerClient) -> None:
    strict_env.infra("half", [strict_env.node_url, dead_url()])
    strict_env.deployment("echo-on-half", "half")
    events, settled = await update(dss, "echo-on-half")
    result = events[-1].result
    assert "nbOKNodes" not in result and "error" not in result and result["maxSeverity"] == "ERROR"
    assert job_follower.outcome(events[-1]) == "FAILED"
    # The record says some node was fine: a partial failure, not SUCCESS.
    assert settled.state == "WARNING" and settled.record["status"] == "WARNING"
    assert settled.health is not None
    lines = [line for e in events for line in e.new_lines]
    assert lines, "a deployer without peek logs is polled by claims, which carry the log"
    progress = job_follower.NodeProgress()
    progress.add(lines)
    assert not progress.reported and progress.state(strict_env.node_url) == "not reported"

    strict_env.infra("all-dead", [dead_url()])
    strict_env.deployment("echo-on-dead", "all-dead")
    _events, settled = await update(dss, "echo-on-dead")
    assert settled.state == "FAILED"


async def test_a_claim_answered_no_such_future_reads_the_record(strict_env: Env, dss: DeployerClient) -> None:
    strict_env.deployment("echo-stolen", "live")

    class Raced(DeployerClient):
        """Someone else (another session) claims each finished job just before we do."""

        async def get_future(self, job_id: str, peek: bool = False) -> dict:
            if not peek:
                with contextlib.suppress(DeployerError):
                    await dss.get_future(job_id, peek=False)
            return await super().get_future(job_id, peek=peek)

    async with Raced(strict_env.url, ADMIN_KEY) as raced:
        events, settled = await update(raced, "echo-stolen")
    assert events[-1].gone and events[-1].result is None
    assert settled.state == "SUCCESS" and settled.evidence == "record"
    assert settled.record is not None and settled.record["status"] == "SUCCESS"


async def test_a_peek_answering_the_jobs_error_is_failed(strict_env: Env, dss: DeployerClient) -> None:
    strict_env.infra("empty", [])
    strict_env.deployment("echo-on-empty", "empty")
    events, settled = await update(dss, "echo-on-empty", claim=False)  # peeks only
    assert events[-1].done and events[-1].error is not None
    assert "no API nodes" in str(events[-1].error)
    assert job_follower.outcome(events[-1]) == "FAILED" and settled.state == "FAILED"


async def test_a_deployed_deployment_without_last_update(strict_env: Env, dss: DeployerClient) -> None:
    strict_env.deployment("echo-history", "live")
    light = await dss.get_deployment("echo-history")
    assert readers.never_deployed(light) is True
    _events, settled = await update(dss, "echo-history")
    assert settled.state == "SUCCESS"
    with pytest.raises(DeployerError) as caught:
        await dss.get_update("echo-history")
    assert caught.value.status == 404
    record = await job_follower.last_update_record(dss, "echo-history")
    assert record is not None and record["status"] == "SUCCESS"
    assert readers.never_deployed(await dss.get_deployment("echo-history")) is False
    heavy = await dss.get_deployment_status("echo-history")
    assert not readers.nodes_reported(heavy) and readers.node_health(heavy, strict_env.node_url) is None


async def test_already_running_without_409(strict_env: Env, dss: DeployerClient, black_hole: BlackHole) -> None:
    strict_env.infra("stuck", [black_hole.url])
    strict_env.deployment("echo-stuck", "stuck")
    first = await dss.start_update("echo-stuck")
    try:
        again = await job_follower.start_or_follow(dss, "echo-stuck")
        assert again.response is None and again.error is None and again.running is not None
        # No payload targets in strict futures lists: the running record tells.
        assert again.running.source == "record" and again.running.start_timestamp
    finally:
        await job_follower.abort(dss, first["jobId"])
    events = [e async for e in job_follower.follow_update_record(
        dss, "echo-stuck", again.running.start_timestamp, interval=0.05)]
    assert events[-1].done and job_follower.record_outcome(events[-1].result) == "ABORTED"


async def test_a_refusal_with_nothing_running_is_shown_as_is(strict_env: Env, dss: DeployerClient) -> None:
    started = await job_follower.start_or_follow(dss, "no-such-deployment")
    assert started.running is None and started.error is not None and started.error.status == 404


# ---- HTTP as a careful client ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redirector(target: str) -> AsyncIterator[str]:
    """A loopback listener answering every request with 307 to the same path on `target`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        if length:
            await reader.readexactly(length)
        writer.write(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_base_url_behind_a_redirect(strict_env: Env) -> None:
    async with redirector(strict_env.url) as moved, DeployerClient(moved, ADMIN_KEY) as client:
        assert [s["id"] for s in await client.list_stages()][:1] == ["Development"]
        assert client.moved_to == strict_env.url
        with pytest.raises(DeployerError) as missing:  # a lean lane's GET is redirected through httpx
            await client.get_deployment_status("no-such-deployment", lane=0)
        assert missing.value.status == 404 and missing.value.error_type.endswith("NotFoundException")
        assert strict_env.url in (client.redirect_notice or "")
        with pytest.raises(DeployerError) as caught:
            await client.create_service("never-sent")
        assert caught.value.error_type == "Redirected" and strict_env.url in str(caught.value)
    port = strict_env.url.rsplit(":", 1)[1]
    async with redirector(f"http://localhost:{port}") as elsewhere, DeployerClient(elsewhere, ADMIN_KEY) as client:
        with pytest.raises(DeployerError, match="another host"):
            await client.list_stages()


@contextlib.asynccontextmanager
async def slow_proxy(target: str) -> AsyncIterator[str]:
    """A loopback proxy to `target` that forwards an import (POST …/versions) but never passes its answer
    on: the deployer does the import, the client waits past its timeout."""
    host, port = target.split("//", 1)[1].split(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        held = asyncio.Event()

        async def upstream() -> None:
            while chunk := await reader.read(65536):
                if chunk.startswith(b"POST ") and b"/versions HTTP/1.1" in chunk.split(b"\r\n", 1)[0]:
                    held.set()
                up_writer.write(chunk)
                await up_writer.drain()

        async def downstream() -> None:
            while chunk := await up_reader.read(65536):
                if not held.is_set():
                    writer.write(chunk)
                    await writer.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        up_writer.close()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_a_timed_out_import_that_succeeded(strict_env: Env, tmp_path: Any) -> None:
    package = make_package(tmp_path, "v7")
    async with slow_proxy(strict_env.url) as slow, \
            DeployerClient(slow, ADMIN_KEY, timeout=Timeouts(connect=5, read=10, long_read=1.0)) as client:
        note = await client.import_version("echo", package)
        assert note is not None and "v7" in note
        assert "v7" in [p["id"] for p in (await client.get_service("echo"))["packages"]]
        # Again: the deployer refuses a duplicate, and a version there before proves nothing.
        with pytest.raises(DeployerError, match="did not answer in time"):
            await client.import_version("echo", make_package(tmp_path, "v7"))
