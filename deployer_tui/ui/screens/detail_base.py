"""What the three detail screens share: header, banner, a scrolling body, loading in a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from deployer_tui.core.errors import ConnectionLost, DeployerError
from deployer_tui.ui.actions import object_bindings
from deployer_tui.ui.object_actions import ObjectActions
from deployer_tui.ui.state.messages import ConnectionChanged, DataChanged
from deployer_tui.ui.view import rows
from deployer_tui.ui.widgets.banner import ConnectionBanner
from deployer_tui.ui.widgets.header_bar import HeaderBar
from deployer_tui.ui.widgets.key_footer import KeyFooter
from deployer_tui.ui.widgets.resource_table import ResourceTable


def section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


async def light_and(light: Awaitable[dict], other: Awaitable[dict]) -> tuple[dict, dict | DeployerError]:
    """The light status and a second read, together. The second may fail (the screen shows why in its
    place) but not the light status; a lost connection fails both."""
    light_task = asyncio.ensure_future(light)
    try:
        second: dict | DeployerError = await other
    except ConnectionLost:
        light_task.cancel()
        raise
    except DeployerError as exc:
        second = exc
    return await light_task, second


AGES_TICK_SECONDS = 1.0


class DetailScreen(ObjectActions):
    """Subclasses set `kind`, implement `fetch()` (network, runs in a worker) and `render_body(data)`."""

    kind = "resource"
    DEFAULT_CSS = """
    DetailScreen #body { height: 1fr; padding: 0 1; }
    DetailScreen ResourceTable { height: auto; max-height: 16; border: round $panel-lighten-2; }
    DetailScreen ResourceTable:focus { border: round $accent; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back to the previous screen"),
        Binding("q", "back", "Back", show=False, id="detail.back_q", tooltip="Back to the previous screen"),
        *object_bindings("detail", {"delete", "copy", "edit_settings", "update"}),
    ]

    def __init__(self, resource_id: str) -> None:
        super().__init__()
        self.resource_id = resource_id
        self.data: Any = None

    def compose(self) -> ComposeResult:
        yield HeaderBar(crumb=f"{self.kind} {self.resource_id}")
        yield ConnectionBanner(id="banner")
        with VerticalScroll(id="body"):
            yield Static(Text("loading…", style="dim italic"), id="summary")
            yield from self.compose_extra()
        yield KeyFooter()

    def compose_extra(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.shell.store.subscribe(self)
        store = self.shell.store
        if store.connection_error is not None:
            self.query_one(ConnectionBanner).show_error(store.connection_error, store.retry_in)
        self._suspended = False
        # Like the main screen: reload on the store's interval, and redraw every second so that relative
        # times ("12s ago") move; both pause while another screen is on top.
        self._own_timers = [self.set_interval(AGES_TICK_SECONDS, self._tick_ages, name="detail-ages")]
        if self.shell.refresh_interval > 0:
            self._own_timers.append(self.set_interval(self.shell.refresh_interval, self._auto_reload,
                                                  name="detail-refresh"))
        self.reload()

    def on_unmount(self) -> None:
        self.shell.store.unsubscribe(self)

    def on_screen_suspend(self) -> None:
        self._suspended = True
        for timer in self._own_timers:
            timer.pause()

    def on_screen_resume(self) -> None:
        for timer in self._own_timers:
            timer.resume()
        if self._suspended:
            # Back from a screen on top (the settings editor, an update): it may have changed what this
            # screen shows, so read it again now rather than at the next tick.
            self._suspended = False
            self.query_one(HeaderBar).refresh_text()
            self.reload()

    def _auto_reload(self) -> None:
        if self.shell.store.connection_error is None:
            self._load(quiet=True)

    def _tick_ages(self) -> None:
        self.query_one(HeaderBar).refresh_text()
        if self.data is not None:
            self.render_body(self.data)

    def reload(self) -> None:
        self._load()

    @work(group="detail", exclusive=True, exit_on_error=False)
    async def _load(self, quiet: bool = False) -> None:
        try:
            data = await self.fetch()
        except DeployerError as exc:
            if quiet and self.data is not None:
                return  # an automatic reload keeps what it showed; ctrl+r reports the error
            self.query_one("#summary", Static).update(Text(f"Could not load {self.kind} {self.resource_id}:\n{exc}",
                                                           style="red"))
            self.shell.report_error(exc, f"loading {self.kind} {self.resource_id}")
            return
        self.data = data
        self.render_body(data)

    async def fetch(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_body(self, data: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @on(ConnectionChanged)
    def _connection_changed(self, message: ConnectionChanged) -> None:
        banner = self.query_one(ConnectionBanner)
        if message.error is None:
            banner.clear_error()
            self.reload()
        else:
            banner.show_error(message.error, message.retry_in)

    @on(DataChanged)
    def _data_changed(self, message: DataChanged) -> None:
        self.query_one(HeaderBar).refresh_text()
        if self.kind == "deployment" and self.resource_id in message.health_ids:
            # The store re-read this deployment (an update finished, say): so does its screen, at once.
            self.reload()
        self.on_store_changed(message)

    def on_store_changed(self, message: DataChanged) -> None:
        pass

    # -- a deployments table, shared by the service and infra screens -----------------------
    def fill_deployments(self, ids: list[str]) -> None:
        store = self.shell.store
        table = self.query_one("#deployments", ResourceTable)
        table.set_records({
            d: rows.deployment_row(store.deployments[d], store.health(d),
                                   rows.infra_stage(store.infras, store.deployments[d]))
            for d in ids if d in store.deployments
        })

    @on(ResourceTable.RowSelected, "#deployments")
    def _open_deployment(self, event: ResourceTable.RowSelected) -> None:
        event.stop()
        if event.key:
            self.shell.open_resource("deployment", event.key)

    # -- what the object actions act on -----------------------------------------------------------
    def focused_object(self) -> tuple[str, str] | None:
        """The highlighted row of the deployments table when it has the focus, else the object shown."""
        focused = self.focused
        if isinstance(focused, ResourceTable) and focused.id == "deployments" and focused.current_key:
            return "deployment", str(focused.current_key)
        return self.kind, self.resource_id

    def create_defaults(self) -> dict[str, str]:
        return {f"{self.kind}_id": self.resource_id} if self.kind in ("service", "infra") else {}

    def shows(self, found: tuple[str, str]) -> bool:
        return (self.kind, self.resource_id) == found

    def action_back(self) -> None:
        if len(self.app.screen_stack) <= 2:
            self.app.exit()
        else:
            self.app.pop_screen()


class DeploymentsDetailScreen(DetailScreen):
    """A detail screen listing its deployments (service, infra): the ones its light status names, plus the
    store's, fresher once loaded, while the light status covers a cold store."""

    def compose_extra(self) -> ComposeResult:
        yield ResourceTable(rows.DEPLOYMENT_COLUMNS, title="deployments", id="deployments",
                            display=rows.DEPLOYMENT_DISPLAY)

    def light_status(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def store_deployment_ids(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def fill_listed_deployments(self) -> None:
        light = self.light_status()
        ids = [str(d.get("id")) for d in light.get("deployments") or [] if d.get("id")]
        self.fill_deployments(sorted(set(ids) | set(self.store_deployment_ids())))

    def on_store_changed(self, message: DataChanged) -> None:
        if self.data is not None:
            self.fill_listed_deployments()
