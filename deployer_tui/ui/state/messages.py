"""Messages the data store posts to its subscribers (screens), so every screen reuses one store."""

from __future__ import annotations

from textual.message import Message

from deployer_tui.core.errors import DeployerError


class DataChanged(Message):
    """Some lists changed. `kinds` ⊆ {"infras", "services", "deployments", "health"}; for "health",
    `health_ids` names the deployments whose heavy status arrived in this batch."""

    def __init__(self, kinds: frozenset[str], health_ids: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.kinds = kinds
        self.health_ids = health_ids


class ConnectionChanged(Message):
    """The connection was lost (error set, retry_in seconds) or is back (error None)."""

    def __init__(self, error: DeployerError | None, retry_in: float | None = None) -> None:
        super().__init__()
        self.error = error
        self.retry_in = retry_in
