"""The API node's state on disk, so that a restarted node serves what it served.

    <data_dir>/
      config/adminkeys.json                   {"keys": [{key, label, description, createdBy, createdOn, id}]}, 0600
      config/server.json                      optional, read only: remappedConnections, endpointDefaults
      config/services/<svc>/<endpoint>.json   per-endpoint settings: {"pool": {...}, "executionTimeoutMs": n}
      services/<svc>/auth-override.json       the deployer's {publicAccess, queryKeys} over config.json, 0600
      services/<svc>/state.json               {"enabled": bool, "activeMapping": mapping or null}
      services/<svc>/gens/<generation>/       an unpacked version package
      apinode-not-alive.txt                   present: /isAlive answers 503
      service-not-alive-<svc>.txt             present: that service's isAliveSimple answers 400
      logs/<svc>.log                          stderr of the service's worker processes (endpoint prints)

Every JSON file is written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from deployer_tui.core.paths import write_secret
from deployer_tui.server.apinode.mapping import MappingError, normalize

# Keys put in adminkeys.json by the command line (--admin-key, or the generated key) carry this
# createdBy; a restart with another key replaces them, keys added through the API stay.
STARTUP_KEY_CREATOR = "deployer-tui apinode"


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents, each readable by the node's user only (mkdir's `parents`
    would create the parents with the default mode)."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    return path


def write_json(path: Path, data: Any) -> None:
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=2), "utf-8")
    os.replace(tmp, path)


class StoreError(ValueError):
    """A state file that cannot be read; the message names the file. Nothing is overwritten."""


def read_json_file(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return default
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON ({exc}); fix or remove it") from None


class Store:
    def __init__(self, data_dir: Path) -> None:
        # Absolute: workers run with their generation folder as working directory.
        self.root = Path(data_dir).resolve()
        self.config_dir = self.root / "config"
        self.services_dir = self.root / "services"
        self.tmp_dir = self.root / "tmp"
        # The data dir holds admin and query keys, versions and logs: the node's user only. One made
        # readable by others (an older node created it 0755) is closed, not trusted as is.
        private_dir(self.root)
        if self.root.stat().st_mode & 0o077:
            self.root.chmod(0o700)
        for folder in (self.config_dir, self.services_dir, self.tmp_dir, self.root / "logs"):
            private_dir(folder)
        for stale in self.tmp_dir.iterdir():  # half-done imports of a previous run
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)

    # -- admin keys ----------------------------------------------------------

    @property
    def keys_path(self) -> Path:
        return self.config_dir / "adminkeys.json"

    def admin_keys(self) -> list[dict[str, Any]]:
        doc = read_json_file(self.keys_path, {"keys": []})
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list):
            raise StoreError(f"{self.keys_path} must hold {{\"keys\": [...]}}")
        return [k for k in keys if isinstance(k, dict)]

    def save_admin_keys(self, keys: list[dict[str, Any]]) -> None:
        write_secret(self.keys_path, json.dumps({"keys": keys}, indent=2))

    def install_startup_key(self, key: str) -> None:
        keys = [k for k in self.admin_keys() if k.get("createdBy") != STARTUP_KEY_CREATOR or k.get("key") == key]
        if not any(k.get("key") == key for k in keys):
            keys.append(new_key_record(key, label="startup", created_by=STARTUP_KEY_CREATOR))
        self.save_admin_keys(keys)

    # -- node config ---------------------------------------------------------

    def server_config(self) -> dict[str, Any]:
        path = self.config_dir / "server.json"
        doc = read_json_file(path, {})
        if not isinstance(doc, dict):
            raise StoreError(f"{path} must hold a JSON object")
        return doc

    def endpoint_settings(self, service_id: str, endpoint_id: str) -> dict[str, Any] | None:
        return read_json_file(self.config_dir / "services" / service_id / f"{endpoint_id}.json")

    def save_endpoint_settings(self, service_id: str, endpoint_id: str, doc: dict[str, Any]) -> None:
        write_json(self.config_dir / "services" / service_id / f"{endpoint_id}.json", doc)

    def reset_endpoint_settings(self, service_id: str) -> None:
        shutil.rmtree(self.config_dir / "services" / service_id, ignore_errors=True)

    # The deployer's override of who may query a service; it holds query keys, hence 0600.
    def auth_override(self, service_id: str) -> dict[str, Any] | None:
        doc = read_json_file(self.service_dir(service_id) / "auth-override.json")
        if doc is not None and not isinstance(doc, dict):
            raise StoreError(f"{self.service_dir(service_id) / 'auth-override.json'} must hold a JSON object")
        return doc

    def save_auth_override(self, service_id: str, doc: dict[str, Any] | None) -> None:
        path = self.service_dir(service_id) / "auth-override.json"
        if doc is None:
            path.unlink(missing_ok=True)
        else:
            write_secret(path, json.dumps(doc, indent=2))

    # -- services ------------------------------------------------------------

    def service_dir(self, service_id: str) -> Path:
        return self.services_dir / service_id

    def gens_dir(self, service_id: str) -> Path:
        return self.service_dir(service_id) / "gens"

    def service_ids(self) -> list[str]:
        return sorted(p.name for p in self.services_dir.iterdir() if (p / "state.json").is_file())

    def service_state(self, service_id: str) -> dict[str, Any]:
        path = self.service_dir(service_id) / "state.json"
        state = read_json_file(path, {"enabled": False, "activeMapping": None})
        if not isinstance(state, dict):
            raise StoreError(f"{path} must hold a JSON object")
        if state.get("activeMapping") is not None:
            try:
                state["activeMapping"] = normalize(state["activeMapping"])
            except MappingError as exc:
                raise StoreError(f"{path} holds an invalid mapping: {exc}") from None
        return state

    def save_service_state(self, service_id: str, state: dict[str, Any]) -> None:
        write_json(self.service_dir(service_id) / "state.json", state)

    def create_service(self, service_id: str) -> None:
        private_dir(self.gens_dir(service_id))
        self.save_service_state(service_id, {"enabled": False, "activeMapping": None})

    def delete_service(self, service_id: str) -> None:
        # Rename first so that a crash halfway never leaves a half-deleted service that still loads.
        target = self.tmp_dir / f"deleted-{service_id}-{uuid.uuid4().hex[:8]}"
        os.replace(self.service_dir(service_id), target)
        shutil.rmtree(target, ignore_errors=True)
        self.reset_endpoint_settings(service_id)
        self.service_flag(service_id).unlink(missing_ok=True)

    def generation_dir(self, service_id: str, generation: str) -> Path:
        return self.gens_dir(service_id) / generation

    def generation_ids(self, service_id: str) -> list[str]:
        folder = self.gens_dir(service_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "tag.json").is_file())

    def generation_tag(self, service_id: str, generation: str) -> dict[str, Any]:
        return read_json_file(self.generation_dir(service_id, generation) / "tag.json", {}) or {}

    def generation_config(self, service_id: str, generation: str) -> dict[str, Any]:
        return read_json_file(self.generation_dir(service_id, generation) / "config.json", {}) or {}

    def delete_generation(self, service_id: str, generation: str) -> None:
        target = self.tmp_dir / f"deleted-{service_id}-{generation}-{uuid.uuid4().hex[:8]}"
        os.replace(self.generation_dir(service_id, generation), target)
        shutil.rmtree(target, ignore_errors=True)

    # -- alive flags ---------------------------------------------------------

    @property
    def node_flag(self) -> Path:
        return self.root / "apinode-not-alive.txt"

    def service_flag(self, service_id: str) -> Path:
        return self.root / f"service-not-alive-{service_id}.txt"

    def log_path(self, service_id: str) -> Path:
        return self.root / "logs" / f"{service_id}.log"


def new_key_record(key: str | None = None, *, label: str | None = None, description: str | None = None,
                   created_by: str | None = None, expiry: Any = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": uuid.uuid4().hex[:16],
        "key": key or secrets.token_urlsafe(24),
        "label": label,
        "description": description,
        "createdBy": created_by,
        "createdOn": int(time.time() * 1000),
    }
    if expiry is not None:
        record["expiry"] = expiry
    return record
