"""Edits of settings documents, as pure functions over the raw JSON.

The TUI's helper forms (enable/disable, version, traffic split, API nodes, permissions) never save
anything themselves: each produces the very document a person would have typed in the JSON editor,
which then goes through the same review-diff-save path. Every function returns a new document
(the input is never mutated) and raises `SettingsEditError` with a sentence a person can act on.

`parse_json_with_position` is the editor's validator: the standard `json` module plus the two
things it lets through that a settings document must not carry — `NaN`/`Infinity` (not JSON; the
deployer would reject or mangle them) and duplicate keys (silently collapsed to the last one, so a
draft would lose an edit without a word).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from deployer_tui.core import jsondiff

PROBA_TOLERANCE = 1e-9
STRATEGIES = ("RANDOM", "HASH_BASED")
INFRA_PERMISSION_FLAGS = ("read", "deploy", "admin")
SERVICE_PERMISSION_FLAGS = ("read", "write", "deploy", "admin")
# Mapping keys that belong to one mode only; the rest (auditRoutingKey, auditMetadata, unknown keys)
# describe the deployment's routing whatever the mode and survive a mode change.
_MODE_KEYS = ("mode", "generation", "entries", "strategy")


class SettingsEditError(ValueError):
    """A helper refused an edit; the message says why."""


@dataclass(frozen=True)
class JsonError:
    """Where a draft stops being valid JSON. `line` and `column` count from 1, like editors do."""

    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


# ---------------------------------------------------------------------------------------------
# Parsing with positions


class _DuplicateKey(Exception):
    pass


class _BadConstant(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _bad_constant(name: str) -> Any:
    raise _BadConstant(name)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _tokens(text: str) -> Iterable[tuple[int, str, str]]:
    """(offset, kind, token) for JSON tokens; kind is 'string', 'punct' or 'word'. Only used on
    text that `json` already parsed, so it need not handle malformed input gracefully."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            yield i, "string", text[i : j + 1]
            i = j + 1
        elif ch in "{}[]:,":
            yield i, "punct", ch
            i += 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n{}[]:,"':
                j += 1
            yield i, "word", text[i:j]
            i = j


def _locate_duplicate(text: str, key: str) -> int:
    """Offset of the first key that repeats an earlier key of the same object."""
    stack: list[set[str] | None] = []  # a set per open object, None per open array
    tokens = list(_tokens(text))
    for index, (offset, kind, token) in enumerate(tokens):
        if kind == "punct" and token in "{[":
            stack.append(set() if token == "{" else None)
        elif kind == "punct" and token in "}]":
            stack.pop()
        elif kind == "string" and stack and stack[-1] is not None:
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following and following[2] == ":":
                name = json.loads(token)
                if name in stack[-1]:
                    return offset
                stack[-1].add(name)
    return 0


def _locate_word(text: str, word: str) -> int:
    for offset, kind, token in _tokens(text):
        if kind == "word" and token == word:
            return offset
    return 0


