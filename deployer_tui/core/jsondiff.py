"""Structural diff of JSON documents, for reviewing a settings draft before it is saved.

Settings are whole documents that the client reads, edits and writes back (docs/protocol.md, "Light statuses and settings"),
so the two questions before a save are "what does my draft change?" and, when the server's copy
moved since the draft was loaded, "which of those changes collide with someone else's?".
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]
_MISSING = object()


@dataclass(frozen=True)
class Change:
    path: Path
    kind: str  # "added" | "removed" | "changed"
    old: Any = None
    new: Any = None

    @property
    def where(self) -> str:
        return format_path(self.path)


def format_path(path: Path) -> str:
    """`("apiNodes", 0, "url")` -> `apiNodes[0].url`; the root is `$`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


def diff(old: Any, new: Any, path: Path = ()) -> list[Change]:
    """Every leaf-level difference between two JSON values, in document order.

    Objects are compared key by key; lists index by index (settings lists are short and
    positional: apiNodes, permissions, mapping entries), so an inserted element shows as
    changes to the following ones plus an addition, which is what a reviewer needs to see.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in list(old) + [k for k in new if k not in old]:
            a, b = old.get(key, _MISSING), new.get(key, _MISSING)
            if a is _MISSING:
                changes.append(Change(path + (key,), "added", new=b))
            elif b is _MISSING:
                changes.append(Change(path + (key,), "removed", old=a))
            else:
                changes.extend(diff(a, b, path + (key,)))
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for index in range(max(len(old), len(new))):
            if index >= len(old):
                changes.append(Change(path + (index,), "added", new=new[index]))
            elif index >= len(new):
                changes.append(Change(path + (index,), "removed", old=old[index]))
            else:
                changes.extend(diff(old[index], new[index], path + (index,)))
        return changes
    # bool is an int in Python: compare types too, so `1` -> `true` is a change.
    if type(old) is not type(new) or old != new:
        return [Change(path, "changed", old=old, new=new)]
    return []


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def unified(old: Any, new: Any, *, old_name: str = "saved", new_name: str = "draft", context: int = 3) -> str:
    """A unified text diff of the pretty-printed documents ('' when they are equal)."""
    lines = difflib.unified_diff(
        pretty(old).splitlines(), pretty(new).splitlines(), old_name, new_name, n=context, lineterm=""
    )
    return "\n".join(lines)


def _overlaps(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def conflicts(base: Any, theirs: Any, mine: Any) -> list[tuple[Change, Change]]:
    """Pairs (their change, my change) that touch the same place since `base`.

    Two edits conflict when one's path is a prefix of the other's (editing `auth` vs
    `auth.apiKeys[0]`) — unless both made the very same change.
    """
    their_changes = diff(base, theirs)
    my_changes = diff(base, mine)
    pairs = []
    for theirs_change in their_changes:
        for my_change in my_changes:
            if _overlaps(theirs_change.path, my_change.path) and theirs_change != my_change:
                pairs.append((theirs_change, my_change))
    return pairs
