"""Version packages: the DSS zip layout (docs/protocol.md, "Version packages"; the README's package table).

A package is a zip with, at its root, ``tag.json`` (the version id), ``config.json`` (auth and
endpoint definitions), ``testqueries-<endpoint>.json``, ``endpoint-<endpoint>/code.py`` and
``datasets/<resourceId>/*.csv``. This module reads and checks packages safely — no absolute or
``..`` paths, bounded size and entry count — and builds them from a folder. The deployer, the
API node and the ``package`` command all use it, so a package accepted by one is accepted by all.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

# Bounds against zip bombs; generous for real packages (code, small CSVs, test queries).
MAX_ENTRIES = 10_000
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024
MAX_COMPRESSION_RATIO = 200
MAX_JSON_BYTES = 16 * 1024 * 1024
# The whole-package ratio is checked once the package expands to more than this (tiny packages of
# repetitive text compress very well and are harmless).
WHOLE_RATIO_FROM_BYTES = 8 * 1024 * 1024

ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")

# Endpoint types the local API node serves, and the verbs each answers.
SERVED_ENDPOINT_TYPES: dict[str, tuple[str, ...]] = {
    "PY_FUNCTION": ("run",),
    "CUSTOM_PREDICTION": ("predict", "predict-multi"),
    "DATASETS_LOOKUP": ("lookup", "lookup-multi"),
    "SQL_QUERY": ("query",),
}
# Verbs of every DSS endpoint type, served here or not: the TUI builds URLs for real DSS nodes too.
ENDPOINT_VERBS: dict[str, tuple[str, ...]] = {
    **SERVED_ENDPOINT_TYPES,
    "STD_PREDICTION": ("predict", "predict-multi"),
    "STD_CLUSTERING": ("predict", "predict-multi"),
    "STD_MULTITARGET_PREDICTION": ("predict", "predict-multi"),
    "STD_FORECAST": ("forecast",),
    "STD_CAUSAL_PREDICTION": ("predict-effect", "predict-effect-multi"),
    "CUSTOM_R_PREDICTION": ("predict", "predict-multi"),
    "R_FUNCTION": ("run",),
}
CODE_ENDPOINT_TYPES = ("PY_FUNCTION", "CUSTOM_PREDICTION")


class PackageError(ValueError):
    """A package that cannot be accepted; the message says what is wrong and where."""


@dataclass
class PackageInfo:
    """What a valid package says about itself."""

    version_id: str
    created_on: int
    config: dict[str, Any]
    tag: dict[str, Any]
    test_queries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def endpoints(self) -> list[dict[str, Any]]:
        return list(self.config.get("endpoints") or [])

    def endpoint_summaries(self) -> list[dict[str, str]]:
        return [{"id": ep["id"], "type": ep["type"]} for ep in self.endpoints]


def validate_id(value: Any, what: str) -> str:
    """Ids are what DSS allows in URLs: letters, digits, `_`, `-`, `.`; 1 to 100 characters, no leading `.`/`-`."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise PackageError(
            f"Invalid {what} {value!r}: use 1 to 100 letters, digits, '_', '-' or '.', not starting with '.' or '-'"
        )
    return value


def _check_member_name(name: str) -> None:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise PackageError(f"Package entry {name!r} has an absolute path")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        raise PackageError(f"Package entry {name!r} escapes the package with '..'")


def _open_zip(source: str | Path | bytes | BinaryIO) -> zipfile.ZipFile:
    try:
        if isinstance(source, bytes):
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except zipfile.BadZipFile as exc:
        raise PackageError(f"Not a valid zip file: {exc}") from None
    except OSError as exc:
        raise PackageError(f"Cannot read package: {exc}") from None


