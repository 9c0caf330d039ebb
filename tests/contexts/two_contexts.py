"""Fixtures for the console's contexts, imported by the test modules that use them: two real local
deployers (`serve`, demo data, different admin keys and data dirs, port 0), each behind a loopback
recording proxy (what the console sent it, byte for byte, and a way to hold its answers back), a port
where nothing listens, and the console config naming the three as contexts (XDG_CONFIG_HOME)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import load_config
from deployer_tui.core.contexts import list_contexts
from deployer_tui.ui.launch import context_opener
from tests import servers
from tests.ui.conftest import wait_for_demo
from tests.ui.helpers import RecordingApp


class RecordingProxy:
    """A TCP proxy on loopback in front of one deployer: keeps every byte the console sent through it;
    `hold()` stops forwarding them (the console's requests wait, unanswered) until `release()`; `cut()`
    makes the deployer unreachable (the open connections dropped, new ones refused) until `restore()`
    listens on the same port again."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.flowing = threading.Event()
        self.flowing.set()
        self.closed = False
        self.live: set[socket.socket] = set()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self.closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                conn.close()
                continue
            with self.lock:
                self.live |= {conn, upstream}
            threading.Thread(target=self._pipe, args=(conn, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, conn, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, outgoing: bool) -> None:
        try:
            while data := src.recv(65536):
                if outgoing:
                    self.flowing.wait()
                    with self.lock:
                        self.sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def requests(self) -> int:
        """Requests the console sent so far (each starts with a request line)."""
        with self.lock:
            return bytes(self.sent).count(b" HTTP/1.1\r\n")

    def saw_key(self, key: str) -> bool:
        """Whether `key` crossed this proxy, as sent (Basic auth) or raw."""
        basic = base64.b64encode(f"{key}:".encode()).decode()
        with self.lock:
            data = bytes(self.sent)
        return key.encode() in data or basic.encode() in data

    def hold(self) -> None:
        self.flowing.clear()

    def release(self) -> None:
        self.flowing.set()

    def cut(self) -> None:
        """Unreachable: refuse new connections and drop the open ones (held requests fail, unsent)."""
        # shutdown first: a bare close leaves the thread blocked in accept() on the listening socket,
        # which would go on accepting.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            live, self.live = self.live, set()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.release()  # the held pipes wake on dropped sockets: what they held is never forwarded

    def restore(self) -> None:
        """Reachable again, at the same URL."""
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.release()
        self.listener.close()


@dataclass
class Deployer:
    proc: servers.Proc
    key: str
    proxy: RecordingProxy

    @property
    def direct(self) -> str:
        return self.proc.url("deployer")


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # closed when the block ends: nothing listens


async def _all_production(url: str, key: str) -> None:
    """Every infra of this deployer in the Production stage: production by the stage rule alone."""
    async with DeployerClient(url, key) as client:
        for infra in await client.list_infras():
            infra_id = infra["infraBasicInfo"]["id"]
            settings = await client.get_infra_settings(infra_id)
            settings["stage"] = "Production"
            await client.save_infra_settings(infra_id, settings)


@pytest.fixture(scope="module", name="deployers")
def deployers_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Deployer]]:
    """alpha and beta: two demo deployers; beta's infras are all in the Production stage."""
    keys = {name: f"admin-{name}-" + secrets.token_hex(10) for name in ("alpha", "beta")}
    procs: dict[str, servers.Proc] = {}
    proxies: list[RecordingProxy] = []
    try:
        for name, key in keys.items():
            procs[name] = servers.serve(tmp_path_factory.mktemp(f"ctx-{name}"), key, apinodes=1, demo=True)
        for name, proc in procs.items():
            asyncio.run(wait_for_demo(proc.url("deployer"), keys[name]))
        asyncio.run(_all_production(procs["beta"].url("deployer"), keys["beta"]))
        found = {}
        for name, proc in procs.items():
            proxy = RecordingProxy(proc.url("deployer"))
            proxies.append(proxy)
            found[name] = Deployer(proc, keys[name], proxy)
        yield found
    finally:
        for proxy in proxies:
            proxy.close()
        for proc in procs.values():
            proc.stop()


def write_config(home: Path, deployers: dict[str, Deployer], extra: dict[str, str] | None = None,
                 down: str | None = None) -> None:
    """The console config under `home` (XDG_CONFIG_HOME): alpha, beta through their proxies, and `down`;
    `extra` adds lines to a profile's table (production, color, read_only)."""
    lines = []
    for name, deployer in deployers.items():
        lines += [f"[profiles.{name}]", f'url = "{deployer.proxy.url}"', f'api_key_env = "{name.upper()}_KEY"']
        lines += (extra or {}).get(name, "").splitlines()
    lines += ["[profiles.down]", f'url = "{down or closed_port_url()}"', 'api_key = "down-key-not-secret"']
    folder = home / "deployer-tui"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds a key (down's)


def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deployers: dict[str, Deployer],
             extra: dict[str, str] | None = None) -> RecordingApp:
    """The console as `deployer-tui` builds it: the contexts of the config file (no ~/.dataiku), alpha first."""
    home = tmp_path / "xdg-config"
    write_config(home, deployers, extra)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("DEPLOYER_TUI_CONFIG", raising=False)
    for name, deployer in deployers.items():
        monkeypatch.setenv(f"{name.upper()}_KEY", deployer.key)
    config = load_config()
    config.refresh_interval = 0  # no timer: every refresh in these tests is one the test caused
    contexts = list_contexts(config, dataiku_config=tmp_path / "no-dataiku-config.json")
    return RecordingApp(contexts=contexts, open_context=context_opener(config, tmp_path / "local-data"),
                        config=config)
