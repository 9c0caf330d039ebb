"""The connection banner: shown while the deployer cannot be reached or refuses the API key, hidden once it
answers again."""

from __future__ import annotations

from textual.widgets import Static

from deployer_tui.core.errors import DeployerError


class ConnectionBanner(Static):
    DEFAULT_CSS = """
    ConnectionBanner { height: auto; background: $error; color: $text; padding: 0 1; display: none; }
    ConnectionBanner.-visible { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        # Errors quote what the deployer said, brackets and all: never read as markup.
        super().__init__("", id=id, markup=False)

    def show_error(self, error: DeployerError, retry_in: float | None) -> None:
        if error.status == 401 or error.short_type == "NotAuthenticatedException":
            # Not retried: the same key is refused again (see DataStore._key_refused).
            self.update(f"API key refused: {error.message} — fix the key, then ctrl+r tries again")
        else:
            retry = f" — retrying in {retry_in:.0f}s" if retry_in else " — retrying"
            self.update(f"Connection lost: {error}{retry}")
        self.add_class("-visible")

    def clear_error(self) -> None:
        self.update("")
        self.remove_class("-visible")

    @property
    def is_shown(self) -> bool:
        return self.has_class("-visible")
