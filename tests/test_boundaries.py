"""The architecture's boundaries (design §1-§2), enforced: core is headless, ui speaks no HTTP, server never imports ui."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "deployer_tui"


def imported_modules(folder: Path) -> list[tuple[Path, str]]:
    found = []
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("core", ("textual", "deployer_tui.ui", "deployer_tui.server")),
        ("ui", ("httpx", "requests", "urllib", "http.client", "deployer_tui.server")),
        ("server", ("deployer_tui.ui", "textual")),
    ],
)
def test_layer_does_not_import(folder: str, forbidden: tuple[str, ...]) -> None:
    offenders = [
        f"{path.relative_to(PKG.parent)} imports {name}"
        for path, name in imported_modules(PKG / folder)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert offenders == []


def test_boundary_check_sees_imports(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import textual.app\nfrom httpx import AsyncClient\n")
    names = {name for _, name in imported_modules(tmp_path)}
    assert names == {"textual.app", "httpx"}
