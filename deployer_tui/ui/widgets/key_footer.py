"""Textual's Footer, rebuilt once per burst of binding changes and only when what it shows changed.

Footer recomposes (removes and mounts one widget per key, CSS and all: 40-90 ms on the main screen)
on every "bindings updated" signal, and a screen sends several at once: pushing it, focusing a pane,
moving the focus. At start-up that was five rebuilds, about 0.3 s of the event loop that also loads
the lists. Here the signals of one burst share a single rebuild, done after the next refresh as
Footer does, and skipped when the keys shown are the same as before.

It also fits its width: Footer lays the keys out in one line and cuts whatever passes the right edge
(at 80 columns `?` and `q` were gone). Here each binding has a priority (FOOTER_PRIORITY, by binding
id); when the keys do not fit, the least important go first, and of two keys that say the same thing
("Quit") only the more important is shown. The palette key, docked on the right, keeps its room.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

# Higher stays longer. A binding id is looked up whole ("app.quit"), then by its name after the scope
# ("main.update" -> "update"), so the main screen and the detail screens share one table.
FOOTER_PRIORITY: dict[str, int] = {
    "help": 100, "quit": 100, "back": 100, "close": 100,
    "update": 80, "mark": 76, "narrow": 75, "edit_settings": 70, "test_queries": 65, "copy": 60,
    "filter": 55, "create": 50, "delete": 45, "toggle_enabled": 40, "sort": 35, "goto": 30, "refresh": 25,
    # ctrl+q quits everywhere; where `q` quits too, the footer shows `q` (same description, higher).
    "app.quit": 90,
    # The live canary's keys before its log's.
    "canary.abort": 88, "canary.pause": 87, "canary.promote": 86,
}
DEFAULT_PRIORITY = 20
# What Footer's CSS puts around a key: " key " then "description ". The palette key is as wide: its left
# border and right padding take the place of the key's padding.
_KEY_PADDING = 2
_DESCRIPTION_PADDING = 1
_PALETTE_EXTRA = 0


def binding_priority(binding: Binding) -> int:
    binding_id = binding.id or ""
    if binding_id in FOOTER_PRIORITY:
        return FOOTER_PRIORITY[binding_id]
    return FOOTER_PRIORITY.get(binding_id.partition(".")[2], DEFAULT_PRIORITY)


def key_width(key_display: str, description: str) -> int:
    """Cells a footer key takes (as Footer's CSS pads it)."""
    return cell_len(key_display) + _KEY_PADDING + (cell_len(description) + _DESCRIPTION_PADDING if description else 0)


def fit_keys(keys: list[tuple[str, str, int]], width: int) -> set[int]:
    """Which of `keys` (description, shown text width, priority) to show in `width` cells (their indices):
    one per description (the highest priority), then the highest priorities that fit, skipping a key too
    wide for what is left so that a narrower, less important one can still take the room."""
    best: dict[str, int] = {}
    for i, (description, _, priority) in enumerate(keys):
        if description not in best or priority > keys[best[description]][2]:
            best[description] = i
    candidates = sorted(best.values(), key=lambda i: (-keys[i][2], i))
    chosen: set[int] = set()
    used = 0
    for i in candidates:
        if used + keys[i][1] <= width:
            chosen.add(i)
            used += keys[i][1]
    return chosen


class KeyFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        widgets = list(super().compose())
        # Before its first layout the footer is as wide as the terminal (it is docked along the bottom).
        width = self.size.width or self.app.size.width
        if width <= 0 or any(not hasattr(widget, "action") for widget in widgets):
            # No size at all, or a binding group: Footer's own layout.
            yield from widgets
            return
        palette = [w for w in widgets if w.has_class("-command-palette")]
        keys = [w for w in widgets if not w.has_class("-command-palette")]
        room = width - sum(key_width(w.key_display, w.description) + _PALETTE_EXTRA for w in palette)
        priorities = self._priorities()
        measured = [(w.description or w.action, key_width(w.key_display, w.description),
                     priorities.get(w.action, DEFAULT_PRIORITY)) for w in keys]
        chosen = fit_keys(measured, room)
        yield from (w for i, w in enumerate(keys) if i in chosen)
        yield from palette

    def _priorities(self) -> dict[str, int]:
        """Priority per action shown (Footer shows one key per action: the first binding's)."""
        found: dict[str, int] = {}
        for active in self.screen.active_bindings.values():
            if active.binding.show and active.binding.action not in found:
                found[active.binding.action] = binding_priority(active.binding)
        return found

    def on_resize(self) -> None:
        self.call_after_refresh(self.recompose)

    async def recompose(self) -> None:
        # Footer asks for a recompose after the next refresh on each signal: the first of a burst
        # rebuilds, the others find the same keys and do nothing.
        if not self.is_attached:
            return
        shown = self._what_compose_shows()
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()

    def _what_compose_shows(self) -> tuple:
        """Everything `Footer.compose` reads, so that equal values compose the same widgets."""
        app = self.app
        keys = tuple(
            (binding.key, app.get_key_display(binding), binding.description, binding.action, binding.group,
             binding.tooltip, enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show or binding.key == app.COMMAND_PALETTE_BINDING
        )
        return (keys, self.size.width, self.show_command_palette, self.compact, self.combine_groups, app.ENABLE_COMMAND_PALETTE,
                app.COMMAND_PALETTE_BINDING)
