"""The access-log port on SQLite: its own file, entries sealed by lrs.ops.access_log."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.adapters.sqlite.schema import AUDIT_SCHEMA
from lrs.domain.records import (
    GENESIS,
    AccessEntry,
    AccessHead,
    AccessQuery,
)
from lrs.ops.access_log import seal_access


class SQLiteAccessLog(SQLiteBase):
    def _open_audit_log(self) -> None:
        """The access log lives in a third file with its own write lock: logging a read never
        queues behind the statement writer's group commit, nor holds it up. Fully synced:
        unlike projections, it cannot be rebuilt from anything."""
        self.audit_path = self.path.with_name(f"{self.path.stem}-audit{self.path.suffix}")
        self._audit_lock = threading.Lock()
        self._audit_writer = self._connect(self.audit_path, cache_mib=4)
        self._audit_writer.execute("PRAGMA synchronous=FULL")
        if not self.read_only:
            self._audit_writer.executescript(AUDIT_SCHEMA)

    def _audit_reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "audit_conn", None)
        if conn is None:
            conn = self._connect(self.audit_path, cache_mib=4)
            conn.execute("PRAGMA query_only=1")
            self._local.audit_conn = conn
        return conn

    def append_access(self, record: dict[str, Any]) -> AccessEntry:
        """BEGIN IMMEDIATE takes SQLite's write lock before the head is read, so appends from
        other threads and other processes on the same file queue instead of forking."""
        with self._audit_lock:
            conn = self._audit_writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                head = conn.execute("SELECT seq, hash FROM access_head WHERE id = 1").fetchone()
                seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
                entry = seal_access(record, seq + 1, prev)
                conn.execute(
                    f"INSERT INTO access_log({ACCESS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    access_row(entry),
                )
                conn.execute(
                    "INSERT OR REPLACE INTO access_head(id, seq, hash) VALUES (1, ?, ?)",
                    (entry.seq, entry.hash),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return entry

    def read_access(self, query: AccessQuery) -> list[AccessEntry]:
        sql = f"SELECT {ACCESS_COLUMNS} FROM access_log WHERE seq > ?"
        params: list[Any] = [query.after]
        for column, op, value in (
            ("at", ">", query.since),
            ("at", "<=", query.until),
            ("credential", "=", query.credential),
            ("learner", "=", query.learner),
        ):
            if value is not None:
                sql += f" AND {column} {op} ?"
                params.append(value)
        if query.orgs:
            sql += f" AND org IN ({','.join('?' * len(query.orgs))})"
            params += list(query.orgs)
        sql += " ORDER BY seq LIMIT ?"
        params.append(query.limit)
        return [access_entry(row) for row in self._audit_reader().execute(sql, params)]

    def access_head(self) -> AccessHead | None:
        row = self._audit_reader().execute("SELECT seq, hash FROM access_head").fetchone()
        return None if row is None else AccessHead(int(row[0]), str(row[1]))


ACCESS_COLUMNS = (
    "seq, at, action, credential, name, role, org, what, learner, query, count, prev, hash"
)


def access_row(entry: AccessEntry) -> tuple[Any, ...]:
    return (
        entry.seq, entry.at, entry.action, entry.credential, entry.name, entry.role, entry.org,
        entry.what, entry.learner, orjson.dumps(entry.query).decode(), entry.count, entry.prev,
        entry.hash,
    )  # fmt: skip


def access_entry(row: tuple[Any, ...]) -> AccessEntry:
    return AccessEntry(
        int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
        orjson.loads(row[9]), int(row[10]), row[11], row[12],
    )  # fmt: skip
