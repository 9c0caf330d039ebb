"""What the fleet screen tests share: two real local deployers with demo content (different admin keys),
a config file naming them and a closed port as three contexts, and the app built on those contexts as
the console builds it (core/contexts.py `list_contexts`, one client per context from its connection)."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.config import load_config
from deployer_tui.core.contexts import Context, list_contexts
from deployer_tui.ui.state.session import Session
from deployer_tui.ui.view.formatting import Presentation
from tests import servers
from tests.ui.conftest import wait_for_demo
from tests.ui.helpers import RecordingApp

DEMO_IDS = {"titanic-on-dev", "toolbox-on-dev", "passengers-on-dev", "titanic-canary-on-dev", "titanic-on-test",
            "titanic-on-prod"}


@dataclass
class Deployers:
    urls: dict[str, str]  # context name -> URL
    keys: dict[str, str]
    down_url: str


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once the block ends


@pytest.fixture(scope="module")
def deployers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployers]:
    keys = {name: "admin-" + secrets.token_hex(8) for name in ("a", "b")}
    procs = {}
    try:
        for name, key in keys.items():
            procs[name] = servers.serve(tmp_path_factory.mktemp(f"fleet-{name}"), key, demo=True)
        for name, proc in procs.items():
            asyncio.run(wait_for_demo(proc.url(), keys[name]))
        yield Deployers({name: proc.url() for name, proc in procs.items()}, keys, closed_port_url())
    finally:
        for proc in procs.values():
            proc.stop()


def write_config(home: Path, deployers: Deployers, monkeypatch: pytest.MonkeyPatch, *,
                 production: set[str] = frozenset(), read_only: set[str] = frozenset()) -> None:
    """A config file with profiles a, b (keys by environment variables) and down; HOME without a
    ~/.dataiku/config.json, so those are the contexts (with `local`)."""
    lines = ["refresh_interval = 0", ""]
    for name in ("a", "b"):
        lines += [f"[profiles.{name}]", f'url = "{deployers.urls[name]}"', f'api_key_env = "FLEET_KEY_{name.upper()}"']
        if name in production:
            lines.append("production = true")
        if name in read_only:
            lines.append("read_only = true")
        lines.append("")
    lines += ["[profiles.down]", f'url = "{deployers.down_url}"', 'api_key_env = "FLEET_KEY_A"', ""]
    config_dir = home / "config" / "deployer-tui"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text("\n".join(lines))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("DEPLOYER_TUI_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(home))
    for name in ("a", "b"):
        monkeypatch.setenv(f"FLEET_KEY_{name.upper()}", deployers.keys[name])


def make_app(presentation: Presentation | None = None) -> RecordingApp:
    """The console on the config's contexts, `a` on screen (the first profile)."""
    present = presentation or Presentation()
    config = load_config()
    contexts = list_contexts(config)

    async def open_context(context: Context) -> Session:
        connection = context.connection()
        if connection.url is None:
            raise RuntimeError("the embedded local deployer is not started in these tests")
        client = DeployerClient(connection.url, connection.api_key or "", verify=connection.verify, retries=0)
        return Session(client, present.url(connection.url), client.aclose, key_origin=context.key_origin())

    return RecordingApp(contexts=contexts, open_context=open_context, config=config, presentation=present)


async def update_counts(deployers: Deployers) -> dict[tuple[str, str], int]:
    """How many update records the real deployers hold, per (context, deployment)."""
    counts = {}
    for name, url in deployers.urls.items():
        async with DeployerClient(url, deployers.keys[name]) as client:
            for dep in DEMO_IDS:
                counts[(name, dep)] = len(await client.list_updates(dep))
    return counts


async def updates_settled(deployers: Deployers, wanted: dict[tuple[str, str], int]) -> bool:
    """Each (context, deployment) has at least the wanted number of update records, none running."""
    for (name, dep), count in wanted.items():
        async with DeployerClient(deployers.urls[name], deployers.keys[name]) as client:
            updates = await client.list_updates(dep)
        if len(updates) < count or any(u.get("status") == "RUNNING" for u in updates):
            return False
    return True
