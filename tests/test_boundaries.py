"""The architecture's boundaries (docs/architecture.md), enforced on the source: core is headless, ui speaks
no HTTP, server never imports ui; inside ui, state draws nothing, view is pure, widgets know no screen.

Every way a module names another counts: `import a.b`, `from a import b` (b may be a module), relative
imports (`from . import x`, `from ..core import y`), and `importlib.import_module("a.b")` / `__import__`
with a literal name, since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "deployer_tui"

# (folder under the package, names it must not import, why)
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("core", ("textual", "deployer_tui.ui", "deployer_tui.server"), "core is headless"),
    ("ui", ("httpx", "requests", "urllib", "http.client", "deployer_tui.core.http1", "deployer_tui.server"),
     "ui speaks no HTTP: every request goes through core.client"),
    ("server", ("deployer_tui.ui", "textual"), "the servers run without the console"),
    ("ui/state", ("deployer_tui.ui.screens", "deployer_tui.ui.widgets", "deployer_tui.ui.app"),
     "state posts messages; the shell and screens draw"),
    ("ui/view", ("textual", "deployer_tui.ui.screens", "deployer_tui.ui.widgets", "deployer_tui.ui.state",
                 "deployer_tui.ui.app"),
     "view is pure functions over the JSON and text: no Textual, no widget, no state"),
    ("ui/widgets", ("deployer_tui.ui.screens", "deployer_tui.ui.state", "deployer_tui.ui.app"),
     "a widget shows what it is given; it knows no screen, no store, no app"),
]


def module_name(root: Path, path: Path) -> str:
    """The dotted name of `path`, a file under the package directory `root` (whose name is the top package)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, name: str, level: int) -> str:
    """The absolute name of a `level`-dots relative import of `name` inside `module`."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, name] if name else base)


def imports_of(root: Path, path: Path) -> list[str]:
    """Every module `path` imports, absolute, including the `b` of `from a import b` as `a.b`."""
    module = module_name(root, path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text("utf-8"), str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.module or "", node.level)
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__"):
                name = node.args[0].value
                level = len(name) - len(name.lstrip("."))
                found.append(_resolve(module, is_package, name.lstrip("."), level) if level else name)
    return found


def offenders(root: Path, folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted({
        f"{path.relative_to(root.parent)} imports {name}"
        for path in (root / folder).rglob("*.py")
        for name in imports_of(root, path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    })


@pytest.mark.parametrize(("folder", "forbidden", "why"), RULES, ids=[rule[0] for rule in RULES])
def test_layer_does_not_import(folder: str, forbidden: tuple[str, ...], why: str) -> None:
    assert offenders(PKG, folder, forbidden) == [], why


# One module per rule that breaks it, each in another of the ways a module can name another.
BREAKERS = {
    "core": "from ..ui import app\n",
    "ui": "from ..core import http1\n",
    "server": "import importlib\nimportlib.import_module('deployer_tui.ui.app')\n",
    "ui/state": "from ..screens.main import MainScreen\n",
    "ui/view": "from .. import widgets\n",
    "ui/widgets": "def later():\n    from deployer_tui.ui.screens import main\n",
}


@pytest.mark.parametrize(("folder", "forbidden", "why"), RULES, ids=[rule[0] for rule in RULES])
def test_each_rule_can_fail(tmp_path: Path, folder: str, forbidden: tuple[str, ...], why: str) -> None:
    root = tmp_path / "deployer_tui"
    (root / folder).mkdir(parents=True)
    (root / folder / "breaks_it.py").write_text(BREAKERS[folder])
    assert offenders(root, folder, forbidden), f"the {folder} rule missed {BREAKERS[folder]!r}"


def test_imports_are_resolved(tmp_path: Path) -> None:
    root = tmp_path / "deployer_tui"
    (root / "ui" / "state").mkdir(parents=True)
    (root / "ui" / "state" / "__init__.py").write_text("from . import store\n")
    (root / "ui" / "state" / "m.py").write_text(
        "import textual.app\nfrom httpx import AsyncClient\nfrom . import messages\nfrom ..view.rows import kv\n"
        "from ...core import readers\nimport importlib\nimportlib.import_module('deployer_tui.ui.screens.main')\n"
        "__import__('.sibling')\n")
    names = set(imports_of(root, root / "ui" / "state" / "m.py"))
    assert {"textual.app", "httpx", "httpx.AsyncClient", "deployer_tui.ui.state.messages", "deployer_tui.ui.view.rows",
            "deployer_tui.ui.view.rows.kv", "deployer_tui.core.readers", "deployer_tui.ui.screens.main",
            "deployer_tui.ui.state.sibling"} <= names
    assert "deployer_tui.ui.state.store" in imports_of(root, root / "ui" / "state" / "__init__.py")