def check_archive(zf: zipfile.ZipFile, *, max_bytes: int = MAX_UNCOMPRESSED_BYTES,
                  max_entries: int = MAX_ENTRIES) -> list[zipfile.ZipInfo]:
    """Refuse unsafe archives before anything is extracted or parsed.

    Sizes are the ones the zip declares, which extraction cannot exceed (zipfile stops at the
    declared size and checks the CRC). The bounds hold for the package as a whole: many entries
    that are each small but compress extremely well are refused like one big entry.
    """
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise PackageError(f"Package has {len(infos)} entries; at most {max_entries} are allowed")
    total = compressed = 0
    for info in infos:
        _check_member_name(info.filename)
        total += info.file_size
        compressed += info.compress_size
        if total > max_bytes:
            raise PackageError(f"Package expands to more than {_size(max_bytes)}, the most accepted")
        if info.compress_size and info.file_size > 1024 * 1024 and \
                info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            raise PackageError(f"Package entry {info.filename!r} is compressed suspiciously well (zip bomb?)")
    if total > WHOLE_RATIO_FROM_BYTES and total / max(compressed, 1) > MAX_COMPRESSION_RATIO:
        raise PackageError(f"Package expands from {_size(compressed)} to {_size(total)}: it is compressed "
                           f"suspiciously well as a whole (more than {MAX_COMPRESSION_RATIO}:1; zip bomb?)")
    return infos


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is not a finite number")
    return value


