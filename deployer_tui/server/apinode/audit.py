"""The query log: one JSON line per query in `<data dir>/logs/queries.log`, when the node's
`config/server.json` asks for it (read at start):

    {"auditLog": {"logQueries": true, "logInputs": false, "logOutputs": false}}

Each line: `timestamp` (ISO 8601, UTC), `serviceId`, `endpointId`, `generation` (the version that
answered), `status` (HTTP), `durationMs`, and `input` / `output` when asked. It answers the question
DSS's query log answers: which version served which query. Keys are never logged.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, TextIO


class QueryLog:
    def __init__(self, path: Path, *, inputs: bool, outputs: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.inputs, self.outputs = inputs, outputs
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # inputs may be private data
        self._file: TextIO = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - kept open

    @classmethod
    def from_config(cls, config: dict[str, Any], path: Path) -> QueryLog | None:
        audit = config.get("auditLog")
        if not isinstance(audit, dict) or not audit.get("logQueries"):
            return None
        return cls(path, inputs=bool(audit.get("logInputs")), outputs=bool(audit.get("logOutputs")))

    def write(self, context: dict[str, Any], status: int, ms: float, body: Any = None, result: Any = None) -> None:
        record: dict[str, Any] = {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "serviceId": context["serviceId"], "endpointId": context["endpointId"],
            "generation": context["serviceGeneration"], "status": status, "durationMs": round(ms, 3),
        }
        if self.inputs:
            record["input"] = body
        if self.outputs and result is not None:
            record["output"] = result
        self._file.write(json.dumps(record, default=str) + "\n")

    def close(self) -> None:
        self._file.close()
