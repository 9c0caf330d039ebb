"""The Textual app, the shell: it holds the session (client, data store, update tracker, config), shows what
the state objects post (notices, API errors), and owns the app-wide keys (quit, refresh, help, go to).

Screens live in `screens/` and own their actions (`action_*` methods beside their bindings; the object
actions the main and detail screens share are in `object_actions.py`), widgets in `widgets/`, the session
state in `state/`, row building and formatting in `view/`, the command palette in `commands.py`. Every
network call runs in a worker. Every action runs through `run_action`, which refuses the `mutating` ones
in read-only mode: the one place that check lives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App
from textual.binding import Binding

from deployer_tui.core.config import Config
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.actions import known_binding_ids, mutating_title, refusal
from deployer_tui.ui.commands import ActionsProvider, ResourcesProvider
from deployer_tui.ui.object_actions import ObjectActions
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.draft import quit_unless_unsaved
from deployer_tui.ui.screens.help import HelpScreen, help_rows, help_title
from deployer_tui.ui.screens.infra import InfraScreen
from deployer_tui.ui.screens.main import MainScreen
from deployer_tui.ui.screens.modals import ErrorScreen, GotoScreen
from deployer_tui.ui.screens.service import ServiceScreen
from deployer_tui.ui.state.canary_tracker import CanaryTracker
from deployer_tui.ui.state.data_store import DataStore
from deployer_tui.ui.state.messages import ApiError, CanaryFinished, CanaryProgressed, Notice, UpdateFinished
from deployer_tui.ui.state.update_tracker import UpdateTracker
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.widgets.header_bar import HeaderBar

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from deployer_tui.core.client import DeployerClient


@dataclass
class Session:
    """A live connection: the client, what the header calls it, and how to let it go on quit."""

    client: DeployerClient
    where: str
    close: Callable[[], Awaitable[None]] | None = None
    note: str = ""  # how the connection was chosen, for the header (profiles.Connection.note)
    key_origin: str = ""  # where the API key came from, in words, for the banner of a refused key


class DeployerApp(App):
    TITLE = "deployer-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ActionsProvider, ResourcesProvider}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True,
                tooltip="Leave deployer-tui (asks first if a settings draft is unsaved)"),
        Binding("ctrl+r", "refresh_now", "Refresh", id="app.refresh",
                tooltip="Reload the lists, health and the open detail"),
        Binding("question_mark,f1", "show_keys", "Help", id="app.help", tooltip="Show the keys of the current screen"),
        Binding("colon", "goto", "Go to", id="app.goto", tooltip="Open a deployment, infra or service by id (:deploy ID)"),
        Binding("ctrl+e", "error_details", "Last error", show=False, id="app.error_details",
                tooltip="The full details of the last API error"),
    ]

    def __init__(self, *, client: DeployerClient | None = None, where: str | None = None,
                 connect: Callable[[], Awaitable[Session]] | None = None, connect_status: str = "connecting…",
                 config: Config | None = None, read_only: bool = False,
                 presentation: Presentation | None = None) -> None:
        """Either a ready `client` (tests, --url) or `connect`, awaited in a worker after the first
        paint (the embedded local deployer takes a while to start)."""
        super().__init__()
        if (client is None) == (connect is None):
            raise ValueError("give exactly one of client= or connect=")
        self.config = config or Config()
        self.read_only = read_only or self.config.read_only
        self.refresh_interval = self.config.refresh_interval
        self.presentation = presentation or Presentation()
        self.session: Session | None = Session(client, where or client.url) if client is not None else None
        self._connect = connect
        self.where = self.session.where if self.session else ""
        self.connection_note = self.session.note if self.session else ""
        self.status_text = "" if client is not None else connect_status
        self.user = ""
        self.last_error: tuple[str, DeployerError] | None = None
        self.store = DataStore(self, client, clock=self.presentation.now)
        self.updates = UpdateTracker(self, client)
        self.canaries = CanaryTracker(self, client)
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        # Where each recent key was sent (see `on_event`); bounded, since keys a widget consumes never
        # come back to the app.
        self._key_targets: OrderedDict[events.Key, object] = OrderedDict()

    @property
    def client(self) -> DeployerClient:
        assert self.session is not None, "not connected yet"
        return self.session.client

    def on_mount(self) -> None:
        try:
            self.theme = self.config.theme
        except Exception:  # an unknown theme name must not stop the app
            self.notify(f"Unknown theme {self.config.theme!r}; using the default", severity="warning")
        if self.config.keymap:
            # After the first paint: knowing every binding id imports every screen (~0.2 s).
            self.call_after_refresh(self._check_keymap)
        self.push_screen(MainScreen())
        if self.session is None:
            self._open_session()
        else:
            self._connected()

    def _check_keymap(self) -> None:
        unknown = sorted(set(self.config.keymap) - known_binding_ids())
        if unknown:
            self.notify(f"[keymap] names no binding: {', '.join(unknown)}. `?` lists the binding ids of each screen.",
                        title="Config", severity="warning", timeout=15, markup=False)

    async def on_unmount(self) -> None:
        # A session this app opened (e.g. the embedded local deployer) is closed here, in the app's
        # own event loop; a client handed in by the caller stays the caller's to close.
        if self._connect is not None and self.session is not None and self.session.close is not None:
            await self.session.close()

    @work(group="session", exit_on_error=False)
    async def _open_session(self) -> None:
        assert self._connect is not None
        try:
            self.session = await self._connect()
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can only quit
            self.status_text = f"could not start: {exc}"
            self._refresh_headers()
            self.notify(str(exc), title="Could not connect", severity="error", timeout=30)
            return
        self.where = self.session.where
        self.connection_note = self.session.note
        self.status_text = ""
        self.store.key_origin = self.session.key_origin
        self.store.client = self.updates.client = self.canaries.client = self.session.client
        self._connected()

    def _connected(self) -> None:
        self.store.refresh()
        self._load_user()
        self._refresh_headers()
        self.call_after_refresh(self._offer_pending_canaries)

    def _offer_pending_canaries(self) -> None:
        from deployer_tui.ui.screens.canary import offer_pending  # only once connected

        offer_pending(self)

    @work(group="auth", exit_on_error=False)
    async def _load_user(self) -> None:
        try:
            info = await self.client.auth_info()
        except DeployerError:
            return  # the header just shows no user; list errors are reported by the store
        self.user = str(info.get("authIdentifier") or "")
        self._refresh_headers()

    def _refresh_headers(self) -> None:
        for header in self.screen.query(HeaderBar):
            header.refresh_text()

    # -- keys typed ahead of a focus change ------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        """Send a key typed ahead of a focus change to the widget that has focus now.

        Textual forwards each key to the widget focused when the key *arrives*; in a burst (a fast
        typist, a paste, keys batched by a slow SSH link) `/abc` would send `abc` to the table, whose
        screen bindings would then fire, instead of to the filter box that `/` opened. A key that
        comes back to the app unhandled from a widget that has lost the focus since is re-sent to the
        focused widget, as if it had been typed after the focus moved.
        """
        if isinstance(event, events.Key):
            if not event.is_forwarded:
                self._key_targets[event] = self.focused
                while len(self._key_targets) > 64:
                    self._key_targets.popitem(last=False)
            elif self._resend_typed_ahead(event):
                return
        await super().on_event(event)

    def _resend_typed_ahead(self, event: events.Key) -> bool:
        target = self._key_targets.pop(event, None)
        focused = self.focused
        if target is None or focused is None or focused is target:
            return False
        focused._forward_event(events.Key(event.key, event.character))
        return True

    # -- the one door of every action ------------------------------------------------------
    async def run_action(self, action: str | Any, default_namespace: DOMNode | None = None,
                         namespaces: Any = None) -> bool:
        """Every binding, footer click and palette entry runs here: a `mutating` action is refused in
        read-only mode (and says so), whichever screen or widget owns it."""
        if self.read_only and isinstance(action, str):
            known = {"app": self, "screen": self.screen, **(dict(namespaces) if namespaces else {})}
            title = mutating_title(action, self if default_namespace is None else default_namespace, known)
            if title is not None:
                self.notify(refusal(title), title="Refused", severity="warning")
                return True
        return await super().run_action(action, default_namespace, namespaces)

    # -- the app-wide actions --------------------------------------------------------------
    async def action_quit(self) -> None:
        if self.canaries.running_ids():
            from deployer_tui.ui.screens.canary import quit_unless_canaries  # only when one runs

            quit_unless_canaries(self, lambda: quit_unless_unsaved(self))
            return
        quit_unless_unsaved(self)

    def action_refresh_now(self) -> None:
        if self.session is None:
            self.notify("Not connected yet", severity="warning")
            return
        self.store.refresh()
        screen = self.screen
        if isinstance(screen, ObjectActions):
            screen.reload()

    def action_show_keys(self) -> None:
        screen = self.screen
        self.push_screen(HelpScreen(help_rows(screen), help_title(screen)))

    def action_goto(self) -> None:
        store = self.store
        completions = ([f"deploy {d}" for d in store.deployments] + [f"infra {i}" for i in store.infras]
                       + [f"service {s}" for s in store.services])

        def chosen(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            kind, ident = result
            known = {"deployment": store.deployments, "infra": store.infras, "service": store.services}[kind]
            if store.loaded and ident not in known:
                self.notify(f"No {kind} {ident!r}", severity="warning")
                return
            self.open_resource(kind, ident)

        self.push_screen(GotoScreen(completions), chosen)

    def action_error_details(self) -> None:
        if self.last_error is None:
            self.notify("No error so far")
            return
        context, error = self.last_error
        self.push_screen(ErrorScreen(f"Error {context}", error.describe()))

    # -- what the state objects ask of the shell ----------------------------------------------
    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, title=message.title, severity=message.severity,
                    **({"timeout": message.timeout} if message.timeout is not None else {}))

    def on_api_error(self, message: ApiError) -> None:
        self.report_error(message.error, message.context)

    def on_update_finished(self, message: UpdateFinished) -> None:
        # Only what the update changed: that deployment's light and heavy status (the lists reload
        # only if its id is gone), not every list and every heavy status.
        settled = message.run.settled
        self.store.refresh_deployment(message.run.deployment_id, settled.status if settled is not None else None)

    def on_canary_progressed(self, message: CanaryProgressed) -> None:
        if message.deployed:  # a step's split is on the nodes: the row's mapping changed
            self.store.refresh_deployment(message.run.deployment_id)

    def on_canary_finished(self, message: CanaryFinished) -> None:
        # A canary ends on a mapping of its own (the new version, or the previous one back): re-read it.
        self.store.forget_heavy(message.run.deployment_id)
        self.store.refresh_deployment(message.run.deployment_id)

    # -- services for screens and actions --------------------------------------------------
    def report_error(self, error: DeployerError, context: str) -> None:
        """An API error: a toast with errorType + message; ctrl+e shows the full details."""
        self.last_error = (context, error)
        self.notify(f"{error}\n(ctrl+e: details)", title=f"Error {context}", severity="error", timeout=8)

    @property
    def connected(self) -> bool:
        return self.session is not None

    def open_resource(self, kind: str, resource_id: str) -> None:
        screens = {"deployment": DeploymentScreen, "infra": InfraScreen, "service": ServiceScreen}
        self.push_screen(screens[kind](resource_id))
