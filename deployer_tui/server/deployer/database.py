"""The local deployer's persistent state: one SQLite file (WAL, synchronous=FULL) plus version zips.

Documents (infra, service and deployment settings) are stored as the JSON the client PUTs, so
unknown keys round-trip. Every change is one transaction: a request either changes everything
it meant to or nothing. `synchronous=FULL` makes each acknowledged commit survive `kill -9`.

Version zips live in ``versions/<service>/<version>.zip``. An import writes the upload to a temp
file, fsyncs it, renames it into place and only then commits the row; if the commit fails the
file is removed. A crash between rename and commit leaves an orphan zip with no row, which is
deleted at the next start — never a row without its zip.

All methods are blocking; the routes call them through ``asyncio.to_thread`` so that an fsync
never stalls the event loop. One connection guarded by a lock: writes are serialised anyway.

Reads that every status poll repeats (a deployment's row, its light status, ...) can be memoised with
``memo``: a value is kept until the next commit of any write, so it is never older than the last
acknowledged change.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (login TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (key TEXT PRIMARY KEY, id TEXT UNIQUE NOT NULL, login TEXT NOT NULL,
                                     doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS infras (id TEXT PRIMARY KEY, doc TEXT NOT NULL, created_on INTEGER NOT NULL,
    created_by TEXT NOT NULL, modified_on INTEGER NOT NULL, modified_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, doc TEXT NOT NULL, created_on INTEGER NOT NULL,
    created_by TEXT NOT NULL, modified_on INTEGER NOT NULL, modified_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (service_id TEXT NOT NULL, version_id TEXT NOT NULL,
    published_on INTEGER NOT NULL, published_by TEXT NOT NULL, info TEXT NOT NULL,
    PRIMARY KEY (service_id, version_id));
CREATE TABLE IF NOT EXISTS deployments (id TEXT PRIMARY KEY, doc TEXT NOT NULL, created_on INTEGER NOT NULL,
    created_by TEXT NOT NULL, modified_on INTEGER NOT NULL, modified_by TEXT NOT NULL,
    deployed TEXT);
CREATE TABLE IF NOT EXISTS updates (deployment_id TEXT NOT NULL, start_ts INTEGER NOT NULL, type TEXT NOT NULL,
    status TEXT NOT NULL, requester TEXT NOT NULL, end_ts INTEGER, result TEXT, extras TEXT,
    PRIMARY KEY (deployment_id, start_ts));
CREATE TABLE IF NOT EXISTS update_logs (deployment_id TEXT NOT NULL, start_ts INTEGER NOT NULL,
    seq INTEGER NOT NULL, level INTEGER NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (deployment_id, start_ts, seq));
CREATE TABLE IF NOT EXISTS nodes_out (infra_id TEXT NOT NULL, url TEXT NOT NULL, local_node INTEGER,
    deployment_id TEXT NOT NULL, start_ts INTEGER NOT NULL, PRIMARY KEY (infra_id, url));
"""

# SmartLogTail status codes (docs/protocol.md, "Update records").
DEBUG, INFO, WARNING, ERROR, SUCCESS = 0, 1, 2, 3, 4


class InUse(Exception):
    """Refused because deployments still use the object; `users` names them."""

    def __init__(self, users: list[str]) -> None:
        super().__init__(", ".join(users))
        self.users = users


class StillEnabled(Exception):
    """Refused because the deployment is enabled."""


class Missing(Exception):
    """Refused because a referenced object does not exist (checked inside the write transaction)."""


T = TypeVar("T")