def parse_json_with_position(text: str) -> tuple[Any | None, JsonError | None]:
    """(value, None) when `text` is one valid JSON document, else (None, where and why)."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_bad_constant)
    except json.JSONDecodeError as err:
        message = err.msg
        if message.startswith("Invalid control character"):
            # What `json` says about a line break inside quotes, usually a string left open.
            message = "Line break or control character inside a string (a missing closing quote?)"
        return None, JsonError(err.lineno, err.colno, message)
    except _DuplicateKey as dup:
        line, column = _line_col(text, _locate_duplicate(text, dup.args[0]))
        return None, JsonError(line, column, f"Duplicate key {json.dumps(dup.args[0])}")
    except _BadConstant as bad:
        line, column = _line_col(text, _locate_word(text, bad.args[0]))
        return None, JsonError(line, column, f"{bad.args[0]} is not valid JSON")
    return value, None


def parse_settings(text: str) -> tuple[dict | None, JsonError | None]:
    """Like `parse_json_with_position`, and the document must be an object (settings always are)."""
    value, error = parse_json_with_position(text)
    if error is not None:
        return None, error
    if not isinstance(value, dict):
        offset = len(text) - len(text.lstrip())
        line, column = _line_col(text, offset)
        return None, JsonError(line, column, f"Settings must be a JSON object, not {_json_type(value)}")
    return value, None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def dump(settings: Any) -> str:
    """The editor's text for a document: stable, readable, ending with a newline."""
    return json.dumps(settings, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Deployments


def set_enabled(settings: Mapping, enabled: bool) -> dict:
    if not isinstance(enabled, bool):
        raise SettingsEditError(f"enabled must be true or false, not {enabled!r}")
    out = copy.deepcopy(dict(settings))
    out["enabled"] = enabled
    return out


def _check_versions(wanted: Iterable[str], available: Sequence[str] | None) -> None:
    if available is None:
        return
    missing = [v for v in wanted if v not in available]
    if missing:
        known = ", ".join(available) or "none"
        raise SettingsEditError(f"Unknown version {', '.join(missing)} (the service has: {known})")


def _kept_mapping_keys(settings: Mapping) -> dict:
    mapping = settings.get("generationsMapping")
    if not isinstance(mapping, Mapping):
        return {}
    return {k: copy.deepcopy(v) for k, v in mapping.items() if k not in _MODE_KEYS}


def set_single_version(settings: Mapping, version: str, available: Sequence[str] | None = None) -> dict:
    """Route every query to `version` (mode SINGLE_GENERATION, docs/protocol.md "Generations mapping and dispatch").

    `available` is the service's version ids; when given, an unknown version is refused.
    """
    if not isinstance(version, str) or not version:
        raise SettingsEditError("Pick a version")
    _check_versions([version], available)
    out = copy.deepcopy(dict(settings))
    out["generationsMapping"] = {"mode": "SINGLE_GENERATION", "generation": version, **_kept_mapping_keys(settings)}
    return out


def set_traffic_split(
    settings: Mapping,
    entries: Sequence[tuple[str, float]],
    strategy: str = "RANDOM",
    available: Sequence[str] | None = None,
) -> dict:
    """Split traffic between versions (mode MULTI_GENERATION, docs/protocol.md "Generations mapping and dispatch").

    Probabilities are fractions in [0, 1] that must sum to 1 (within 1e-9); versions must be distinct
    and, when `available` is given, exist.
    """
    if strategy not in STRATEGIES:
        raise SettingsEditError(f"Strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if not entries:
        raise SettingsEditError("A traffic split needs at least one version")
    versions = [version for version, _ in entries]
    if any(not isinstance(v, str) or not v for v in versions):
        raise SettingsEditError("Every row of a traffic split needs a version")
    repeated = sorted({v for v in versions if versions.count(v) > 1})
    if repeated:
        raise SettingsEditError(f"Version {', '.join(repeated)} appears more than once")
    _check_versions(versions, available)
    probas = []
    for version, proba in entries:
        if isinstance(proba, bool) or not isinstance(proba, (int, float)) or not math.isfinite(proba):
            raise SettingsEditError(f"Probability of {version} must be a number, not {proba!r}")
        if not 0 <= proba <= 1:
            raise SettingsEditError(f"Probability of {version} must be between 0 and 1, not {proba}")
        probas.append(float(proba))
    total = math.fsum(probas)
    if abs(total - 1) > PROBA_TOLERANCE:
        raise SettingsEditError(f"Probabilities must sum to 1, they sum to {total:g}")
    out = copy.deepcopy(dict(settings))
    out["generationsMapping"] = {
        "mode": "MULTI_GENERATION",
        "strategy": strategy,
        "entries": [{"generation": v, "proba": p} for v, p in zip(versions, probas, strict=True)],
        **_kept_mapping_keys(settings),
    }
    return out


def mapping_versions(settings: Mapping) -> list[tuple[str, float]]:
    """The (version, probability) pairs a deployment routes to now, for pre-filling the forms."""
    mapping = settings.get("generationsMapping")
    if not isinstance(mapping, Mapping):
        return []
    if mapping.get("mode") == "SINGLE_GENERATION" or ("generation" in mapping and "entries" not in mapping):
        return [(str(mapping.get("generation")), 1.0)] if mapping.get("generation") else []
    out = []
    for entry in mapping.get("entries") or []:
        if isinstance(entry, Mapping) and entry.get("generation"):
            proba = entry.get("proba", 0)
            out.append((str(entry["generation"]), float(proba) if isinstance(proba, (int, float)) else 0.0))
    return out


# ---------------------------------------------------------------------------------------------
# Infrastructures: API nodes of a STATIC infra


def _require_static(settings: Mapping) -> None:
    kind = settings.get("type")
    if kind != "STATIC":
        raise SettingsEditError(f"API nodes are listed by hand only on STATIC infrastructures (this one is {kind})")


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsEditError(f"API node URL must look like http://host:port, not {url!r}")
    return url.rstrip("/")


def _same_url(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def add_api_node(settings: Mapping, url: str, admin_key: str, graphite_prefix: str | None = None) -> dict:
    """Append a node, with the fields `dataikuapi`'s `add_apinode` writes."""
    _require_static(settings)
    url = _check_url(url)
    if not admin_key or not admin_key.strip():
        raise SettingsEditError("The API node's admin key is required")
    nodes = settings.get("apiNodes") or []
    if not isinstance(nodes, list):
        raise SettingsEditError("apiNodes is not a list; fix it in the JSON first")
    if any(isinstance(n, Mapping) and _same_url(n.get("url"), url) for n in nodes):
        raise SettingsEditError(f"{url} is already an API node of this infrastructure")
    out = copy.deepcopy(dict(settings))
    out["apiNodes"] = copy.deepcopy(nodes) + [
        {"url": url, "adminAPIKey": admin_key.strip(), "graphitePrefix": graphite_prefix or None}
    ]
    return out


def remove_api_node(settings: Mapping, url: str) -> dict:
    _require_static(settings)
    nodes = settings.get("apiNodes") or []
    kept = [n for n in nodes if not (isinstance(n, Mapping) and _same_url(n.get("url"), url))]
    if len(kept) == len(nodes):
        raise SettingsEditError(f"{url} is not an API node of this infrastructure")
    out = copy.deepcopy(dict(settings))
    out["apiNodes"] = copy.deepcopy(kept)
    return out


# ---------------------------------------------------------------------------------------------
# Permissions (infras and services)


def permission_flags(kind: str) -> tuple[str, ...]:
    if kind == "infra":
        return INFRA_PERMISSION_FLAGS
    if kind == "service":
        return SERVICE_PERMISSION_FLAGS
    raise SettingsEditError(f"Only infrastructures and services have permissions, not {kind!r}")


def set_permission(settings: Mapping, kind: str, group: str, flags: Mapping[str, bool]) -> dict:
    """Grant `group` exactly `flags` (missing flags are false); other keys of its entry are kept."""
    allowed = permission_flags(kind)
    group = (group or "").strip()
    if not group:
        raise SettingsEditError("Permissions need a group name")
    unknown = [f for f in flags if f not in allowed]
    if unknown:
        raise SettingsEditError(f"Unknown permission {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    permissions = settings.get("permissions") or []
    if not isinstance(permissions, list):
        raise SettingsEditError("permissions is not a list; fix it in the JSON first")
    wanted = {flag: bool(flags.get(flag, False)) for flag in allowed}
    out = copy.deepcopy(dict(settings))
    updated, found = [], False
    for entry in copy.deepcopy(permissions):
        if isinstance(entry, dict) and entry.get("group") == group and not found:
            entry.update(wanted)
            found = True
        updated.append(entry)
    if not found:
        updated.append({"group": group, **wanted})
    out["permissions"] = updated
    return out


def remove_permission(settings: Mapping, group: str) -> dict:
    permissions = settings.get("permissions") or []
    kept = [p for p in permissions if not (isinstance(p, Mapping) and p.get("group") == group)]
    if len(kept) == len(permissions):
        raise SettingsEditError(f"Group {group!r} has no permission entry")
    out = copy.deepcopy(dict(settings))
    out["permissions"] = copy.deepcopy(kept)
    return out


# ---------------------------------------------------------------------------------------------
# Who may query a deployment (its `auth`)

AUTH_MODES = ("INHERIT_DEV", "PUBLIC", "API_KEYS")


def _auth_of(settings: Mapping) -> dict:
    auth = settings.get("auth")
    if auth is None:
        return {"authMode": "INHERIT_DEV", "apiKeys": []}
    if not isinstance(auth, Mapping) or not isinstance(auth.get("apiKeys") or [], list):
        raise SettingsEditError("auth is not an object with an apiKeys list; fix it in the JSON first")
    return copy.deepcopy(dict(auth))


def query_keys(settings: Mapping) -> list[dict]:
    """The deployment's own API keys (whatever its mode)."""
    return [k for k in _auth_of(settings).get("apiKeys") or [] if isinstance(k, dict)]


def set_auth_mode(settings: Mapping, mode: str) -> dict:
    """INHERIT_DEV: the served version's config.json decides; PUBLIC: anyone; API_KEYS: the deployment's keys.
    Keys are kept whatever the mode, so switching back to API_KEYS finds them again."""
    if mode not in AUTH_MODES:
        raise SettingsEditError(f"Unknown auth mode {mode!r} (allowed: {', '.join(AUTH_MODES)})")
    auth = _auth_of(settings)
    if mode == "API_KEYS" and not any(k.get("key") for k in query_keys(settings)):
        raise SettingsEditError("API_KEYS needs at least one key: add one first")
    auth["authMode"] = mode
    auth.setdefault("apiKeys", [])
    out = copy.deepcopy(dict(settings))
    out["auth"] = auth
    return out


def add_query_key(settings: Mapping, label: str, key: str, created_on_ms: int, created_by: str = "") -> dict:
    """Append a key `{key, label, description, createdOn, createdBy}`; the mode is left as it is."""
    key = (key or "").strip()
    if len(key) < 16:
        raise SettingsEditError("A query key needs at least 16 characters")
    if any(k.get("key") == key for k in query_keys(settings)):
        raise SettingsEditError("That key is already one of the deployment's keys")
    auth = _auth_of(settings)
    auth.setdefault("authMode", "INHERIT_DEV")
    auth["apiKeys"] = list(auth.get("apiKeys") or []) + [
        {"key": key, "label": (label or "").strip(), "description": "", "createdOn": created_on_ms,
         "createdBy": created_by}]
    out = copy.deepcopy(dict(settings))
    out["auth"] = auth
    return out


def remove_query_key(settings: Mapping, key: str) -> dict:
    auth = _auth_of(settings)
    keys = list(auth.get("apiKeys") or [])
    kept = [k for k in keys if not (isinstance(k, Mapping) and k.get("key") == key)]
    if len(kept) == len(keys):
        raise SettingsEditError("No such key in the deployment's auth")
    if auth.get("authMode") == "API_KEYS" and not any(isinstance(k, Mapping) and k.get("key") for k in kept):
        raise SettingsEditError("The last key of an API_KEYS deployment cannot go: change the mode first")
    auth["apiKeys"] = kept
    out = copy.deepcopy(dict(settings))
    out["auth"] = auth
    return out


# ---------------------------------------------------------------------------------------------
# Conflicts: putting my edits on top of the server's newer copy


def rebase(base: Any, theirs: Any, mine: Any) -> Any:
    """Apply the changes `mine` made to `base` onto `theirs`.

    Only for drafts without conflicts (`jsondiff.conflicts(base, theirs, mine)` empty): then every
    path I changed is untouched on their side, so replaying my changes cannot undo theirs.
    """
    if jsondiff.conflicts(base, theirs, mine):
        raise SettingsEditError("Your draft and the server's copy changed the same places; merge by hand")
    out = copy.deepcopy(theirs)
    changes = jsondiff.diff(base, mine)
    # List removals come in ascending index order; apply them last and from the end so the
    # earlier indexes stay valid.
    removals = [c for c in changes if c.kind == "removed"]
    for change in [c for c in changes if c.kind != "removed"]:
        out = _set_at(out, change.path, copy.deepcopy(change.new))
    for change in reversed(removals):
        out = _delete_at(out, change.path)
    return out


def _set_at(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if isinstance(parent, list) and isinstance(last, int) and last == len(parent):
        parent.append(value)
    else:
        parent[last] = value
    return doc


def _delete_at(doc: Any, path: tuple) -> Any:
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        del parent[last]
    return doc


# ---------------------------------------------------------------------------------------------
# Masking secrets for display


def mask_secret(secret: str | None) -> str:
    """Enough to recognise a key, never enough to use it."""
    if not secret:
        return ""
    return "•" * 8 + (secret[-4:] if len(secret) >= 12 else "")


# Keys whose values are credentials (an API node's adminAPIKey, eventServerAuthKey), and
# `key` inside `auth.apiKeys[]` — elsewhere `key` is an ordinary name (K8S properties).
SECRET_KEYS = frozenset({"adminAPIKey", "eventServerAuthKey", "apiKey", "secret", "password"})


def mask_secrets(doc: Any, _in_api_keys: bool = False) -> Any:
    """A copy of `doc` with every credential value masked, for review screens."""
    if isinstance(doc, dict):
        return {
            k: (
                mask_secret(v)
                if isinstance(v, str) and (k in SECRET_KEYS or (_in_api_keys and k == "key"))
                else mask_secrets(v, k == "apiKeys")
            )
            for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [mask_secrets(v, _in_api_keys) for v in doc]
    return doc


def mask_secrets_at(value: Any, path: Sequence[Any]) -> Any:
    """`mask_secrets` for a value found at `path` inside a document: a key of `auth.apiKeys[0]` shown
    alone is still a key, though the value no longer says where it came from."""
    in_api_keys = "apiKeys" in path
    last = path[-1] if path else None
    if isinstance(value, str) and isinstance(last, str) and (last in SECRET_KEYS or (in_api_keys and last == "key")):
        return mask_secret(value)
    return mask_secrets(value, in_api_keys)


def is_governance_warning(error: Exception) -> bool:
    """Whether a refused deployment save is a governance warning that `ignoreWarnings` bypasses.

    DSS does not document the shape (only the flag is known), so this looks for the
    words in what the error carries: its type, code, title and message.
    """
    status = getattr(error, "status", None)
    if status is None:  # no answer at all: a network problem, not a warning
        return False
    body = getattr(error, "body", None) or {}
    words = " ".join(
        str(part or "")
        for part in (
            getattr(error, "error_type", ""),
            body.get("code") if isinstance(body, dict) else "",
            body.get("title") if isinstance(body, dict) else "",
            getattr(error, "message", str(error)),
        )
    ).lower()
    if "ignorewarnings" in words:  # the deployer says how to bypass it: a warning by definition
        return True
    if "prevent" in words:  # PREVENT policies are refusals, not warnings
        return False
    return "govern" in words or "warning" in words


# ---------------------------------------------------------------------------------------------
# Concealing secrets in the editor's text

_PLACEHOLDER = "«hidden secret {n}: kept as is unless you replace this text»"
_PLACEHOLDER_MARK = "«hidden secret "


def _is_secret_slot(key: str, value: Any, in_api_keys: bool) -> bool:
    return isinstance(value, str) and bool(value) and (key in SECRET_KEYS or (in_api_keys and key == "key"))


def conceal_secrets(doc: Any, known: dict[str, str] | None = None) -> tuple[Any, dict[str, str]]:
    """Replace credential values by placeholders; returns (document, placeholder -> value).

    The editor shows (and hands to $EDITOR) the concealed text, so keys neither appear on screen
    nor land in a temporary file. A value already in `known` keeps its placeholder.
    """
    secrets = dict(known or {})
    by_value = {value: placeholder for placeholder, value in secrets.items()}

    def walk(node: Any, in_api_keys: bool) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if _is_secret_slot(key, value, in_api_keys) and not value.startswith(_PLACEHOLDER_MARK):
                    if value not in by_value:
                        placeholder = _PLACEHOLDER.format(n=len(secrets) + 1)
                        secrets[placeholder] = value
                        by_value[value] = placeholder
                    out[key] = by_value[value]
                else:
                    out[key] = walk(value, key == "apiKeys")
            return out
        if isinstance(node, list):
            return [walk(item, in_api_keys) for item in node]
        return node

    return walk(doc, False), secrets


def reveal_secrets(doc: Any, secrets: dict[str, str]) -> Any:
    """Put the concealed values back wherever a placeholder still stands."""
    if isinstance(doc, dict):
        return {key: reveal_secrets(value, secrets) for key, value in doc.items()}
    if isinstance(doc, list):
        return [reveal_secrets(item, secrets) for item in doc]
    if isinstance(doc, str) and doc in secrets:
        return secrets[doc]
    return doc


def stray_placeholders(doc: Any) -> list[str]:
    """Placeholders that were edited into something unknown: saving them would store garbage as a key."""
    found: list[str] = []

    def walk(node: Any, path: tuple) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + (key,))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, path + (index,))
        elif isinstance(node, str) and _PLACEHOLDER_MARK in node:
            found.append(jsondiff.format_path(path))

    walk(doc, ())
    return found
