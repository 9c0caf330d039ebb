"""Command palette (ctrl+p) providers: the actions of the current screen, and every infra/service/deployment."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from deployer_tui.core import readers
from deployer_tui.ui.object_actions import ObjectActions
from deployer_tui.ui.shell import shell_of

if TYPE_CHECKING:
    from deployer_tui.ui.state.data_store import DataStore


class ActionsProvider(Provider):
    """The actions of the screen the palette was opened from: its live bindings (the app's, the screen's and
    the focused widget's, as the footer and `?` see them) and the screen's key-less palette commands. Each
    runs through `App.run_action`, like its key, so read-only mode refuses the same ones."""

    def _screen_commands(self) -> list[tuple[str, str, Callable[[], Awaitable[Any]]]]:
        screen, app = self.screen, self.app
        found: list[tuple[str, str, Callable[[], Awaitable[Any]]]] = []
        seen: set[tuple[int, str]] = set()
        # One entry per title: `q` and ctrl+q both say "Quit", and Textual's own commands (the app's
        # system commands, listed beside these) already offer one.
        titles = {command.title for command in app.get_system_commands(screen)}
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.id or not active.enabled or (id(active.node), binding.action) in seen \
                    or binding.description in titles:
                continue
            seen.add((id(active.node), binding.action))
            titles.add(binding.description)
            found.append((binding.description, binding.tooltip, partial(app.run_action, binding.action, active.node)))
        if isinstance(screen, ObjectActions):
            for command in screen.PALETTE_COMMANDS:
                found.append((command.title, command.help, partial(app.run_action, command.action, screen)))
        return found

    async def discover(self) -> Hits:
        for title, help_text, run in self._screen_commands():
            yield DiscoveryHit(title, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, run in self._screen_commands():
            # Fuzzy on the title; its help line counts when every word typed is in it ("help keys" finds
            # Help, "Show the keys of the current screen"): fuzzy over a sentence would match anything.
            score = matcher.match(title)
            words = query.lower().split()
            if not score and words and all(w in f"{title} {help_text}".lower() for w in words):
                score = 0.5
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help_text)


class ResourcesProvider(Provider):
    """Open any infra, service or deployment by typing part of its id (searched, not listed up front)."""

    async def search(self, query: str) -> Hits:
        shell = shell_of(self.screen)
        store = shell.store
        matcher = self.matcher(query)
        for kind, ids in (("deployment", store.deployments), ("service", store.services), ("infra", store.infras)):
            for ident in list(ids):
                label = f"{kind} {ident}"
                score = matcher.match(label)
                if score > 0:
                    yield Hit(score, matcher.highlight(label), partial(shell.open_resource, kind, ident),
                              help=_summary(store, kind, ident))


def _summary(store: DataStore, kind: str, ident: str) -> str:
    """One line under a resource hit, from what the store already holds."""
    if kind == "deployment":
        info = readers.basic(store.deployments[ident], "deploymentBasicInfo")
        return (f"{info.get('publishedServiceId', '?')} on {info.get('infraId', '?')} · "
                f"{store.health(ident).replace('_', ' ').lower()}")
    if kind == "service":
        versions = len(store.services[ident].get("packages") or [])
        return f"{versions} version{'s' if versions != 1 else ''} · {len(store.deployment_ids_of_service(ident))} deployments"
    info = readers.basic(store.infras[ident], "infraBasicInfo")
    return f"{info.get('stage', '?')} · {info.get('type', '?')} · {len(store.deployment_ids_of_infra(ident))} deployments"
