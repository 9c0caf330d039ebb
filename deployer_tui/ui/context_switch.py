"""Showing a context: each context has its own screen stack (a Textual app mode), so switching keeps
every context's main screen as it was (lists, filter, sort, selection) and the detail screens open on it.

Every context gets a mode the first time it is shown (the first one when the app mounts), with its own
main screen on top of a blank base screen: the stack shape of an app that pushed its main screen, which
screens count on (ui/screens/detail_base.py).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from textual.screen import Screen

from deployer_tui.ui.screens.main import MainScreen

if TYPE_CHECKING:
    from deployer_tui.ui.app import DeployerApp
    from deployer_tui.ui.state.contexts_state import ContextState

_MODES: weakref.WeakKeyDictionary[DeployerApp, set[str]] = weakref.WeakKeyDictionary()
# Per app, each hidden context's screen stack as it was left (a hidden stack does not change: nothing
# pushes onto or pops from a context not shown).
_LEFT: weakref.WeakKeyDictionary[DeployerApp, dict[str, list[Screen]]] = weakref.WeakKeyDictionary()


def mode_of(name: str) -> str:
    """The app mode that holds a context's screens."""
    return f"context:{name}"


def show_context(app: DeployerApp, state: ContextState) -> None:
    """Put the context's own screens on screen (its main screen the first time)."""
    mode = mode_of(state.name)
    if app.current_mode == mode:
        return
    known = _MODES.setdefault(app, set())
    left = _LEFT.setdefault(app, {})
    if app.current_mode in known:
        left[app.current_mode] = list(app.screen_stack)
        # Each screen left stays its context's, even one that has not asked for its shell yet.
        for screen in app.screen_stack:
            app.bind_screen(screen, app.current_mode.removeprefix("context:"))
    left.pop(mode, None)
    new = mode not in known
    if new:
        app.add_mode(mode, Screen)
        known.add(mode)
    app.switch_mode(mode)
    if new:
        app.push_screen(MainScreen())


def open_screens(app: DeployerApp) -> list[Screen]:
    """Every screen open in any context: the one shown, and those left open in the others."""
    screens = list(app.screen_stack)
    for stack in _LEFT.get(app, {}).values():
        screens += [screen for screen in stack if screen.is_attached and screen not in screens]
    return screens