def _read_json_member(zf: zipfile.ZipFile, name: str) -> Any:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise PackageError(f"Package has no {name} at its root") from None
    if info.file_size > MAX_JSON_BYTES:
        raise PackageError(f"{name} is too large ({info.file_size} bytes)")
    try:
        # NaN / Infinity would be stored and then break every answer that encodes them.
        return json.loads(zf.read(info).decode("utf-8"), parse_float=_finite, parse_constant=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackageError(f"{name} is not valid JSON: {exc}") from None
    except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise PackageError(f"Cannot read {name}: {exc}") from None


def check_config(config: Any, names: set[str], *, served_only: bool = False) -> None:
    """Check config.json's structure and that each endpoint's files are in the package.

    `served_only` refuses endpoint types the local API node cannot serve (the node's import);
    the deployer stores any DSS type, since a real DSS node may serve it.
    """
    if not isinstance(config, dict):
        raise PackageError("config.json must hold a JSON object")
    endpoints = config.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        raise PackageError("config.json must list at least one endpoint in 'endpoints'")
    seen: set[str] = set()
    for index, ep in enumerate(endpoints):
        if not isinstance(ep, dict):
            raise PackageError(f"config.json endpoints[{index}] must be an object")
        ep_id = ep.get("id")
        try:
            validate_id(ep_id, "endpoint id")
        except PackageError as exc:
            raise PackageError(f"config.json endpoints[{index}]: {exc}") from None
        if ep_id in seen:
            raise PackageError(f"config.json lists endpoint {ep_id!r} twice")
        seen.add(ep_id)
        ep_type = ep.get("type")
        if not isinstance(ep_type, str) or not ep_type:
            raise PackageError(f"Endpoint {ep_id!r} has no 'type'")
        if served_only and ep_type not in SERVED_ENDPOINT_TYPES:
            raise PackageError(
                f"Endpoint {ep_id!r} has type {ep_type}, which this API node cannot serve "
                f"(served: {', '.join(sorted(SERVED_ENDPOINT_TYPES))})"
            )
        if ep_type in CODE_ENDPOINT_TYPES and f"endpoint-{ep_id}/code.py" not in names:
            raise PackageError(f"Endpoint {ep_id!r} ({ep_type}) needs endpoint-{ep_id}/code.py in the package")
        if ep_type == "SQL_QUERY":
            queries = ep.get("queries")
            if not isinstance(queries, list) or not queries:
                raise PackageError(f"SQL endpoint {ep_id!r} must list its 'queries'")
    auth = config.get("authRealm")
    if auth is not None:
        keys = auth.get("queryKeys") if isinstance(auth, dict) else None
        if not isinstance(keys, list) or any(not isinstance(k, dict) or not k.get("key") for k in keys):
            raise PackageError("config.json authRealm.queryKeys must be a list of objects with a 'key'")


def read_package(source: str | Path | bytes | BinaryIO, *, served_only: bool = False,
                 max_bytes: int = MAX_UNCOMPRESSED_BYTES, max_entries: int = MAX_ENTRIES) -> PackageInfo:
    """Open, check and describe a package; raises PackageError with a precise reason."""
    with _open_zip(source) as zf:
        infos = check_archive(zf, max_bytes=max_bytes, max_entries=max_entries)
        names = {info.filename for info in infos}
        tag = _read_json_member(zf, "tag.json")
        if not isinstance(tag, dict):
            raise PackageError("tag.json must hold a JSON object")
        version_id = validate_id(tag.get("generationId"), "version id (tag.json generationId)")
        created_on = tag.get("createdOn", 0)
        if not isinstance(created_on, int | float) or isinstance(created_on, bool) or not 0 <= created_on < 2**53:
            raise PackageError("tag.json createdOn must be a number of epoch milliseconds (0 to 2^53)")
        config = _read_json_member(zf, "config.json")
        check_config(config, names, served_only=served_only)
        test_queries: dict[str, list[dict[str, Any]]] = {}
        for ep in config["endpoints"]:
            name = f"testqueries-{ep['id']}.json"
            if name in names:
                queries = _read_json_member(zf, name)
                if not isinstance(queries, list):
                    raise PackageError(f"{name} must hold a JSON list of {{'q': ...}} objects")
                test_queries[ep["id"]] = queries
        return PackageInfo(version_id=version_id, created_on=int(created_on), config=config, tag=tag,
                           test_queries=test_queries)


def extract_package(source: str | Path | bytes | BinaryIO, dest: Path, *, served_only: bool = False,
                    max_bytes: int = MAX_UNCOMPRESSED_BYTES, max_entries: int = MAX_ENTRIES) -> PackageInfo:
    """Check (as `read_package`) then extract into `dest` (which must not exist yet)."""
    info = read_package(source, served_only=served_only, max_bytes=max_bytes, max_entries=max_entries)
    if hasattr(source, "seek"):
        source.seek(0)
    dest.mkdir(parents=True)
    root = dest.resolve()
    with _open_zip(source) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if root not in target.parents and target != root:
                raise PackageError(f"Package entry {member.filename!r} escapes the package")
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(target, "wb") as out:
                while chunk := src.read(1024 * 1024):
                    out.write(chunk)
    return info


def build_package(src_dir: str | Path, out: str | Path | None = None) -> tuple[Path, PackageInfo]:
    """Zip a package folder (the layout of the README's package table) and validate the result as the deployer will.

    `tag.json` may omit `createdOn` (it is set to now). The zip is written to a temporary name
    and renamed, so a failed build never leaves a half-written OUT.zip behind.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise PackageError(f"{src} is not a folder")
    tag_path = src / "tag.json"
    if not tag_path.is_file():
        raise PackageError(f"{src} has no tag.json (it must hold {{\"generationId\": \"v1\"}})")
    try:
        tag = json.loads(tag_path.read_text("utf-8"))
    except ValueError as exc:
        raise PackageError(f"tag.json is not valid JSON: {exc}") from None
    if not isinstance(tag, dict):
        raise PackageError("tag.json must hold a JSON object")
    tag.setdefault("createdOn", int(time.time() * 1000))
    out_path = Path(out) if out else src.parent / f"{src.name}-{tag.get('generationId', 'package')}.zip"
    tmp = out_path.with_name(out_path.name + ".partial")
    files = sorted(p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("tag.json", json.dumps(tag, indent=2))
            for path in files:
                rel = path.relative_to(src).as_posix()
                if rel != "tag.json":
                    zf.write(path, rel)
        info = read_package(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out_path)
    return out_path, info
