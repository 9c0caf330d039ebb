"""A real local deployer seeded for the settings-editor tests, and a small App hosting the editor.

The deployer runs with no API node (`--apinodes 0`): editing and saving settings never talks to a
node, and an update still starts as a job. Content is seeded through the client so every test
knows exactly what is there (the demo content may change).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from textual.app import App

from deployer_tui.core.client import DeployerClient
from deployer_tui.core.package import build_package
from deployer_tui.ui.screens.settings_editor import SettingsEditorScreen
from tests import servers

SERVICE = "fraud"
INFRA = "dev"
GOVERNED_INFRA = "gov"  # governCheckPolicy WARN: new versions need ignoreWarnings


def _package(root: Path, version: str) -> Path:
    src = root / f"pkg-{version}"
    (src / "endpoint-hello").mkdir(parents=True)
    (src / "tag.json").write_text(json.dumps({"generationId": version, "createdOn": 1700000000000}))
    (src / "config.json").write_text(json.dumps({
        "publicAccess": True, "authRealm": {"queryKeys": []},
        "endpoints": [{"id": "hello", "type": "PY_FUNCTION", "functionName": "hello"}],
    }))
    (src / "endpoint-hello" / "code.py").write_text("def hello(name='x'):\n    return 'hi ' + name\n")
    out, _ = build_package(src, root / f"{version}.zip")
    return out


async def _seed(url: str, key: str, root: Path) -> None:
    async with DeployerClient(url, key) as client:
        await client.create_infra(INFRA, "Development")
        await client.create_infra(GOVERNED_INFRA, "Production", govern_check_policy="WARN")
        await client.create_service(SERVICE)
        for version in ("v1", "v2"):
            await client.import_version(SERVICE, _package(root, version))


def start_seeded(root: Path, key: str) -> servers.Proc:
    proc = servers.serve(root / "data", key, apinodes=0)
    try:
        asyncio.run(_seed(proc.url(), key, root))
    except BaseException:
        proc.stop()
        raise
    return proc


class EditorHarness(App):
    """Hosts one SettingsEditorScreen on a real client; stands in for the main app's read-only
    check (`check_mutation`) and records notifications."""

    def __init__(self, url: str, key: str, kind: str, object_id: str, *, read_only: bool = False,
                 open_external: bool = False, wrap: Callable[[DeployerClient], object] | None = None) -> None:
        super().__init__()
        self.real_client = DeployerClient(url, key)
        self.client = wrap(self.real_client) if wrap else self.real_client
        self.kind, self.object_id = kind, object_id
        self.read_only = read_only
        self.user = ""  # who the shell says is connected (a form stamps new API keys with it)
        self.open_external = open_external
        self.refused: list[str] = []
        self.messages: list[str] = []

    def check_mutation(self, what: str) -> bool:
        if self.read_only:
            self.refused.append(what)
            self.notify(f"Read-only mode: cannot {what}", severity="warning")
            return False
        return True

    def notify(self, message: str, **kwargs) -> None:  # type: ignore[override]
        self.messages.append(str(message))
        super().notify(message, **kwargs)

    def on_mount(self) -> None:
        self.push_screen(SettingsEditorScreen(self.client, self.kind, self.object_id,  # type: ignore[arg-type]
                                              check_mutation=self.check_mutation,
                                              open_external=self.open_external))

    async def on_unmount(self) -> None:
        await self.real_client.aclose()

