"""No private name of Textual, Starlette or uvicorn in deployer_tui/: a minor release breaks them.

Two checks:
  * imports of private modules (`textual._two_way_dict`, `textual.widgets._data_table`, `uvicorn._types`);
  * private attributes used on Textual objects: every `x._name` (read, written or overridden by a
    `def _name` in a widget class) where `_name` is an attribute of a Textual class (App, Screen,
    Widget, every widget of `textual.widgets`, messages, timers...). On `self` inside our own class it
    counts only if that class is a Textual one and `_name` is not ours; elsewhere (`app._x`,
    `pump._message_queue`) it always counts.
What cannot go yet is in ALLOWED below, each with the reason.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import textual.widgets
from textual.app import App
from textual.dom import DOMNode
from textual.events import Event
from textual.message import Message
from textual.message_pump import MessagePump
from textual.pilot import Pilot
from textual.screen import ModalScreen, Screen
from textual.scroll_view import ScrollView
from textual.timer import Timer
from textual.widget import Widget

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "deployer_tui"

PRIVATE_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:textual|starlette|uvicorn)(?:\.\w+)*\._\w*", re.M)

# (file relative to deployer_tui/, name) -> why it is still there.
ALLOWED: dict[tuple[str, str], str] = {
    # Textual's in-app clipboard has one public setter, copy_to_clipboard, which also writes a bare
    # OSC 52; inside tmux or screen that must be wrapped, so the text is set here and the sequence written
    # through the driver (Textual has no public call that writes raw bytes to the terminal).
    ("ui/clipboard.py", "_clipboard"): "App.copy_to_clipboard would also write a bare OSC 52",
    ("ui/clipboard.py", "_driver"): "no public call writes raw bytes to the terminal",
}


def _textual_classes() -> list[type]:
    classes: list[type] = [App, Screen, ModalScreen, Widget, ScrollView, DOMNode, MessagePump, Message, Event,
                           Timer, Pilot]
    for name in textual.widgets.__all__:
        value = getattr(textual.widgets, name)
        if isinstance(value, type):
            classes.append(value)
    return classes


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and len(name) > 1


_INSTANCE_ATTRIBUTE = re.compile(r"\bself\.(_[A-Za-z]\w*)\s*(?::[^=\n]+)?=(?!=)")
_source_names: dict[str, set[str]] = {}


def _assigned_in(module_name: str) -> set[str]:
    """Private instance attributes a module's classes set (`self._nodes = ...`: not in any class dict)."""
    if module_name not in _source_names:
        path = getattr(importlib.import_module(module_name), "__file__", None)
        text = Path(path).read_text() if path else ""
        _source_names[module_name] = set(_INSTANCE_ATTRIBUTE.findall(text))
    return _source_names[module_name]


def _textual_names_of(cls: type) -> set[str]:
    """Private names Textual defines for instances of `cls` (its Textual ancestors' attributes)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] == "textual":
            names.update(n for n in vars(klass) if _is_private(n))
            names |= _assigned_in(klass.__module__)
    return names


def _all_textual_names() -> set[str]:
    names: set[str] = set()
    for cls in _textual_classes():
        names |= _textual_names_of(cls)
    return names


def _is_textual(cls: type | None) -> bool:
    return cls is not None and any(k.__module__.split(".")[0] == "textual" for k in cls.__mro__)


class _Finder(ast.NodeVisitor):
    """Private Textual names used in one module: on `self` of a Textual subclass (reads, writes and
    `def` overrides), or on any other object."""

    def __init__(self, module: object, textual_names: set[str], ours: set[str]) -> None:
        self.module = module
        self.textual_names = textual_names
        self.ours = ours
        self.classes: list[type | None] = []
        self.found: list[tuple[int, str]] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        outer = self.classes[-1] if self.classes else self.module
        cls = getattr(outer, node.name, None) if outer is not None else None
        cls = cls if isinstance(cls, type) else None
        self.classes.append(cls)
        if _is_textual(cls):
            inherited = _textual_names_of(cls)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in inherited:
                    self.found.append((item.lineno, item.name))  # overrides a private method of Textual
        self.generic_visit(node)
        self.classes.pop()

    def visit_Call(self, node: ast.Call) -> None:
        # getattr(app, "_driver") is the same use as app._driver, spelled to hide from a reader.
        if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr", "hasattr", "delattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str):
            name = node.args[1].value
            if _is_private(name) and name in self.textual_names and name not in self.ours:
                self.found.append((node.lineno, name))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        if _is_private(name):
            cls = self.classes[-1] if self.classes else None
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                if _is_textual(cls) and name in _textual_names_of(cls):  # type: ignore[arg-type]
                    self.found.append((node.lineno, name))
            elif name in self.textual_names and name not in self.ours:
                self.found.append((node.lineno, name))
        self.generic_visit(node)


def _our_names() -> set[str]:
    """Private names our own code defines (methods, class attributes, `self._x =`)."""
    names: set[str] = set()
    for path in _files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_private(node.name):
                names.add(node.name)
        names.update(_INSTANCE_ATTRIBUTE.findall(path.read_text()))
    return names


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_private_module_is_imported() -> None:
    found = [f"{path.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}: {m.group(0).strip()}"
             for path in _files() for text in (path.read_text(),) for m in PRIVATE_IMPORT.finditer(text)]
    assert found == []


def test_no_private_attribute_of_textual_is_used() -> None:
    textual_names = _all_textual_names()
    assert {"_nodes", "_message_queue", "_data", "_on_idle", "_row_locations"} <= textual_names  # the scan works
    ours = _our_names() - textual_names  # a name Textual has too is not ours to use on its objects
    found: list[str] = []
    used_allowances: set[tuple[str, str]] = set()
    for path in _files():
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith("ui/"):
            continue  # core/ and server/ import no Textual
        module = importlib.import_module(_module_name(path))
        finder = _Finder(module, textual_names, ours)
        finder.visit(ast.parse(path.read_text()))
        for line, name in finder.found:
            if (relative, name) in ALLOWED:
                used_allowances.add((relative, name))
                continue
            found.append(f"deployer_tui/{relative}:{line}: {name}")
    assert found == []
    # An allowance no longer needed goes away with the use it allowed.
    assert set(ALLOWED) - used_allowances == set()
