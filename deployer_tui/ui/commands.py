"""Command palette (ctrl+p) providers: every registered action, and every infra/service/deployment."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ActionsProvider(Provider):
    """The actions of the registry that make sense on the screen the palette was opened from."""

    def _actions(self):
        app = self.app
        for action in app.actions:  # type: ignore[attr-defined]
            if action.id == "app.quit" or action.is_available(self.screen):
                yield action

    async def discover(self) -> Hits:
        for action in self._actions():
            yield DiscoveryHit(action.title, partial(self.app.dispatch, action.id), help=action.help)  # type: ignore[attr-defined]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action in self._actions():
            score = matcher.match(action.title)
            if score > 0:
                yield Hit(score, matcher.highlight(action.title), partial(self.app.dispatch, action.id),  # type: ignore[attr-defined]
                          help=action.help)


class ResourcesProvider(Provider):
    """Open any infra, service or deployment by typing part of its id (searched, not listed up front)."""

    async def search(self, query: str) -> Hits:
        store = self.app.store  # type: ignore[attr-defined]
        matcher = self.matcher(query)
        for kind, ids in (("deployment", store.deployments), ("service", store.services), ("infra", store.infras)):
            for ident in list(ids):
                label = f"{kind} {ident}"
                score = matcher.match(label)
                if score > 0:
                    yield Hit(score, matcher.highlight(label), partial(self.app.open_resource, kind, ident),  # type: ignore[attr-defined]
                              help=_summary(store, kind, ident))


def _summary(store, kind: str, ident: str) -> str:
    """One line under a resource hit, from what the store already holds."""
    if kind == "deployment":
        info = store.deployments[ident].get("deploymentBasicInfo") or {}
        return (f"{info.get('publishedServiceId', '?')} on {info.get('infraId', '?')} · "
                f"{store.health(ident).replace('_', ' ').lower()}")
    if kind == "service":
        versions = len(store.services[ident].get("packages") or [])
        return f"{versions} version{'s' if versions != 1 else ''} · {len(store.deployment_ids_of_service(ident))} deployments"
    info = store.infras[ident].get("infraBasicInfo") or {}
    return f"{info.get('stage', '?')} · {info.get('type', '?')} · {len(store.deployment_ids_of_infra(ident))} deployments"
