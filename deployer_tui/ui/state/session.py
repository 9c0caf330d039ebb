"""A live connection to one deployer: the client, what the header calls it, how to let it go on quit.

Here rather than in the app shell so that the per-context state (`contexts_state.py`) can hold one per
context; `deployer_tui.ui.app` re-exports it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deployer_tui.core.client import DeployerClient


@dataclass
class Session:
    """A live connection: the client, what the header calls it, and how to let it go on quit."""

    client: DeployerClient
    where: str
    close: Callable[[], Awaitable[None]] | None = None
    note: str = ""  # how the connection was chosen, for the header (profiles.Connection.note)
    key_origin: str = ""  # where the API key came from, in words, for the banner of a refused key
