"""Generations mappings and the dispatch of one query to a generation (docs/protocol.md, "Generations mapping and dispatch").

`normalize` turns whatever the deployer or a user posts to `setMapping` into the shape this node
stores and returns as `activeMapping`:

    {"mode": "SINGLE_GENERATION", "generation": "v3", "entries": [{"generation": "v3", "proba": 1.0}]}
    {"mode": "MULTI_GENERATION", "strategy": "RANDOM" | "HASH_BASED",
     "entries": [{"generation": "v3", "proba": 0.9}, {"generation": "v4", "proba": 0.1}]}

Other keys the caller sent (`auditRoutingKey`, `auditMetadata`, ...) are kept as they came.
Probabilities must sum to 1 within 1e-6; a multi-generation mapping without `strategy` is RANDOM.
Two mappings serve the same thing when `same_mapping` says so: same entries in the same order
(probabilities within 1e-6) and, for several entries, the same strategy.

HASH_BASED dispatch is deterministic across nodes and restarts (DSS seeds its hash per JVM):
`v = (first 8 bytes of SHA-256(dispatchKey as UTF-8), big-endian unsigned) mod 10000 / 10000`,
and the first entry whose cumulative probability exceeds `v` answers.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from deployer_tui.core.package import PackageError, validate_id

PROBA_TOLERANCE = 1e-6


class MappingError(ValueError):
    pass


def normalize(doc: Any) -> dict[str, Any]:
    """Validate a GenerationsMapping; raises MappingError with the reason."""
    if not isinstance(doc, dict):
        raise MappingError("A generations mapping must be a JSON object")
    out = dict(doc)
    mode = doc.get("mode")
    entries = doc.get("entries")
    if mode == "SINGLE_GENERATION" or (mode is None and doc.get("generation") and not entries):
        generation = _gen_id(doc.get("generation"))
        out.update(mode="SINGLE_GENERATION", generation=generation,
                   entries=[{"generation": generation, "proba": 1.0}])
        out.pop("strategy", None)
        return out
    if mode not in (None, "MULTI_GENERATION"):
        raise MappingError(f"Unknown mapping mode {mode!r}: use SINGLE_GENERATION or MULTI_GENERATION")
    if not isinstance(entries, list) or not entries:
        raise MappingError("A MULTI_GENERATION mapping needs a non-empty 'entries' list of {generation, proba}")
    clean = []
    seen = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise MappingError("Each mapping entry must be an object {generation, proba}")
        generation = _gen_id(entry.get("generation"))
        if generation in seen:
            raise MappingError(f"Generation {generation} appears twice in the mapping")
        seen.add(generation)
        proba = entry.get("proba")
        if isinstance(proba, bool) or not isinstance(proba, int | float) or not 0 <= proba <= 1:
            raise MappingError(f"Entry {generation}: proba must be a number between 0 and 1, not {proba!r}")
        clean.append({"generation": generation, "proba": float(proba)})
    total = sum(e["proba"] for e in clean)
    if abs(total - 1.0) > PROBA_TOLERANCE:
        raise MappingError(f"Mapping probabilities must sum to 1 (they sum to {total:g})")
    strategy = doc.get("strategy") or "RANDOM"
    if strategy not in ("RANDOM", "HASH_BASED"):
        raise MappingError(f"Unknown mapping strategy {strategy!r}: use RANDOM or HASH_BASED")
    out.update(mode="MULTI_GENERATION", strategy=strategy, entries=clean)
    out.pop("generation", None)
    return out


def _gen_id(value: Any) -> str:
    try:
        return validate_id(value, "generation id")
    except PackageError as exc:
        raise MappingError(str(exc)) from None


def generations(mapping: dict[str, Any] | None) -> list[str]:
    return [e["generation"] for e in (mapping or {}).get("entries") or []]


def same_mapping(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two mappings (any accepted form) send queries to the same generations the same way."""
    try:
        na, nb = normalize(a), normalize(b)
    except MappingError:
        return False
    ea, eb = na["entries"], nb["entries"]
    if [e["generation"] for e in ea] != [e["generation"] for e in eb]:
        return False
    if any(abs(x["proba"] - y["proba"]) > PROBA_TOLERANCE for x, y in zip(ea, eb, strict=True)):
        return False
    return len(ea) == 1 or na.get("strategy") == nb.get("strategy")


def hash_fraction(key: str) -> float:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") % 10000) / 10000


class DispatchError(ValueError):
    pass


def select(mapping: dict[str, Any], forced: str | None, key: str | None, rng: random.Random | None = None) -> str:
    """The generation that answers a query; `forced` must be checked against mounted ones by the caller."""
    if forced:
        return forced
    entries = mapping["entries"]
    if len(entries) == 1:
        return entries[0]["generation"]
    if mapping.get("strategy") == "HASH_BASED":
        if not key:
            raise DispatchError("For a HASH_BASED dispatch, the dispatch key is mandatory in queries")
        point = hash_fraction(key)
    else:
        point = (rng or random).random()
    bound = 0.0
    for entry in entries:
        bound += entry["proba"]
        if point < bound:
            return entry["generation"]
    return entries[-1]["generation"]  # rounding: the probabilities sum to 1 within tolerance
