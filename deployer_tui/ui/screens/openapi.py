"""A deployment's OpenAPI document and its governance status messages (both read from the deployer, see
docs/protocol.md).

The OpenAPI view lists every path with its methods and summary; `v` switches to the raw JSON, `y` copies it.
A 404 from the deployer is not an error here: it means no deployed endpoint documents itself.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static, TextArea

from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.clipboard import copy_text
from deployer_tui.ui.screens.create_forms import error_text
from deployer_tui.ui.shell import ContextToasts
from deployer_tui.ui.view.formatting import SEVERITY_STYLES
from deployer_tui.ui.widgets.key_footer import KeyFooter

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def openapi_operations(document: Any) -> list[tuple[str, str, str]]:
    """(METHOD, path, summary) for every operation, in document order."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return []
    ops = []
    for path, item in document["paths"].items():
        if not isinstance(item, dict):
            continue
        for method, op in item.items():
            if method.lower() not in HTTP_METHODS:
                continue
            op = op if isinstance(op, dict) else {}
            summary = str(op.get("summary") or op.get("description") or op.get("operationId") or "")
            ops.append((method.upper(), str(path), summary.splitlines()[0] if summary else ""))
    return ops


class OpenAPIScreen(ContextToasts, Screen[None]):
    DEFAULT_CSS = """
    OpenAPIScreen #oa-header { text-style: bold; padding: 0 1; }
    OpenAPIScreen #oa-status { padding: 0 1; height: auto; }
    OpenAPIScreen #oa-table, OpenAPIScreen #oa-raw { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back", id="openapi.close"),
        Binding("v", "toggle_raw", "Raw JSON / list", id="openapi.toggle_raw"),
        Binding("y", "copy", "Copy JSON", id="openapi.copy"),
    ]

    def __init__(self, client: Any, deployment_id: str) -> None:
        super().__init__()
        self.client = client
        self.deployment_id = deployment_id
        self.document: Any = None

    def compose(self) -> ComposeResult:
        yield Label(f"OpenAPI — deployment {self.deployment_id}", id="oa-header")
        yield Static("Loading…", id="oa-status")
        table: DataTable = DataTable(id="oa-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("method", "path", "summary")
        yield table
        yield TextArea("", language="json", read_only=True, id="oa-raw")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#oa-raw").display = False
        self.load()

    @work(exclusive=True, group="openapi-load")
    async def load(self) -> None:
        status = self.query_one("#oa-status", Static)
        try:
            document = await self.client.get_open_api(self.deployment_id)
        except DeployerError as exc:
            if exc.status == 404:
                status.update("No OpenAPI documentation: none of this deployment's endpoints documents itself "
                              "(or it is not deployed yet).")
            else:
                status.update(f"[red]Could not get the OpenAPI document:[/red] {escape(error_text(exc))}")
            return
        if isinstance(document, str):  # served as JSON text; tolerate a client that hands back the text
            with contextlib.suppress(json.JSONDecodeError):
                document = json.loads(document)
        self.document = document
        ops = openapi_operations(document)
        info = document.get("info", {}) if isinstance(document, dict) else {}
        spec = (document.get("swagger") or document.get("openapi") or "?") if isinstance(document, dict) else "?"
        status.update(Text(f"{info.get('title', '')} {info.get('version', '')} — OpenAPI {spec}, "
                           f"{len(ops)} operation(s). v: raw JSON, y: copy"))
        table = self.query_one("#oa-table", DataTable)
        for i, (method, path, summary) in enumerate(ops):
            table.add_row(method, path, summary, key=str(i))
        self.query_one("#oa-raw", TextArea).text = json.dumps(document, indent=2, ensure_ascii=False)
        table.focus()

    def action_toggle_raw(self) -> None:
        raw = self.query_one("#oa-raw")
        table = self.query_one("#oa-table")
        raw.display, table.display = not raw.display, raw.display
        (raw if raw.display else table).focus()

    def action_copy(self) -> None:
        if self.document is None:
            self.notify("No OpenAPI document to copy", severity="warning")
            return
        copy_text(self.app, json.dumps(self.document, indent=2, ensure_ascii=False), "OpenAPI JSON")

    def action_close(self) -> None:
        self.dismiss(None)


def governance_lines(info: Any) -> list[tuple[str, str]]:
    """(severity, text) per governance message, most severe first."""
    order = {"ERROR": 0, "WARNING": 1, "INFO": 2, "SUCCESS": 3}
    messages = info.get("messages") if isinstance(info, dict) else None
    lines = []
    for m in messages or []:
        if not isinstance(m, dict):
            continue
        text = " — ".join(str(m[k]) for k in ("title", "message", "details") if m.get(k))
        lines.append((str(m.get("severity") or "INFO"), text or json.dumps(m)))
    return sorted(lines, key=lambda line: order.get(line[0], 9))


class GovernanceScreen(ContextToasts, Screen[None]):
    """Govern sign-off messages for the versions a deployment serves (or one version)."""

    DEFAULT_CSS = """
    GovernanceScreen #gov-header { text-style: bold; padding: 0 1; }
    GovernanceScreen #gov-body { padding: 0 1; height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Back", id="governance.close")]

    def __init__(self, client: Any, deployment_id: str, version: str = "") -> None:
        super().__init__()
        self.client = client
        self.deployment_id = deployment_id
        self.version = version

    def compose(self) -> ComposeResult:
        which = f"version {self.version}" if self.version else "the versions it serves"
        yield Label(f"Governance status — deployment {self.deployment_id}, {which}", id="gov-header")
        yield Static("Loading…", id="gov-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, group="governance-load")
    async def load(self) -> None:
        body = self.query_one("#gov-body", Static)
        try:
            info = await self.client.get_governance_status(self.deployment_id, self.version)
        except DeployerError as exc:
            body.update(f"[red]Could not get the governance status:[/red] {escape(error_text(exc))}")
            return
        lines = governance_lines(info)
        if not lines:
            body.update("No governance message: nothing to sign off, or this deployer has no Govern "
                        "integration (the infra's govern check policy decides what is enforced).")
            return
        text = Text()
        for sev, line in lines:
            text.append(f"{sev:<8} ", style=SEVERITY_STYLES.get(sev, ""))
            text.append(line + "\n")
        body.update(text)

    def action_close(self) -> None:
        self.dismiss(None)
