"""The log port on SQLite: the statements table in `seq` order, the outbox mark, offsets."""

from __future__ import annotations

import sqlite3
import time

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.domain.records import LogRecord


class SQLiteLog(SQLiteBase):
    # One writer commits in seq order, so "published" is a single high-water mark.
    _PUBLISHED = "outbox:published"

    def read_log(self, after: int, limit: int) -> list[LogRecord]:
        rows = self._reader().execute(
            "SELECT seq, learner, data FROM statements WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [LogRecord(seq, learner, bytes(data)) for seq, learner, data in rows]

    def unpublished(self, limit: int) -> list[LogRecord]:
        return self.read_log(self.get_offset(self._PUBLISHED), limit)

    def mark_published(self, records: list[LogRecord]) -> None:
        if records:
            self.set_offset(self._PUBLISHED, max(r.offset for r in records))

    def published_count(self) -> int:
        mark = self.get_offset(self._PUBLISHED)
        row = self._reader().execute("SELECT count(*) FROM statements WHERE seq <= ?", (mark,))
        return int(row.fetchone()[0])

    def count_after(self, after: int) -> int:
        row = self._reader().execute("SELECT count(*) FROM statements WHERE seq > ?", (after,))
        return int(row.fetchone()[0])

    def unpublished_count(self) -> int:
        return self.count_after(self.get_offset(self._PUBLISHED))

    def reset_published(self) -> None:
        with self._projection_transaction() as conn:
            conn.execute("DELETE FROM offsets WHERE name = ?", (self._PUBLISHED,))

    def get_offset(self, consumer: str) -> int:
        row = (
            self._projection_reader()
            .execute("SELECT position FROM offsets WHERE name = ?", (consumer,))
            .fetchone()
        )
        return 0 if row is None else row[0]

    def set_offset(self, consumer: str, offset: int) -> None:
        with self._projection_transaction() as conn:
            move_offset(conn, consumer, offset)

    def claim_lease(self, name: str, owner: str, seconds: float) -> bool:
        now = time.time()
        with self._projection_transaction() as conn:
            row = conn.execute("SELECT owner, until FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            conn.execute(
                "INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET owner = excluded.owner, until = excluded.until",
                (name, owner, now + seconds),
            )
            return True


def move_offset(conn: sqlite3.Connection, consumer: str, offset: int) -> None:
    """Offsets only move forward."""
    conn.execute(
        "INSERT INTO offsets(name, position) VALUES (?, ?)"
        " ON CONFLICT(name) DO UPDATE SET position = MAX(position, excluded.position)",
        (consumer, offset),
    )
