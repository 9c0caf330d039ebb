"""What the console writes down about a canary in flight, so that a canary is never left half-way.

Before each step changes anything, the engine (core/canary.py) writes a CanaryRecord: the deployer, the
deployment, the plan, the mapping before the canary, the target, the step and who runs it (pid and host).
The record is removed when the canary ends (promoted or reverted). A console that starts and finds a
record of its deployer whose process is gone offers to resume or revert it.

One JSON file per (deployer, deployment) under `<XDG state home>/deployer-tui/canary/`, named by hashes
of the deployer's URL (never its key) and of the deployment id; written whole to a temporary file then
renamed, mode 0600 in a 0700 directory, as core/journal.py writes the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer_tui.core import paths
from deployer_tui.core.journal import deployer_key

FORMAT_VERSION = 1


def canary_dir() -> Path:
    return paths.state_dir() / "canary"


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (a zombie, killed and not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): kill(0) is all there is to know
    # The state is the field after the command name, which is in parentheses and may hold spaces.
    state = stat.rsplit(")", 1)[-1].split()
    return not (state and state[0] in ("Z", "X"))


@dataclass
class CanaryRecord:
    """A canary in flight. `plan`: CanaryPlan.to_json(); `previous`: the generations mapping before the
    canary (what a revert restores); `step_index`: the step being run (its split may already be saved);
    times are epoch ms of the console's clock."""

    deployer_url: str
    deployment_id: str
    plan: dict
    previous: dict | None
    target: str
    step_index: int
    started_ms: int
    updated_ms: int
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=this_host)

    @property
    def running_elsewhere(self) -> bool:
        """Another live console on this machine runs this canary (its pid is alive and not ours)."""
        return self.host == this_host() and self.pid != os.getpid() and pid_alive(self.pid)

    @property
    def other_host(self) -> bool:
        """Written by a console on another machine: whether it still runs cannot be told from here."""
        return self.host != this_host()

    def to_json(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "deployerUrl": self.deployer_url, "deploymentId": self.deployment_id,
                "plan": self.plan, "previous": self.previous, "target": self.target, "stepIndex": self.step_index,
                "startedMs": self.started_ms, "updatedMs": self.updated_ms, "pid": self.pid, "host": self.host}

    @classmethod
    def from_json(cls, raw: Any) -> CanaryRecord:
        """Raises ValueError naming what is wrong."""
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        for key, kind in (("deployerUrl", str), ("deploymentId", str), ("target", str), ("plan", dict),
                          ("stepIndex", int), ("startedMs", int), ("updatedMs", int), ("pid", int),
                          ("host", str)):
            value = raw.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"'{key}' is missing or not {'a ' + kind.__name__}")
        previous = raw.get("previous")
        if previous is not None and not isinstance(previous, dict):
            raise ValueError("'previous' is not a generations mapping")
        return cls(raw["deployerUrl"], raw["deploymentId"], raw["plan"], previous, raw["target"], raw["stepIndex"],
                   raw["startedMs"], raw["updatedMs"], raw["pid"], raw["host"])


def _deployment_key(deployment_id: str) -> str:
    return hashlib.sha256(deployment_id.encode("utf-8")).hexdigest()[:16]


class CanaryStore:
    """The records of canaries in flight, all deployers. Each call reads the files afresh."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else canary_dir()
        self.problems: list[str] = []  # files pending() could not read, in words

    def path(self, deployer_url: str, deployment_id: str) -> Path:
        return self.root / f"{deployer_key(deployer_url)}-{_deployment_key(deployment_id)}.json"

    def write(self, record: CanaryRecord) -> None:
        """Write (or replace) the record of its deployment: atomic, 0600, in a 0700 directory."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        path = self.path(record.deployer_url, record.deployment_id)
        paths.write_private(path, json.dumps(record.to_json(), separators=(",", ":")))

    def remove(self, deployer_url: str, deployment_id: str) -> None:
        self.path(deployer_url, deployment_id).unlink(missing_ok=True)

    def _read(self, path: Path) -> CanaryRecord:
        try:
            return CanaryRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise ValueError(exc.strerror or str(exc)) from None
        except ValueError as exc:
            raise ValueError(str(exc)) from None

    def get(self, deployer_url: str, deployment_id: str) -> CanaryRecord | None:
        """The record of that deployment, None when there is none or it cannot be read."""
        path = self.path(deployer_url, deployment_id)
        if not path.exists():
            return None
        try:
            return self._read(path)
        except ValueError:
            return None

    def records(self, deployer_url: str) -> list[CanaryRecord]:
        """Every readable record of this deployer, oldest first (those running elsewhere included); files
        that cannot be read are named in `problems`."""
        self.problems = []
        prefix = f"{deployer_key(deployer_url)}-"
        try:
            files = sorted(p for p in self.root.iterdir() if p.name.startswith(prefix) and p.suffix == ".json")
        except OSError:
            return []
        out = []
        for path in files:
            try:
                record = self._read(path)
            except ValueError as exc:
                self.problems.append(f"canary record {path} cannot be read: {exc}")
                continue
            if record.deployer_url.rstrip("/") != deployer_url.rstrip("/"):
                continue
            out.append(record)
        return sorted(out, key=lambda r: r.started_ms)

    def pending(self, deployer_url: str) -> list[CanaryRecord]:
        """Records of this deployer that no live console of this machine runs: canaries left half-way."""
        return [r for r in self.records(deployer_url) if not r.running_elsewhere]
