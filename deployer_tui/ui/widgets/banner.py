"""The connection banner: shown while the deployer cannot be reached, hidden once it answers again."""

from __future__ import annotations

from textual.widgets import Static

from deployer_tui.core.errors import DeployerError


class ConnectionBanner(Static):
    DEFAULT_CSS = """
    ConnectionBanner { height: auto; background: $error; color: $text; padding: 0 1; display: none; }
    ConnectionBanner.-visible { display: block; }
    """

    def show_error(self, error: DeployerError, retry_in: float | None) -> None:
        retry = f" — retrying in {retry_in:.0f}s" if retry_in else " — retrying"
        self.update(f"Connection lost: {error}{retry}")
        self.add_class("-visible")

    def clear_error(self) -> None:
        self.update("")
        self.remove_class("-visible")

    @property
    def is_shown(self) -> bool:
        return self.has_class("-visible")
