"""The Textual app, the shell: it holds the contexts (`app.contexts`, ui/state/contexts_state.py: per context
its session, data store, update and canary trackers; `store`, `updates`, `canaries`, `session` are the shown
context's) and the config, shows what the state objects post (notices naming their context when it is not
the one shown, API errors), and owns the app-wide keys (quit, refresh, help, go to, contexts).

Screens live in `screens/` and own their actions (`action_*` methods beside their bindings; the object
actions the main and detail screens share are in `object_actions.py`), widgets in `widgets/`, the session
state in `state/`, row building and formatting in `view/`, the command palette in `commands.py`. Every
network call runs in a worker. Every action runs through `run_action`, which refuses the `mutating` ones
in read-only mode and asks for the object's id in a production context (ui/production_guard.py): the one
place those checks live.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, TextArea

from deployer_tui.core.config import Config
from deployer_tui.core.contexts import Context
from deployer_tui.core.errors import DeployerError
from deployer_tui.ui.actions import known_binding_ids, mutating_target
from deployer_tui.ui.commands import ActionsProvider, ResourcesProvider
from deployer_tui.ui.context_shell import ContextShell, ContextStateReader
from deployer_tui.ui.context_switch import open_screens, show_context
from deployer_tui.ui.object_actions import ObjectActions
from deployer_tui.ui.production_guard import guard_change
from deployer_tui.ui.screens.deployment import DeploymentScreen
from deployer_tui.ui.screens.draft import quit_unless_unsaved
from deployer_tui.ui.screens.help import HelpScreen, help_rows, help_title
from deployer_tui.ui.screens.infra import InfraScreen
from deployer_tui.ui.screens.modals import ErrorScreen, GotoScreen
from deployer_tui.ui.screens.service import ServiceScreen
from deployer_tui.ui.shell import scope_shells
from deployer_tui.ui.state.contexts_state import Contexts, ContextState, Opener
from deployer_tui.ui.state.fleet_state import FleetState
from deployer_tui.ui.state.messages import (
    ApiError,
    CanaryFinished,
    CanaryProgressed,
    ContextChanged,
    Notice,
    UpdateFinished,
)
from deployer_tui.ui.state.session import Session
from deployer_tui.ui.view.formatting import Presentation
from deployer_tui.ui.widgets.header_bar import HeaderBar

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from deployer_tui.core.client import DeployerClient
    from deployer_tui.ui.screens.contexts import ContextListScreen
    from deployer_tui.ui.state.data_store import DataStore

__all__ = ["DeployerApp", "Session"]


class DeployerApp(ContextStateReader, App):
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
        Binding("ctrl+o", "contexts", "Contexts", show=False, id="app.contexts",
                tooltip="The deployers this console knows (contexts): switch to another (also :ctx NAME)"),
    ]

    def __init__(self, *, client: DeployerClient | None = None, where: str | None = None,
                 connect: Callable[[], Awaitable[Session]] | None = None, connect_status: str = "connecting…",
                 config: Config | None = None, read_only: bool = False,
                 presentation: Presentation | None = None, contexts: list[Context] | None = None,
                 open_context: Opener | None = None) -> None:
        """Either a ready `client` (tests, --url) or `connect`, awaited in a worker after the first
        paint (the embedded local deployer takes a while to start); or `contexts` (core.contexts.
        list_contexts, the current one first) with `open_context`, which opens any of them."""
        super().__init__()
        self.config = config or Config()
        self.read_only = read_only or self.config.read_only
        self.refresh_interval = self.config.refresh_interval
        self.presentation = presentation or Presentation()
        self.last_error: tuple[str, DeployerError] | None = None
        self.contexts = self._make_contexts(client, where, connect, connect_status, contexts, open_context)
        self.fleet = FleetState(self, self.contexts, read_only=self.read_only, config=self.config)
        self._context_shells: dict[str, ContextShell] = {}
        self._screen_contexts: weakref.WeakKeyDictionary[Screen, str] = weakref.WeakKeyDictionary()
        self._told_failures: set[tuple[str, str]] = set()
        self._canary_offers_due: set[str] = set()  # contexts opened whose left-over canaries are not offered yet
        self._context_list: weakref.ref[ContextListScreen] | None = None  # the open ctrl+o list, repainted on news
        scope_shells(self, self.shell_for)
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        # Where each recent key was sent (see `on_event`); bounded, since keys a widget consumes never
        # come back to the app.
        self._key_targets: OrderedDict[events.Key, object] = OrderedDict()
        self._held_keys: list[events.Key] = []  # keys waiting for a new screen's focus (`_hold_until_focused`)
        self._released: set[events.Key] = set()  # held keys sent on: not held again

    def _make_contexts(self, client: DeployerClient | None, where: str | None,
                       connect: Callable[[], Awaitable[Session]] | None, connect_status: str,
                       contexts: list[Context] | None, open_context: Opener | None) -> Contexts:
        if contexts is not None:
            if open_context is None or client is not None or connect is not None:
                raise ValueError("contexts= goes with open_context= alone")
            return Contexts(self, contexts, open_context, read_only=self.read_only, clock=self.presentation.now,
                            on_switch=self._show_context, on_connected=self._context_connected)
        if (client is None) == (connect is None):
            raise ValueError("give exactly one of client= or connect=")
        # One context, unnamed in the header: the connection was handed in, not chosen among contexts.
        name = where or (client.url if client is not None else "") or "default"
        # Not configured, so not guarded as production (only read-only applies): nothing says it is one.
        only = Context(name, client.url if client is not None else None, None, source="flags", production=False,
                       current=True)

        async def opener(_context: Context) -> Session:
            assert connect is not None
            return await connect()

        made = Contexts(self, [only], opener, read_only=self.read_only, clock=self.presentation.now,
                        on_switch=self._show_context, on_connected=self._context_connected, statuses={name: connect_status}, implicit=True)
        if client is not None:
            made.adopt(name, Session(client, where or client.url))
        return made

    # -- the current context's session state (each screen sees its own context's: shell_for) --------
    @property
    def context_state(self) -> ContextState:
        return self.contexts.current_state

    def shell_for(self, node: DOMNode) -> ContextShell:
        """The shell of the context `node`'s screen belongs to (ui/context_shell.py)."""
        try:
            screen = node if isinstance(node, Screen) else node.screen
        except Exception:  # noqa: BLE001 - a node not on a screen yet sees the current context
            screen = None
        name = self.contexts.current
        if screen is not None:
            name = self._screen_contexts.setdefault(screen, name)
        shell = self._context_shells.get(name)
        if shell is None:
            shell = self._context_shells[name] = ContextShell(self, self.contexts.get(name))
        return shell

    def bind_screen(self, screen: Screen, name: str) -> None:
        """`screen` belongs to context `name` (unless it already belongs to one)."""
        self._screen_contexts.setdefault(screen, name)

    def context_of(self, node: DOMNode) -> ContextState:
        """The context `node`'s screen belongs to."""
        return self.shell_for(node).context_state

    def _show_context(self, state: ContextState) -> None:
        show_context(self, state)
        if state.name in self._canary_offers_due:
            self.call_after_refresh(self._offer_pending_canaries, state)

    def _context_connected(self, state: ContextState) -> None:
        # Canaries of this context's deployer left half-way are offered once it is opened, on its own
        # screens: now if it is shown, else when it is next shown.
        self._canary_offers_due.add(state.name)
        if state.name == self.contexts.current:
            self.call_after_refresh(self._offer_pending_canaries, state)

    def _offer_pending_canaries(self, state: ContextState) -> None:
        if state.name not in self._canary_offers_due or state.name != self.contexts.current:
            return  # offered already, or another context is shown now (offered when it is shown again)
        self._canary_offers_due.discard(state.name)
        from deployer_tui.ui.screens.canary import offer_pending  # only once connected

        offer_pending(self, state.canaries)

    def running_canaries(self) -> list[tuple[str, str]]:
        """(context, deployment) of every canary running, in every context ("" for the unnamed one)."""
        return [("" if state.implicit else state.name, deployment_id)
                for state in self.contexts.states.values()
                for deployment_id in sorted(state.canaries.running_ids())]

    def on_mount(self) -> None:
        try:
            self.theme = self.config.theme
        except Exception:  # an unknown theme name must not stop the app
            self.notify(f"Unknown theme {self.config.theme!r}; using the default", severity="warning")
        if self.config.keymap:
            # After the first paint: knowing every binding id imports every screen (~0.2 s).
            self.call_after_refresh(self._check_keymap)
        state = self.context_state
        show_context(self, state)  # its own screens: the main screen, in the context's own mode
        if state.session is None:
            self.run_worker(self.contexts.open(state.name), group=state.store.group("session"),
                            exit_on_error=False, name=f"open {state.name}")
        else:
            self.contexts.connected(state)

    def _check_keymap(self) -> None:
        unknown = sorted(set(self.config.keymap) - known_binding_ids())
        if unknown:
            self.notify(f"[keymap] names no binding: {', '.join(unknown)}. `?` lists the binding ids of each screen.",
                        title="Config", severity="warning", timeout=15, markup=False)

    async def on_unmount(self) -> None:
        # Sessions this app opened (e.g. the embedded local deployer) are closed here, in the app's
        # own event loop; a client handed in by the caller has no close and stays the caller's.
        await self.contexts.close_all()
        await self.fleet.aclose()

    def on_context_changed(self, message: ContextChanged) -> None:
        state = self.contexts.get(message.context_name)
        failure = (state.name, state.open_error or "")
        if state.open_error is not None and failure not in self._told_failures:
            self._told_failures.add(failure)
            title = "Could not connect" if state.implicit else f"Could not connect to {state.name}"
            self.notify(state.open_error, title=title, severity="error", timeout=30, markup=False)
        self._refresh_headers()
        listing = self._context_list() if self._context_list is not None else None
        if listing is not None and listing is self.screen:
            listing.refill()

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
            if not event.is_forwarded and self._hold_until_focused(event):
                return
            if not event.is_forwarded and self._edit_in_order(event):
                return
            if not event.is_forwarded:
                self._key_targets[event] = self.focused
                while len(self._key_targets) > 64:
                    self._key_targets.popitem(last=False)
            elif self._resend_typed_ahead(event):
                return
        await super().on_event(event)

    def _edit_in_order(self, event: events.Key) -> bool:
        """Run a text field's own editing binding (ctrl+a, ctrl+k, backspace…) in the field's queue, in the
        order typed. Textual resolves a focused widget's bindings only once the key has bubbled back up to
        the app, while the field inserts printable keys as soon as it reads them: in a burst, `ctrl+a ctrl+k
        3 s` would insert `3s` first and then clear the whole field. Queued as a callback behind the keys
        already sent to the field, the binding runs exactly where it was typed."""
        focused = self.focused
        if event.is_printable or not isinstance(focused, (Input, TextArea)):
            return False
        active = self.screen.active_bindings.get(event.key)
        if active is None or active.node is not focused or not active.enabled:
            return False  # not the field's own key (or a priority binding of the screen or app wins)
        focused.call_later(self.run_action, active.binding.action, focused)
        return True

    def _hold_until_focused(self, event: events.Key) -> bool:
        """Whether `event` waits: a screen just pushed (a form opened by the key before) focuses its first
        field only once mounted, and keys arriving meanwhile would reach no field and be lost. They are
        held, in order, until the screen has a focus (at most a few refreshes: a screen that focuses
        nothing gets them then), and sent on as if typed then."""
        if event in self._released:
            self._released.discard(event)
            return False
        if not self._held_keys and (self.screen.focused is not None or not self.screen.AUTO_FOCUS):
            return False
        self._held_keys.append(event)
        if len(self._held_keys) == 1:
            self.call_after_refresh(self._release_held, 0)
        return True

    def _release_held(self, tries: int) -> None:
        if self.screen.focused is None and self.screen.AUTO_FOCUS and tries < 8:
            self.call_after_refresh(self._release_held, tries + 1)
            return
        held, self._held_keys = self._held_keys, []
        for key in held:
            # Through the app again (its priority bindings first), in the order typed.
            fresh = events.Key(key.key, key.character)
            self._released.add(fresh)
            self.post_message(fresh)

    def _resend_typed_ahead(self, event: events.Key) -> bool:
        target = self._key_targets.pop(event, None)
        focused = self.focused
        if target is None or focused is target:
            return False
        # Through the app again, as if typed now: its priority bindings first, then the widget focused
        # now, or held while a screen just pushed has no focus yet (`_hold_until_focused`); and recorded
        # again, so a key whose focus moves once more (tab tab, then text) hops again rather than drops.
        self.post_message(events.Key(event.key, event.character))
        return True

    # -- the one door of every action ------------------------------------------------------
    async def run_action(self, action: str | Any, default_namespace: DOMNode | None = None,
                         namespaces: Any = None) -> bool:
        """Every binding, footer click and palette entry runs here: a `mutating` action is refused in
        read-only mode (and says so), whichever screen or widget owns it, and in a production context
        runs only once the object's id is typed (ui/production_guard.py)."""
        if isinstance(action, str):
            known = {"app": self, "screen": self.screen, **(dict(namespaces) if namespaces else {})}
            call = mutating_target(action, self if default_namespace is None else default_namespace, known)
            if call is not None and guard_change(
                    self, call, lambda: App.run_action(self, action, default_namespace, namespaces)):
                return True
        return await super().run_action(action, default_namespace, namespaces)

    # -- the app-wide actions --------------------------------------------------------------
    async def action_quit(self) -> None:
        # Every context's open screens: a draft in a context not shown is not lost silently either; and
        # every context's canaries (quitting stops them where they are).
        running = self.running_canaries()
        if running:
            from deployer_tui.ui.screens.canary import quit_unless_canaries  # only when one runs

            quit_unless_canaries(self, running, lambda: quit_unless_unsaved(self, open_screens(self)))
            return
        quit_unless_unsaved(self, open_screens(self))

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
                       + [f"service {s}" for s in store.services] + [f"ctx {c}" for c in self.contexts.names()]
                       + ["fleet"])

        def chosen(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            kind, ident = result
            if kind == "fleet":
                from deployer_tui.ui.screens.fleet import open_fleet  # on first use

                open_fleet(self.screen)
                return
            if kind == "context":
                self.switch_context(ident)
                return
            known = {"deployment": store.deployments, "infra": store.infras, "service": store.services}[kind]
            if store.loaded and ident not in known:
                self.notify(f"No {kind} {ident!r}", severity="warning")
                return
            self.open_resource(kind, ident)

        self.push_screen(GotoScreen(completions), chosen)

    def action_contexts(self) -> None:
        from deployer_tui.ui.screens.contexts import ContextListScreen  # on first use

        def chosen(name: str | None) -> None:
            if name is not None:
                self.switch_context(name)

        listing = ContextListScreen(self.contexts)
        self._context_list = weakref.ref(listing)
        self.push_screen(listing, chosen)

    def switch_context(self, name: str) -> None:
        """Show another context (its own screens, as they were); a name no context has is a warning."""
        if name not in self.contexts.names():
            self.notify(f"No context {name!r} (known: {', '.join(self.contexts.names())})", severity="warning",
                        markup=False)
            return
        self.contexts.switch(name)
        self._refresh_headers()

    def action_error_details(self) -> None:
        if self.last_error is None:
            self.notify("No error so far")
            return
        context, error = self.last_error
        self.push_screen(ErrorScreen(f"Error {context}", error.describe()))

    # -- what the state objects ask of the shell ----------------------------------------------
    def on_notice(self, message: Notice) -> None:
        self.notify(message.text, title=self.toast_title(message.title, message.context_name), severity=message.severity,
                    **({"timeout": message.timeout} if message.timeout is not None else {}))

    def on_api_error(self, message: ApiError) -> None:
        where = "" if message.context_name in ("", self.contexts.current) else f" in {message.context_name}"
        self.report_error(message.error, message.context + where)

    def on_update_finished(self, message: UpdateFinished) -> None:
        # Only what the update changed: that deployment's light and heavy status (the lists reload
        # only if its id is gone), not every list and every heavy status; in the context it ran in.
        settled = message.run.settled
        store = self._store_of(message.context_name)
        store.refresh_deployment(message.run.deployment_id, settled.status if settled is not None else None)

    def toast_title(self, title: str, context_name: str) -> str:
        """A toast's title, naming its context when that is not the one on screen (the state's notices,
        and the screens' own toasts: ui/shell.py ContextToasts)."""
        if not context_name or context_name == self.contexts.current:
            return title
        return f"{context_name}: {title}" if title else context_name

    def _store_of(self, context_name: str) -> DataStore:
        """The store of the context a message came from ("" : the only one)."""
        return self.contexts.get(context_name).store if context_name else self.store

    def on_canary_progressed(self, message: CanaryProgressed) -> None:
        if message.deployed:  # a step's split is on the nodes: the row's mapping changed
            self._store_of(message.context_name).refresh_deployment(message.run.deployment_id)

    def on_canary_finished(self, message: CanaryFinished) -> None:
        # A canary ends on a mapping of its own (the new version, or the previous one back): re-read it,
        # in the context it ran in.
        store = self._store_of(message.context_name)
        store.forget_heavy(message.run.deployment_id)
        store.refresh_deployment(message.run.deployment_id)

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
