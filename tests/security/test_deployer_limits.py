"""Limits: request bodies are capped (16 MiB by default, `serve --max-body-mb`), with an error that says
so, and nothing is stored; admin keys are compared in constant time."""

from __future__ import annotations

import base64
import hmac
import json

import pytest
from starlette.requests import Request

from deployer_tui.server.deployer.auth import authenticate
from deployer_tui.server.deployer.database import Store
from deployer_tui.server.http import DSSHTTPError
from tests.deployer.conftest import ADMIN_KEY
from tests.security.deployer_env import DEPLOYMENT, refusal, start


def _padded_settings(settings: dict, size: int) -> str:
    return json.dumps({**settings, "tags": ["x" * 1024] * (size // 1030)})


def test_request_bodies_are_capped(tmp_path):
    env = start(tmp_path / "default")
    try:
        with env.http() as http:
            path = f"/api-deployer/deployments/{DEPLOYMENT}/settings"
            settings = http.get(path).json()
            refusal(http.put(path, content=_padded_settings(settings, 50 * 1024 * 1024)), "too large", "16 MiB")
            assert http.get(path).json() == settings
            assert http.put(path, content=_padded_settings(settings, 2 * 1024 * 1024)).status_code == 200
    finally:
        env.proc.stop()

    env = start(tmp_path / "one-mib", extra=["--max-body-mb", "1"])
    try:
        with env.http() as http:
            path = f"/api-deployer/deployments/{DEPLOYMENT}/settings"
            settings = http.get(path).json()
            refusal(http.put(path, content=_padded_settings(settings, 2 * 1024 * 1024)), "too large", "1 MiB")
            assert http.get(path).json() == settings
    finally:
        env.proc.stop()


def _request(key: str) -> Request:
    header = b"Basic " + base64.b64encode(f"{key}:".encode())
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"authorization", header)]})


def test_admin_keys_are_compared_in_constant_time(tmp_path, monkeypatch):
    """Timing cannot be asserted reliably over loopback, so this checks the comparison the deployer's
    authentication makes: hmac.compare_digest, whose time does not depend on where the keys differ."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a, b):  # the real comparison, recorded
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    store = Store(tmp_path)
    try:
        assert authenticate(_request(ADMIN_KEY), ADMIN_KEY, store).is_admin
        with pytest.raises(DSSHTTPError) as refused:
            authenticate(_request(ADMIN_KEY[:-1] + "x"), ADMIN_KEY, store)
        assert refused.value.status == 401
    finally:
        store.close()
    assert compared == [(ADMIN_KEY.encode(), ADMIN_KEY.encode()), ((ADMIN_KEY[:-1] + "x").encode(), ADMIN_KEY.encode())]
