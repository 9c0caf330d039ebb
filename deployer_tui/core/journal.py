"""The console's journal of the updates it started, and the history that merges it with the deployer's records.

A deployer may not say what an update deployed (DSS's update records carry no mapping) nor why it was
started: the console writes down, for each update it starts, the mapping, the kind (update, rollback,
roll-forward), the job id, when it started and ended and how it ended. One JSON file per deployer, named by
a hash of its URL (never of its key), under `<XDG state home>/deployer-tui/journal/`; written whole to a
temporary file then renamed (a crash leaves the old file or the new one), mode 0600; at most
MAX_PER_DEPLOYMENT records per deployment and MAX_DEPLOYMENTS deployments (the oldest go first).

`merge_history` joins the deployer's update records with the journal's: a journal record is the same update
as a deployer record when their start times are within MATCH_MS (the deployer's clock when the journal
knows it, else the console's); rows only the journal knows say so (`journal_only`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer_tui.core import paths

MAX_PER_DEPLOYMENT = 50
MAX_DEPLOYMENTS = 500
MATCH_MS = 10_000
KINDS = ("update", "rollback", "rollforward")
# The record reason our deployer stores (update.py's REASONS), and the kind it stands for.
REASON_KIND = {"UPDATE": "update", "ROLLBACK": "rollback", "ROLLFORWARD": "rollforward"}
RUNNING = "RUNNING"


def now_ms() -> int:
    return int(time.time() * 1000)


def journal_dir() -> Path:
    return paths.state_dir() / "journal"


def deployer_key(url: str) -> str:
    """The journal file's name for a deployer: a hash of its URL, so that the file names no host."""
    return hashlib.sha256(url.rstrip("/").encode("utf-8")).hexdigest()[:24]


@dataclass
class JournalRecord:
    """One update the console started. `started`/`ended`: the console's clock (epoch ms); `server_start`: the
    deployer's start timestamp of the update when it told it; `outcome`: RUNNING until the end is known,
    then SUCCESS, WARNING, FAILED, ABORTED, LOST or NOT_REPORTED (job_follower.Settled.state)."""

    deployment_id: str
    started: int
    mapping: dict | None
    kind: str = "update"
    outcome: str = RUNNING
    ended: int | None = None
    job_id: str | None = None
    server_start: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"started": self.started, "ended": self.ended, "mapping": self.mapping, "outcome": self.outcome,
                "kind": self.kind, "jobId": self.job_id, "serverStart": self.server_start}

    @classmethod
    def from_json(cls, deployment_id: str, raw: Any) -> JournalRecord | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("started"), int):
            return None
        kind = raw.get("kind") if raw.get("kind") in KINDS else "update"
        mapping = raw.get("mapping") if isinstance(raw.get("mapping"), dict) else None
        ended = raw.get("ended") if isinstance(raw.get("ended"), int) else None
        server = raw.get("serverStart") if isinstance(raw.get("serverStart"), int) else None
        job = str(raw["jobId"]) if raw.get("jobId") else None
        return cls(deployment_id, raw["started"], mapping, kind, str(raw.get("outcome") or RUNNING), ended, job,
                   server)


