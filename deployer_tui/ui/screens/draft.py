"""Screens that hold a draft the person has not saved, and quitting without losing one silently.

Kept apart from the settings editor so that the app shell can ask "anything unsaved?" without importing
the editor (its JSON highlighting is the slowest import of the UI, not needed for the first paint)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import App
from textual.screen import Screen

from deployer_tui.ui.screens.settings_diff import AskScreen
from deployer_tui.ui.shell import ContextToasts


class DraftScreen(ContextToasts, Screen):
    """A screen editing something: says whether its draft differs from what is saved, and what it is."""

    @property
    def dirty(self) -> bool:  # pragma: no cover - every draft screen says
        raise NotImplementedError

    @property
    def label(self) -> str:  # pragma: no cover - every draft screen says
        raise NotImplementedError


def quit_unless_unsaved(app: App, screens: Iterable[Screen] | None = None) -> None:
    """Quit, but ask first when an open draft holds unsaved changes (the draft is never lost silently,
    not even by ctrl+q). `screens`: every open screen (each context's, not only those shown), by default
    the current stack."""
    unsaved = [s for s in (app.screen_stack if screens is None else screens)
               if isinstance(s, DraftScreen) and s.dirty]
    if not unsaved:
        app.exit()
        return
    names = ", ".join(screen.label for screen in unsaved)

    def answered(answer: str | None) -> None:
        if answer == "quit":
            app.exit()

    app.push_screen(
        AskScreen(f"Unsaved settings changes ({names}) will be lost.",
                  [("stay", "Keep editing", "n"), ("quit", "Quit anyway", "y")]),
        answered,
    )
