"""JSON decoded with the parts many documents have alike kept once.

The lists of a deployer repeat themselves: every deployment's light status carries its infra's and its
service's basic info, and every infra and every service lists the basic info of each of its deployments
again. At 10,000 deployments that was 60 MB of dicts holding three copies of each deployment's basic info
(and the three lists decoded at once were the console's peak memory). Shared while decoding, a copy is
dropped as soon as it is built, so the copies never pile up.

Shared objects must not be changed in place: the console never changes a document it holds (a change is
a new document from the deployer).
"""

from __future__ import annotations

from typing import Any


class SharedDecoding:
    """The state of one load: pass `hook` as `object_pairs_hook` to each of its documents' decode.

    - every string value is kept once;
    - a dict with a string `id` equal (==) to the first one seen with that id and those keys is that one;
    - a small dict of plain values (`{"login": "admin"}`) equal in values and their types (True is not 1)
      to an earlier one is that one.
    Drop the instance after the load: it holds every first-seen dict."""

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._by_id: dict[tuple[str, tuple[str, ...]], dict] = {}
        self._by_value: dict[tuple, dict] = {}

    def hook(self, pairs: list[tuple[str, Any]]) -> dict:
        obj = dict(pairs)
        ident = obj.get("id")
        if type(ident) is str:
            first = self._by_id.setdefault((ident, tuple(obj)), obj)
            if first is not obj and first == obj:
                return first
        elif len(obj) <= 4:
            key: tuple | None = tuple([(name, type(value), value) for name, value in pairs])
            try:
                hash(key)
            except TypeError:  # a list or a dict inside: not a dict of plain values
                key = None
            if key is not None:
                first = self._by_value.setdefault(key, obj)
                if first is not obj:
                    return first
        # Kept: its strings are the first seen of each (a copy dropped above needs none of this).
        strings = self._strings
        for name, value in pairs:
            if type(value) is str:
                obj[name] = strings.setdefault(value, value)
        return obj
