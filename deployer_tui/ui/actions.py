"""The registry of user actions: key bindings, the command palette and the help screen all read it,
and `DeployerApp.dispatch` is the one place that runs them — and refuses mutating ones in read-only mode.

Later actions (edit settings, run an update, copy, test queries…) register here with `mutating=True`
where they change something, and get the read-only check for free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen


@dataclass(frozen=True)
class UIAction:
    id: str
    title: str
    help: str
    handler: Callable[[App], Any]
    mutating: bool = False
    # When this action makes sense on a screen (e.g. only with a deployment under the cursor); None = always.
    available: Callable[[Screen], bool] | None = None

    def is_available(self, screen: Screen) -> bool:
        return self.available is None or bool(self.available(screen))


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, UIAction] = {}
        self._pending: list[Callable[[ActionRegistry], None]] = []

    def register_later(self, loader: Callable[[ActionRegistry], None]) -> None:
        """Register a module's actions on first use (a key press, the palette, the help): modules with
        heavy imports (the JSON editor's tree-sitter) then cost nothing before the first paint."""
        self._pending.append(loader)

    def _load_pending(self) -> None:
        while self._pending:
            self._pending.pop(0)(self)

    def register(self, action: UIAction) -> UIAction:
        if action.id in self._actions:
            raise ValueError(f"action {action.id!r} registered twice")
        self._actions[action.id] = action
        return action

    def get(self, action_id: str) -> UIAction | None:
        if action_id not in self._actions:
            self._load_pending()
        return self._actions.get(action_id)

    def __iter__(self) -> Iterator[UIAction]:
        self._load_pending()
        return iter(list(self._actions.values()))

    def __len__(self) -> int:
        self._load_pending()
        return len(self._actions)