class Journal:
    """The journal of one deployer. Each call reads the file afresh, so two consoles on one deployer
    lose at worst the other's record written in between, never the file."""

    def __init__(self, url: str, directory: Path | None = None) -> None:
        self.path = (directory or journal_dir()) / f"{deployer_key(url)}.json"

    def _load(self) -> dict[str, list[dict]]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        deployments = raw.get("deployments") if isinstance(raw, dict) else None
        if not isinstance(deployments, dict):
            return {}
        return {str(k): v for k, v in deployments.items() if isinstance(v, list)}

    def _save(self, deployments: dict[str, list[dict]]) -> None:
        if len(deployments) > MAX_DEPLOYMENTS:
            def newest(item: tuple[str, list[dict]]) -> int:
                return max((r.get("started", 0) for r in item[1] if isinstance(r, dict)), default=0)
            deployments = dict(sorted(deployments.items(), key=newest)[-MAX_DEPLOYMENTS:])
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths.write_private(self.path, json.dumps({"version": 1, "deployments": deployments}, separators=(",", ":")))

    def records(self, deployment_id: str) -> list[JournalRecord]:
        """The deployment's records, newest first."""
        out = [r for raw in self._load().get(deployment_id, []) if (r := JournalRecord.from_json(deployment_id, raw))]
        return sorted(out, key=lambda r: r.started, reverse=True)

    def write(self, record: JournalRecord) -> None:
        """Add the record, or replace the one with the same start (the same update, now finished)."""
        deployments = self._load()
        kept = [r for r in deployments.get(record.deployment_id, [])
                if isinstance(r, dict) and r.get("started") != record.started]
        kept.append(record.to_json())
        kept.sort(key=lambda r: r.get("started", 0) if isinstance(r.get("started"), int) else 0)
        deployments[record.deployment_id] = kept[-MAX_PER_DEPLOYMENT:]
        self._save(deployments)


# ---- the merged history -------------------------------------------------------------------------------------


@dataclass
class HistoryRow:
    """One update of a deployment as the console shows it, newest first in a history.

    `mapping`: what it deployed (the deployer's `deployedMapping`, else the journal's), None when unknown;
    `outcome`: the deployer's status when it has the record, else the journal's; `journal_only`: the
    deployer does not list it (its records are gone, or it keeps none), only the journal knows it."""

    start: int
    end: int | None
    outcome: str
    mapping: dict | None
    kind: str = "update"
    requester: str | None = None
    journal_only: bool = False
    in_journal: bool = False
    job_id: str | None = None
    record: dict = field(default_factory=dict)

    @property
    def source_note(self) -> str:
        """What a history row says of where it comes from, when not from the deployer."""
        return "known only from this console's journal" if self.journal_only else ""

    @property
    def duration_ms(self) -> int | None:
        return self.end - self.start if self.end is not None and self.end >= self.start else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _server_row(record: dict) -> HistoryRow | None:
    start = _int(record.get("startTimestamp"))
    if start is None:
        return None
    mapping = record.get("deployedMapping")
    return HistoryRow(start, _int(record.get("endTimestamp")), str(record.get("status") or "UNKNOWN").upper(),
                      mapping if isinstance(mapping, dict) else None,
                      REASON_KIND.get(str(record.get("reason") or "").upper(), "update"),
                      str(record["requester"]) if record.get("requester") else None, record=record)


def merge_history(server_records: list[dict], journal_records: list[JournalRecord]) -> list[HistoryRow]:
    """The deployer's update records (list items or full records) joined with the journal's, newest first.

    A journal record matches the unmatched deployer record nearest its start (within MATCH_MS); the row then
    takes the deployer's start, end and status, and what the deployer does not say (mapping, kind) from
    the journal. A journal record still RUNNING that the deployer lists as finished takes the deployer's
    outcome; one the deployer does not list is a row of its own, `journal_only`."""
    rows = [row for r in server_records if isinstance(r, dict) and (row := _server_row(r))]
    free = list(range(len(rows)))
    extra: list[HistoryRow] = []
    for jr in sorted(journal_records, key=lambda r: r.started):
        anchor = jr.server_start if jr.server_start is not None else jr.started
        best = min(free, key=lambda i: abs(rows[i].start - anchor), default=None)
        if best is not None and abs(rows[best].start - anchor) <= MATCH_MS:
            free.remove(best)
            row = rows[best]
            row.in_journal = True
            row.job_id = jr.job_id
            if row.mapping is None:
                row.mapping = jr.mapping
            if row.kind == "update":
                row.kind = jr.kind
            if row.outcome in ("UNKNOWN", RUNNING) and jr.outcome != RUNNING:
                row.outcome = jr.outcome
            continue
        extra.append(HistoryRow(jr.started, jr.ended, jr.outcome, jr.mapping, jr.kind,
                                journal_only=True, in_journal=True, job_id=jr.job_id))
    return sorted(rows + extra, key=lambda r: r.start, reverse=True)