def now_ms() -> int:
    return int(time.time() * 1000)


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        # The database holds node admin keys and users' API keys: private from the first byte.
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.versions_dir = self.data_dir / "versions"
        self.tmp_dir = self.data_dir / "tmp"
        self.versions_dir.mkdir(exist_ok=True, mode=0o700)
        self.tmp_dir.mkdir(exist_ok=True, mode=0o700)
        for folder in (self.data_dir, self.versions_dir, self.tmp_dir, *self.versions_dir.iterdir()):
            private_dir(folder)
        self.db_path = self.data_dir / "deployer.db"
        os.close(os.open(self.db_path, os.O_WRONLY | os.O_CREAT, 0o600))
        for path in (self.db_path, self.db_path.with_name("deployer.db-wal"), self.db_path.with_name("deployer.db-shm")):
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)
        # A data dir made before update records kept the deployed mapping: the column is added once.
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(updates)")}
        if "extras" not in columns:
            self._conn.execute("ALTER TABLE updates ADD COLUMN extras TEXT")
        # Reads use their own connection: in WAL mode they never wait for a writer's fsync.
        self._read_lock = threading.Lock()
        self._reader = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        # Bumped after every commit; memoised values belong to one generation.
        self.generation = 0
        self._memo: dict[Any, Any] = {}
        self._memo_generation = 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        with self._read_lock:
            self._reader.close()

    @contextmanager
    def tx(self, *, memoised: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        `memoised=False` for writes nothing in `memo` reads (update log lines): they keep the memo, so
        statuses stay cheap while an update writes its log."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            # After the commit, not before: a read labelled with the new generation must see the write.
            if memoised:
                self.generation += 1

    def memo(self, key: Any, build: Callable[[], T]) -> T:
        """`build()`, computed once per generation: any commit forgets every memoised value.

        A value is labelled with the generation seen before it was built and kept only if no commit
        happened meanwhile, so it can be older than a write only until that write's `tx()` returns.
        None is never kept: asking for what does not exist reads again each time, and ids nobody
        stored cannot grow the memo. Callers share the value: it must never be mutated.
        """
        generation = self.generation
        if self._memo_generation != generation:
            self._memo = {}
            self._memo_generation = generation
        memo = self._memo
        if key in memo:
            return memo[key]
        value = build()
        if value is not None and self.generation == generation:
            memo[key] = value
        return value

    def peek(self, key: Any) -> Any:
        """The value memoised under `key` in this generation, or None: never builds it."""
        return self._memo.get(key) if self._memo_generation == self.generation else None

    def _rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._read_lock:
            cur = self._reader.execute(sql, args)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    # ---- meta ---------------------------------------------------------------------------------------
    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._one("SELECT v FROM meta WHERE k=?", (key,))
        return json.loads(row["v"]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        self.set_metas({key: value})

    def set_metas(self, values: dict[str, Any]) -> None:
        """Several settings in one transaction."""
        with self.tx() as c:
            for key, value in values.items():
                c.execute("INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)", (key, json.dumps(value)))

    # ---- users and keys -----------------------------------------------------------------------------
    def get_user(self, login: str) -> dict[str, Any] | None:
        row = self._one("SELECT doc FROM users WHERE login=?", (login,))
        return json.loads(row["doc"]) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        return [json.loads(r["doc"]) for r in self._rows("SELECT doc FROM users ORDER BY login")]

    def insert_user(self, doc: dict[str, Any]) -> bool:
        with self.tx() as c:
            if c.execute("SELECT 1 FROM users WHERE login=?", (doc["login"],)).fetchone():
                return False
            c.execute("INSERT INTO users(login, doc) VALUES (?, ?)", (doc["login"], json.dumps(doc)))
            return True

    def insert_key(self, doc: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO api_keys(key, id, login, doc) VALUES (?, ?, ?, ?)",
                      (doc["key"], doc["id"], doc["user"], json.dumps(doc)))

    def get_key(self, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT doc FROM api_keys WHERE key=?", (key,))
        return json.loads(row["doc"]) if row else None

    def list_keys(self) -> list[dict[str, Any]]:
        return [json.loads(r["doc"]) for r in self._rows("SELECT doc FROM api_keys ORDER BY id")]

    def delete_key(self, key_id: str) -> bool:
        with self.tx() as c:
            return c.execute("DELETE FROM api_keys WHERE id=?", (key_id,)).rowcount > 0

    # ---- generic documents (infras, services, deployments) -------------------------------------------
    @staticmethod
    def _doc_row(row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        row["doc"] = json.loads(row["doc"])
        if row.get("deployed"):
            row["deployed"] = json.loads(row["deployed"])
        return row

    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT * FROM {table} WHERE id=?", (doc_id,))
        return self._doc_row(row) if row else None

    def list(self, table: str) -> list[dict[str, Any]]:
        return [self._doc_row(r) for r in self._rows(f"SELECT * FROM {table} ORDER BY id")]

    def list_where(self, table: str, field: str, value: str) -> list[dict[str, Any]]:
        """Documents whose top-level JSON `field` equals `value` (e.g. the deployments of one infra)."""
        rows = self._rows(f"SELECT * FROM {table} WHERE json_extract(doc, ?) = ? ORDER BY id", (f"$.{field}", value))
        return [self._doc_row(r) for r in rows]

    def insert(self, table: str, doc: dict[str, Any], user: str) -> None:
        ts = now_ms()
        with self.tx() as c:
            c.execute(f"INSERT INTO {table}(id, doc, created_on, created_by, modified_on, modified_by) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (doc["id"], json.dumps(doc), ts, user, ts, user))

    def exists(self, table: str, doc_id: str) -> bool:
        return self._one(f"SELECT 1 AS x FROM {table} WHERE id=?", (doc_id,)) is not None

    def replace(self, table: str, doc: dict[str, Any], user: str, versions: list[str] | None = None) -> None:
        """Save a document; for a deployment, `versions` (of its service) must still exist at commit."""
        with self.tx() as c:
            for version in versions or []:
                if not c.execute("SELECT 1 FROM versions WHERE service_id=? AND version_id=?",
                                 (doc["publishedServiceId"], version)).fetchone():
                    raise Missing(f"Version {version!r} does not exist in service {doc['publishedServiceId']!r}")
            c.execute(f"UPDATE {table} SET doc=?, modified_on=?, modified_by=? WHERE id=?",
                      (json.dumps(doc), now_ms(), user, doc["id"]))

    # ---- versions -----------------------------------------------------------------------------------
    def version_path(self, service_id: str, version_id: str) -> Path:
        return self.versions_dir / service_id / f"{version_id}.zip"

    def list_versions(self, service_id: str) -> list[dict[str, Any]]:
        rows = self._rows("SELECT * FROM versions WHERE service_id=? ORDER BY published_on DESC, version_id DESC",
                          (service_id,))
        for row in rows:
            row["info"] = json.loads(row["info"])
        return rows

    def get_version(self, service_id: str, version_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM versions WHERE service_id=? AND version_id=?", (service_id, version_id))
        if row:
            row["info"] = json.loads(row["info"])
        return row

    def add_version(self, service_id: str, version_id: str, info: dict[str, Any], user: str,
                    staged: Path) -> bool:
        """Move the staged zip into place and record the version; False if the id exists already."""
        final = self.version_path(service_id, version_id)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self.tx() as c:
            if c.execute("SELECT 1 FROM versions WHERE service_id=? AND version_id=?",
                         (service_id, version_id)).fetchone():
                return False
            os.replace(staged, final)
            _fsync_dir(final.parent)
            try:
                # Strictly increasing per service, so that "newest first" is the import order.
                last = c.execute("SELECT MAX(published_on) FROM versions WHERE service_id=?",
                                 (service_id,)).fetchone()[0]
                published = max(now_ms(), (last or 0) + 1)
                c.execute("INSERT INTO versions(service_id, version_id, published_on, published_by, info) "
                          "VALUES (?, ?, ?, ?, ?)", (service_id, version_id, published, user, json.dumps(info)))
                c.execute("UPDATE services SET modified_on=?, modified_by=? WHERE id=?", (now_ms(), user, service_id))
            except BaseException:
                final.unlink(missing_ok=True)
                raise
        return True

    @staticmethod
    def _users(c: sqlite3.Connection, field: str, value: str) -> list[sqlite3.Row]:
        return c.execute("SELECT id, doc, deployed FROM deployments WHERE json_extract(doc, ?) = ? ORDER BY id",
                         (f"$.{field}", value)).fetchall()

    def delete_version(self, service_id: str, version_id: str, uses: Callable[[dict, dict | None], bool]) -> None:
        """Delete unless a deployment uses it (`uses(settings, deployed)`); the check is in the transaction."""
        with self.tx() as c:
            users = [row[0] for row in self._users(c, "publishedServiceId", service_id)
                     if uses(json.loads(row[1]), json.loads(row[2]) if row[2] else None)]
            if users:
                raise InUse(users)
            c.execute("DELETE FROM versions WHERE service_id=? AND version_id=?", (service_id, version_id))
        self.version_path(service_id, version_id).unlink(missing_ok=True)

    def delete_service(self, service_id: str) -> None:
        with self.tx() as c:
            users = [row[0] for row in self._users(c, "publishedServiceId", service_id)]
            if users:
                raise InUse(users)
            c.execute("DELETE FROM versions WHERE service_id=?", (service_id,))
            c.execute("DELETE FROM services WHERE id=?", (service_id,))
        folder = self.versions_dir / service_id
        if folder.is_dir():
            for path in folder.glob("*.zip"):
                path.unlink(missing_ok=True)
            folder.rmdir()

    def delete_infra(self, infra_id: str) -> None:
        with self.tx() as c:
            users = [row[0] for row in self._users(c, "infraId", infra_id)]
            if users:
                raise InUse(users)
            c.execute("DELETE FROM infras WHERE id=?", (infra_id,))
            c.execute("DELETE FROM nodes_out WHERE infra_id=?", (infra_id,))

    def insert_deployment(self, doc: dict[str, Any], user: str, version: str) -> None:
        """Insert, checking in the same transaction that its service, version and infra still exist."""
        ts = now_ms()
        with self.tx() as c:
            if not c.execute("SELECT 1 FROM services WHERE id=?", (doc["publishedServiceId"],)).fetchone():
                raise Missing(f"Service {doc['publishedServiceId']!r} does not exist")
            if not c.execute("SELECT 1 FROM infras WHERE id=?", (doc["infraId"],)).fetchone():
                raise Missing(f"Infra {doc['infraId']!r} does not exist")
            if not c.execute("SELECT 1 FROM versions WHERE service_id=? AND version_id=?",
                             (doc["publishedServiceId"], version)).fetchone():
                raise Missing(f"Version {version!r} does not exist in service {doc['publishedServiceId']!r}")
            c.execute("INSERT INTO deployments(id, doc, created_on, created_by, modified_on, modified_by) "
                      "VALUES (?, ?, ?, ?, ?, ?)", (doc["id"], json.dumps(doc), ts, user, ts, user))

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a disabled deployment and its history; enabled ones are refused in the transaction."""
        with self.tx() as c:
            row = c.execute("SELECT doc FROM deployments WHERE id=?", (deployment_id,)).fetchone()
            if row is None:
                raise Missing(f"Deployment {deployment_id!r} does not exist")
            if json.loads(row[0]).get("enabled", True):
                raise StillEnabled(deployment_id)
            c.execute("DELETE FROM deployments WHERE id=?", (deployment_id,))
            c.execute("DELETE FROM update_logs WHERE deployment_id=?", (deployment_id,))
            c.execute("DELETE FROM updates WHERE deployment_id=?", (deployment_id,))

    def remove_orphan_zips(self) -> int:
        """Zips with no row: left by a crash between rename and commit."""
        known = {(r["service_id"], r["version_id"]) for r in self._rows("SELECT service_id, version_id FROM versions")}
        removed = 0
        for path in self.versions_dir.glob("*/*.zip"):
            if (path.parent.name, path.stem) not in known:
                path.unlink(missing_ok=True)
                removed += 1
        for path in self.tmp_dir.iterdir():
            path.unlink(missing_ok=True)
        return removed

    # ---- updates -------------------------------------------------------------------------------------
    def start_update(self, deployment_id: str, type_: str, requester: str,
                     extras: dict[str, Any] | None = None) -> int:
        """Record a RUNNING update; Missing when the deployment is gone (checked in the transaction).
        `extras`: fields of our own the record carries (update.record_extras), JSON."""
        with self.tx() as c:
            if not c.execute("SELECT 1 FROM deployments WHERE id=?", (deployment_id,)).fetchone():
                raise Missing(f"Deployment {deployment_id!r} does not exist")
            ts = now_ms()
            last = c.execute("SELECT MAX(start_ts) FROM updates WHERE deployment_id=?", (deployment_id,)).fetchone()[0]
            if last is not None and ts <= last:
                ts = last + 1  # the timestamp is the update's id in URLs: keep it unique
            c.execute("INSERT INTO updates(deployment_id, start_ts, type, status, requester, extras) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (deployment_id, ts, type_, "RUNNING", requester, json.dumps(extras) if extras else None))
        return ts

    def append_update_log(self, deployment_id: str, start_ts: int, level: int, line: str) -> None:
        with self.tx(memoised=False) as c:  # no memoised view reads update_logs
            seq = c.execute("SELECT COUNT(*) FROM update_logs WHERE deployment_id=? AND start_ts=?",
                            (deployment_id, start_ts)).fetchone()[0]
            c.execute("INSERT INTO update_logs VALUES (?, ?, ?, ?, ?)", (deployment_id, start_ts, seq, level, line))

    @staticmethod
    def _log_line(c: sqlite3.Connection, deployment_id: str, start_ts: int, level: int, line: str) -> None:
        """A line of an update record that exists (none is added for a record deleted with its deployment)."""
        if not c.execute("SELECT 1 FROM updates WHERE deployment_id=? AND start_ts=?",
                         (deployment_id, start_ts)).fetchone():
            return
        seq = c.execute("SELECT COUNT(*) FROM update_logs WHERE deployment_id=? AND start_ts=?",
                        (deployment_id, start_ts)).fetchone()[0]
        c.execute("INSERT INTO update_logs VALUES (?, ?, ?, ?, ?)", (deployment_id, start_ts, seq, level, line))

    # ---- nodes a rolling update took out of the load balancer ----------------------------------------
    def mark_node_out(self, infra_id: str, url: str, local_node: int | None, deployment_id: str, start_ts: int,
                      level: int, line: str) -> None:
        """Before a rolling update sets a node not alive: the fact and its log line, in one transaction, so
        that a crash before it is set alive again leaves a trace the next start acts on."""
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO nodes_out VALUES (?, ?, ?, ?, ?)",
                      (infra_id, url, local_node, deployment_id, start_ts))
            self._log_line(c, deployment_id, start_ts, level, line)

    def clear_node_out(self, infra_id: str, url: str, deployment_id: str, start_ts: int, level: int,
                       line: str) -> None:
        """The node is alive again: forget it, with the log line saying so (to the update that took it out)."""
        with self.tx() as c:
            row = c.execute("SELECT deployment_id, start_ts FROM nodes_out WHERE infra_id=? AND url=?",
                            (infra_id, url)).fetchone()
            c.execute("DELETE FROM nodes_out WHERE infra_id=? AND url=?", (infra_id, url))
            self._log_line(c, deployment_id, start_ts, level, line)
            if row is not None and tuple(row) != (deployment_id, start_ts):
                self._log_line(c, row[0], row[1], level, line)

    def nodes_out(self, infra_id: str | None = None) -> list[dict[str, Any]]:
        """Nodes left out of the load balancer (of one infra, or all): {infra_id, url, local_node, ...}."""
        if infra_id is None:
            return self._rows("SELECT * FROM nodes_out ORDER BY infra_id, url")
        return self._rows("SELECT * FROM nodes_out WHERE infra_id=? ORDER BY url", (infra_id,))

    def move_node_out(self, infra_id: str, old_url: str, new_url: str) -> None:
        """A local node left out has a new URL after a restart (its port changed)."""
        with self.tx() as c:
            c.execute("UPDATE OR REPLACE nodes_out SET url=? WHERE infra_id=? AND url=?", (new_url, infra_id, old_url))

    def finish_update(self, deployment_id: str, start_ts: int, status: str, result: Any = None,
                      deployed: dict[str, Any] | None = None) -> None:
        with self.tx() as c:
            c.execute("UPDATE updates SET status=?, end_ts=?, result=? WHERE deployment_id=? AND start_ts=?",
                      (status, now_ms(), json.dumps(result), deployment_id, start_ts))
            if deployed is not None:
                c.execute("UPDATE deployments SET deployed=? WHERE id=?", (json.dumps(deployed), deployment_id))

    def list_updates(self, deployment_id: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM updates WHERE deployment_id=? ORDER BY start_ts DESC", (deployment_id,))

    def get_update(self, deployment_id: str, start_ts: int | None = None) -> dict[str, Any] | None:
        if start_ts is None:
            row = self._one("SELECT * FROM updates WHERE deployment_id=? ORDER BY start_ts DESC LIMIT 1",
                            (deployment_id,))
        else:
            row = self._one("SELECT * FROM updates WHERE deployment_id=? AND start_ts=?", (deployment_id, start_ts))
        if row is None:
            return None
        row["logs"] = self._rows("SELECT level, line FROM update_logs WHERE deployment_id=? AND start_ts=? "
                                 "ORDER BY seq", (deployment_id, row["start_ts"]))
        return row

    def fail_interrupted_updates(self, line: str) -> int:
        """Updates left RUNNING by a previous process cannot still run: mark them FAILED, saying why."""
        rows = self._rows("SELECT deployment_id, start_ts FROM updates WHERE status='RUNNING'")
        for row in rows:
            self.append_update_log(row["deployment_id"], row["start_ts"], ERROR, line)
            self.finish_update(row["deployment_id"], row["start_ts"], "FAILED")
        return len(rows)


def private_dir(path: Path) -> None:
    """A folder the deployer keeps is 0700: one made wider (by hand, by an older version) is narrowed."""
    if path.is_dir() and path.stat().st_mode & 0o077:
        path.chmod(0o700)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
