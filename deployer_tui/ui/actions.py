"""The registry of user actions: key bindings, the command palette and the help screen all read it,
and `DeployerApp.dispatch` is the one place that runs them — and refuses mutating ones in read-only mode.

Later actions (edit settings, run an update, copy, test queries…) register here with `mutating=True`
where they change something, and get the read-only check for free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

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


# The object actions bound on the main screen and on every detail screen, in footer order:
# (key, action id, description, binding-id suffix). Each screen prefixes the binding ids with its
# scope ("main.", "detail.") so that a keymap can remap them per screen.
OBJECT_KEYS: tuple[tuple[str, str, str, str], ...] = (
    ("n", "object.create", "New", "create"),
    ("D", "object.delete", "Delete", "delete"),
    ("i", "version.import", "Import version", "import_version"),
    ("w", "version.download", "Download version", "download_version"),
    ("T", "deployment.test_queries", "Test", "test_queries"),
    ("o", "deployment.openapi", "OpenAPI", "openapi"),
    ("y", "object.copy", "Copy", "copy"),
    ("e", "settings.edit", "Edit", "edit_settings"),
    ("E", "settings.edit_external", "Edit in $EDITOR", "edit_settings_external"),
    ("u", "deployment.update", "Update", "update"),
    ("H", "deployment.update_history", "History", "update_history"),
)


def object_bindings(scope: str, shown: set[str]) -> list[Binding]:
    """Bindings for OBJECT_KEYS with ids `<scope>.<suffix>`; those whose suffix is in `shown` are in the footer."""
    return [Binding(key, f"app.dispatch('{action}')", description, show=suffix in shown, id=f"{scope}.{suffix}")
            for key, action, description, suffix in OBJECT_KEYS]


def known_binding_ids() -> set[str]:
    """Every binding id declared by the app's screens and widgets (and by the Textual widgets they use).

    The keymap of the config file names bindings by id; an id nobody declares is a typo the person
    should hear about rather than a remap that silently does nothing."""
    import importlib
    import pkgutil

    from textual.dom import DOMNode

    import deployer_tui.ui.screens
    import deployer_tui.ui.widgets

    for package in (deployer_tui.ui.screens, deployer_tui.ui.widgets):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    ids: set[str] = set()
    pending: list[type] = [DOMNode]
    seen: set[type] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        for binding in getattr(cls, "BINDINGS", ()):
            binding_id = getattr(binding, "id", None)
            if binding_id:
                ids.add(binding_id)
    return ids
