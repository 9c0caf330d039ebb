"""Shared helpers for the local deployer tests: version packages built from folders, a node that
never answers (to hold an update RUNNING deterministically), and polling with a deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dataikuapi
import pytest

from deployer_tui.core.package import build_package

ADMIN_KEY = "test-admin-key"

ECHO_CODE = '''
VERSION = "{version}"


def echo(**kwargs):
    return {{"version": VERSION, "args": kwargs}}
'''


def make_package(root: Path, version: str, *, endpoint: str = "echo", public: bool = True,
                 query_key: str = "query-key-1", extra_files: dict[str, str] | None = None,
                 config: dict[str, Any] | None = None) -> Path:
    """A PY_FUNCTION package whose answer says which version served it."""
    src = root / f"src-{version}-{time.monotonic_ns()}"
    (src / f"endpoint-{endpoint}").mkdir(parents=True)
    (src / "tag.json").write_text(json.dumps({"generationId": version}))
    cfg = config or {"publicAccess": public,
                     "authRealm": {"queryKeys": [] if public else [{"key": query_key, "label": "t"}]},
                     "endpoints": [{"id": endpoint, "type": "PY_FUNCTION", "userFunctionName": "echo"}]}
    (src / "config.json").write_text(json.dumps(cfg))
    (src / f"endpoint-{endpoint}" / "code.py").write_text(ECHO_CODE.format(version=version))
    (src / f"testqueries-{endpoint}.json").write_text(json.dumps([{"q": {"x": 1}}, {"q": {"x": 2}}]))
    for name, text in (extra_files or {}).items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    out, _ = build_package(src, root / f"{src.name}.zip")
    return out


def client(url: str, key: str = ADMIN_KEY) -> dataikuapi.DSSClient:
    return dataikuapi.DSSClient(url, key)


def serve_with_node(root: Path) -> tuple[Any, Any, str]:
    """`deployer-tui serve` with one API node, data in `root/data`: (the process, the official client's
    API Deployer, the node's admin key)."""
    from tests.servers import serve

    proc = serve(root / "data", ADMIN_KEY, apinodes=1)
    node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
    return proc, client(proc.url()).get_apideployer(), node_key


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class BlackHole:
    """A TCP listener that accepts connections and never answers: an API node that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)
            self.accepted += 1

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()
