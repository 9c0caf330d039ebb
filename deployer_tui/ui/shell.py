"""What screens need from the app shell, as a typed protocol: the session's state (data store, update
tracker), its config and presentation, and a few services. `DeployerApp` is the shell; a test harness can be
one by having the same attributes. Screens reach it through `shell_of(node)`, never by probing the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from deployer_tui.core.client import DeployerClient
    from deployer_tui.core.config import Config
    from deployer_tui.core.errors import DeployerError
    from deployer_tui.ui.state.canary_tracker import CanaryTracker
    from deployer_tui.ui.state.data_store import DataStore
    from deployer_tui.ui.state.update_tracker import UpdateTracker
    from deployer_tui.ui.view.formatting import Presentation


class Shell(Protocol):
    store: DataStore
    updates: UpdateTracker
    canaries: CanaryTracker
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

    def open_resource(self, kind: str, resource_id: str) -> None: ...


def shell_of(node: DOMNode) -> Shell:
    """The app a screen or widget runs in, as the shell. Textual types `node.app` as a plain App; every
    screen of this package runs in a DeployerApp (or a harness with the same attributes), hence the cast."""
    return cast("Shell", node.app)
