"""How actions are declared: Textual bindings with ids on the screen or widget that owns the action, and
`action_*` methods there. This module holds what those declarations share:

- `mutating(title)` marks an action method that changes something; `DeployerApp.run_action`, the one door
  every binding, footer click and palette entry goes through, refuses it in read-only mode (`refusal`).
- `object_bindings(scope, shown)` the keys of the object actions, the same on the main screen and on every
  detail screen (the actions themselves are in ui/object_actions.py).
- `PaletteCommand` an action that has no key of its own but is offered in the command palette.
- `known_binding_ids()` every binding id, to check the keymap of the config file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from textual.actions import parse
from textual.binding import Binding
from textual.dom import DOMNode

from deployer_tui.core.production import read_only_refusal

F = TypeVar("F", bound=Callable[..., Any])
_MUTATING = "deployer_tui_mutating_title"


def mutating(title: str) -> Callable[[F], F]:
    """Mark an `action_*` method as changing something on the deployer; `title` names it in the refusal."""

    def mark(method: F) -> F:
        setattr(method, _MUTATING, title)
        return method

    return mark


def mutating_title(action: str, default_namespace: DOMNode, namespaces: dict[str, DOMNode]) -> str | None:
    """The title of the mutating action an action string would run, or None when it changes nothing."""
    found = mutating_target(action, default_namespace, namespaces)
    return found.title if found is not None else None


@dataclass(frozen=True)
class MutatingCall:
    """A mutating action about to run: its title, the node whose `action_<name>` it is, and that name."""

    title: str
    target: DOMNode
    name: str


def mutating_target(action: str, default_namespace: DOMNode, namespaces: dict[str, DOMNode]) -> MutatingCall | None:
    """What `mutating_title` finds, with the node the action runs on (its screen says the object)."""
    try:
        destination, name, _params = parse(action)
    except Exception:  # noqa: BLE001 - Textual reports a malformed action itself
        return None
    target = namespaces.get(destination, default_namespace) if destination else default_namespace
    method = getattr(type(target), f"action_{name}", None)
    title = getattr(method, _MUTATING, None)
    return MutatingCall(title, target, name) if isinstance(title, str) else None


def refusal(title: str) -> str:
    """The read-only refusal, word for word (tests and people read it); one text with the per-context
    read-only of core/production.py."""
    return read_only_refusal(title)


@dataclass(frozen=True)
class PaletteCommand:
    """An action of a screen offered in the command palette without a key (`action` is its method's name
    without `action_`)."""

    action: str
    title: str
    help: str


# The object actions bound on the main screen and on every detail screen, in footer order:
# (key, action, description, binding-id suffix, palette help). Each screen prefixes the binding ids with
# its scope ("main.", "detail.") so that a keymap can remap them per screen.
OBJECT_KEYS: tuple[tuple[str, str, str, str, str], ...] = (
    ("n", "create", "New", "create", "Create what the focused pane lists (infra, service, deployment)"),
    ("D", "delete", "Delete", "delete", "Delete the highlighted infra, service or deployment (asks first)"),
    ("i", "import_version", "Import version", "import_version",
     "Upload a version package zip into the highlighted service"),
    ("w", "download_version", "Download version", "download_version",
     "Save a version of the highlighted service to a file"),
    ("T", "test_queries", "Test", "test_queries", "Run stored or edited test queries against the highlighted deployment"),
    ("o", "openapi", "OpenAPI", "openapi", "Paths and methods of the deployment, raw JSON"),
    ("y", "copy", "Copy", "copy", "Copy ids, URLs or a curl command of the highlighted object"),
    ("e", "edit_settings", "Edit", "edit_settings", "Edit the highlighted object's settings inline (JSON)"),
    ("E", "edit_settings_external", "Edit in $EDITOR", "edit_settings_external",
     "Open the highlighted object's settings in $EDITOR, then back in the inline editor"),
    ("u", "update", "Update", "update",
     "Deploy the saved settings to the API nodes (asks first); the marked deployments if any"),
    ("H", "update_history", "History", "update_history",
     "Past updates of the deployment: start, end, duration, requester, status; enter opens the log"),
)


def object_bindings(scope: str, shown: set[str]) -> list[Binding]:
    """Bindings for OBJECT_KEYS with ids `<scope>.<suffix>`; those whose suffix is in `shown` are in the footer."""
    return [Binding(key, action, description, show=suffix in shown, id=f"{scope}.{suffix}", tooltip=help_text)
            for key, action, description, suffix, help_text in OBJECT_KEYS]


def known_binding_ids() -> set[str]:
    """Every binding id declared by the app's screens and widgets (and by the Textual widgets they use).

    The keymap of the config file names bindings by id; an id nobody declares is a typo the person
    should hear about rather than a remap that silently does nothing."""
    # Imported here, after the first paint (see DeployerApp.on_mount): every screen module is loaded.
    import importlib
    import pkgutil

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
