"""The running updates of a context that is not the console's own: an UpdateTracker on that context's
client whose messages reach only its subscribers (the fleet screen), not the app, and whose toasts name
the context. The app's own tracker refreshes the main screen's store when an update ends; an update of
another deployer must not touch that store, whose ids may be the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App
from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel

from deployer_tui.ui.state.update_tracker import UpdateTracker

if TYPE_CHECKING:
    from deployer_tui.core.client import DeployerClient


class ContextTracker(UpdateTracker):
    def __init__(self, app: App, client: DeployerClient, context: str) -> None:
        super().__init__(app, client)
        self.context = context

    def _receivers(self) -> list[MessagePump]:
        return list(self._subscribers)

    def _tell(self, text: str, *, title: str = "", severity: SeverityLevel = "information",
              timeout: float | None = None) -> None:
        super()._tell(text, title=f"{self.context}: {title}" if title else self.context, severity=severity,
                      timeout=timeout)
