"""Textual's Footer, rebuilt once per burst of binding changes and only when what it shows changed.

Footer recomposes (removes and mounts one widget per key, CSS and all: 40-90 ms on the main screen)
on every "bindings updated" signal, and a screen sends several at once: pushing it, focusing a pane,
moving the focus. At start-up that was five rebuilds, about 0.3 s of the event loop that also loads
the lists. Here the signals of one burst share a single rebuild, done after the next refresh as
Footer does, and skipped when the keys shown are the same as before.
"""

from __future__ import annotations

from textual.widgets import Footer


class KeyFooter(Footer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None

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
        return (keys, self.show_command_palette, self.compact, self.combine_groups, app.ENABLE_COMMAND_PALETTE,
                app.COMMAND_PALETTE_BINDING)
