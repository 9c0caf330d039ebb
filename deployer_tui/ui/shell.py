"""What screens need from the app shell, as a typed protocol: the session's state (data store, update
tracker), its config and presentation, and a few services. `DeployerApp` is the shell; a test harness can be
one by having the same attributes. Screens reach it through `shell_of(node)`, never by probing the app;
`ContextToasts` makes a screen's toasts name its context when another one is shown."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode
    from textual.notifications import SeverityLevel
    from textual.widget import Widget

    from deployer_tui.core.client import DeployerClient
    from deployer_tui.core.config import Config
    from deployer_tui.core.errors import DeployerError
    from deployer_tui.ui.state.canary_tracker import CanaryTracker
    from deployer_tui.ui.state.data_store import DataStore
    from deployer_tui.ui.state.fleet_state import FleetState
    from deployer_tui.ui.state.update_tracker import UpdateTracker
    from deployer_tui.ui.view.formatting import Presentation


class Shell(Protocol):
    store: DataStore
    updates: UpdateTracker
    canaries: CanaryTracker
    fleet: FleetState  # every context's deployments, marks and trackers (the fleet screen)
    config: Config
    presentation: Presentation
    read_only: bool
    refresh_interval: float
    last_error: tuple[str, DeployerError] | None
    where: str
    connection_note: str  # how the connection was chosen when that is not obvious (profiles.Connection.note)
    user: str
    status_text: str

    @property
    def client(self) -> DeployerClient: ...

    @property
    def connected(self) -> bool: ...

    def report_error(self, error: DeployerError, context: str) -> None: ...

    def running_canaries(self) -> list[tuple[str, str]]:
        """(context, deployment) of every canary running, in every context ("" for an unnamed one)."""
        ...

    def open_resource(self, kind: str, resource_id: str) -> None: ...


# Apps whose screens each see their own context's shell (DeployerApp registers itself, ui/context_shell.py);
# any other app (a test harness with the Shell's attributes) is its own shell.
_SCOPED: weakref.WeakKeyDictionary[App, Callable[[DOMNode], Shell]] = weakref.WeakKeyDictionary()


def scope_shells(app: App, shell_for: Callable[[DOMNode], Shell]) -> None:
    """Let `app` say which shell each node sees (the shell of the node's context)."""
    _SCOPED[app] = shell_for


class ContextView(Protocol):
    """What a screen may know of its context beyond the Shell (ui/context_shell.py)."""

    context_name: str  # for the header ("" when the app was handed its connection)
    production_color: str | None  # the header's colour when the context is production, else None

    def typed_confirmation(self, object_id: str) -> bool:
        """Whether the user typed this object's id for the change running now (ui/production_guard.py),
        so a screen that would ask for it on a Production stage does not ask twice."""
        ...

    def toast_title(self, title: str) -> str:
        """A toast's title, naming this context when it is not the one on screen."""
        ...


def context_view(node: DOMNode) -> ContextView | None:
    """The context of `node`'s screen, or None in an app without contexts (a test harness)."""
    shell_for = _SCOPED.get(node.app)
    return cast("ContextView", shell_for(node)) if shell_for is not None else None


def shell_of(node: DOMNode) -> Shell:
    """The shell a screen or widget runs in: its context's (see `scope_shells`), else the app itself.
    Textual types `node.app` as a plain App; every screen of this package runs in a DeployerApp (or a
    harness with the same attributes), hence the cast."""
    app = node.app
    shell_for = _SCOPED.get(app)
    return shell_for(node) if shell_for is not None else cast("Shell", app)


class ContextToasts:
    """For a screen (before `Screen` in its bases): its toasts name its context when that context is not
    the one on screen, as the state objects' notices do (DeployerApp.on_notice). A screen left in a
    context not shown still runs its workers and hears its context's store and tracker (a save that
    ends, "Connection restored"); a toast of it that did not say which deployer it speaks of would
    be read as news of the one shown."""

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        node = cast("Widget", self)
        view = context_view(node)
        if view is not None:
            title = view.toast_title(title)
        if timeout is None:  # Textual's own default then, as Widget.notify does
            node.app.notify(message, title=title, severity=severity, markup=markup)
        else:
            node.app.notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
