"""Who is calling, and what they may do (docs/protocol.md, "Authentication"; docs/deployer.md for permissions).

Keys: the admin key given to `serve` maps to user ``admin`` in group ``administrators``.
Other keys are personal API keys of local users, created by an admin through the DSS admin
routes the official client already knows: ``client.create_user(login, pw, groups=[...])`` then
``client.create_personal_api_key_for_user(login)``. Members of ``administrators`` may do
anything; others are checked against infra permissions (read < deploy < admin) and service
permissions (read < write < deploy < admin; the owner has every right).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from deployer_tui.server.http import DSSHTTPError, extract_api_key, keys_equal

ADMIN_LOGIN = "admin"
ADMIN_GROUP = "administrators"

INFRA_LEVELS = ("read", "deploy", "admin")
SERVICE_LEVELS = ("read", "write", "deploy", "admin")


@dataclass
class Principal:
    login: str
    groups: list[str] = field(default_factory=list)
    display_name: str = ""

    @property
    def is_admin(self) -> bool:
        return ADMIN_GROUP in self.groups


def unauthenticated(message: str) -> DSSHTTPError:
    return DSSHTTPError(401, message)


def authenticate(request: Request, admin_key: str, store: Any) -> Principal:
    key = extract_api_key(request)
    if not key:
        raise unauthenticated("No API key provided (use HTTP Basic with the key as user name, or Bearer)")
    if keys_equal(key, admin_key):
        return Principal(ADMIN_LOGIN, [ADMIN_GROUP], "Administrator")
    doc = store.get_key(key)
    if doc is None:
        raise unauthenticated("Unknown API key")
    user = store.get_user(doc["user"]) or {"login": doc["user"], "groups": []}
    return Principal(user["login"], list(user.get("groups") or []), user.get("displayName") or user["login"])


def _granted(perms: Any, groups: list[str], level: str, levels: tuple[str, ...]) -> bool:
    """A permission entry grants `level` when it grants it or any level above it."""
    wanted = levels[levels.index(level):]
    for perm in perms if isinstance(perms, list) else []:
        if isinstance(perm, dict) and perm.get("group") in groups and any(perm.get(lv) is True for lv in wanted):
            return True
    return False


def infra_allows(who: Principal, infra_doc: dict[str, Any], level: str) -> bool:
    return who.is_admin or _granted(infra_doc.get("permissions"), who.groups, level, INFRA_LEVELS)


def service_allows(who: Principal, service_doc: dict[str, Any], level: str) -> bool:
    if who.is_admin or service_doc.get("owner") == who.login:
        return True
    return _granted(service_doc.get("permissions"), who.groups, level, SERVICE_LEVELS)


def require(allowed: bool, message: str) -> None:
    if not allowed:
        raise DSSHTTPError(403, message)
