"""The forwarding port on SQLite.

Rules are configuration: they live in the statements file (fsync per commit). A rule's
state and dead letters move together with every delivered batch: they live in the
projections file beside the processors' offsets, where a batch commits without waiting
for an fsync (WAL with synchronous=NORMAL survives a process crash; a power cut may undo
the last deliveries, which are then sent again, harmlessly). The tables are created on
first use, so stores made before forwarding existed need nothing.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.domain.forwarding import DeadLetter, ForwardRule, ForwardState
from lrs.domain.times import format_stored
from lrs.ops.forwarding import rule_from_record, rule_record

RULES_SCHEMA = """
CREATE TABLE IF NOT EXISTS forward_rules (id TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

STATE_SCHEMA = """
CREATE TABLE IF NOT EXISTS forward_state (
    rule_id TEXT PRIMARY KEY, position INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0, last_error TEXT, updated TEXT
);
CREATE TABLE IF NOT EXISTS forward_dead (
    rule_id TEXT NOT NULL, position INTEGER NOT NULL, statement_id TEXT NOT NULL,
    data BLOB NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, at TEXT NOT NULL,
    replay INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (rule_id, position)
);
"""

_STATE_COLUMNS = "position, delivered, failed, dead, attempts, next_attempt, last_error, updated"
_DEAD_COLUMNS = "rule_id, position, statement_id, data, attempts, error, at, replay"


def _now() -> str:
    return format_stored(datetime.now(UTC))


class SQLiteForwarding(SQLiteBase):
    _forwarding_ready = False

    def _forwarding_tables(self) -> None:
        if not self._forwarding_ready:
            with self._transaction() as conn:
                conn.execute(RULES_SCHEMA)
            with self._projection_lock:
                self._projection_writer.executescript(STATE_SCHEMA)
            self._forwarding_ready = True

    def save_forward_rule(self, rule: ForwardRule) -> None:
        self._forwarding_tables()
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO forward_rules(id, data) VALUES (?, ?)"
                " ON CONFLICT(id) DO UPDATE SET data = excluded.data",
                (rule.id, rule_record(rule)),
            )

    def get_forward_rule(self, rule_id: str) -> ForwardRule | None:
        self._forwarding_tables()
        row = (
            self._reader()
            .execute("SELECT data FROM forward_rules WHERE id = ?", (rule_id,))
            .fetchone()
        )
        return None if row is None else rule_from_record(bytes(row[0]))

    def list_forward_rules(self) -> list[ForwardRule]:
        self._forwarding_tables()
        rows = self._reader().execute("SELECT data FROM forward_rules ORDER BY id")
        return [rule_from_record(bytes(row[0])) for row in rows]

    def delete_forward_rule(self, rule_id: str) -> bool:
        self._forwarding_tables()
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM forward_rules WHERE id = ?", (rule_id,)).rowcount
        with self._projection_transaction() as conn:
            conn.execute("DELETE FROM forward_state WHERE rule_id = ?", (rule_id,))
            conn.execute("DELETE FROM forward_dead WHERE rule_id = ?", (rule_id,))
        return bool(deleted)

    def forward_state(self, rule_id: str) -> ForwardState:
        self._forwarding_tables()
        row = (
            self._projection_reader()
            .execute(f"SELECT {_STATE_COLUMNS} FROM forward_state WHERE rule_id = ?", (rule_id,))
            .fetchone()
        )
        return ForwardState(rule_id) if row is None else ForwardState(rule_id, *row)

    def _update_state(self, conn: sqlite3.Connection, rule_id: str, sql: str, *args: Any) -> None:
        conn.execute("INSERT OR IGNORE INTO forward_state(rule_id) VALUES (?)", (rule_id,))
        conn.execute(
            f"UPDATE forward_state SET {sql}, updated = ? WHERE rule_id = ?",
            (*args, _now(), rule_id),
        )

    def record_delivery(self, rule_id: str, offset: int, delivered: int) -> None:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            self._update_state(
                conn,
                rule_id,
                "position = MAX(position, ?), delivered = delivered + ?, attempts = 0,"
                " next_attempt = 0",
                offset,
                delivered,
            )

    def record_failure(self, rule_id: str, error: str, next_attempt: float) -> int:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            self._update_state(
                conn,
                rule_id,
                "failed = failed + 1, attempts = attempts + 1, next_attempt = ?, last_error = ?",
                next_attempt,
                error,
            )
            row = conn.execute(
                "SELECT attempts FROM forward_state WHERE rule_id = ?", (rule_id,)
            ).fetchone()
        return int(row[0])

    def rewind_forwarding(self, rule_id: str, offset: int) -> None:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            self._update_state(
                conn, rule_id, "position = ?, attempts = 0, next_attempt = 0", max(offset, 0)
            )

    def dead_letter(self, rule_id: str, letters: list[DeadLetter], offset: int) -> None:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            new = 0
            for letter in letters:
                new += not conn.execute(
                    "SELECT 1 FROM forward_dead WHERE rule_id = ? AND position = ?",
                    (rule_id, letter.offset),
                ).fetchone()
                conn.execute(
                    f"INSERT INTO forward_dead({_DEAD_COLUMNS}) VALUES (?,?,?,?,?,?,?,0)"
                    " ON CONFLICT(rule_id, position) DO UPDATE SET attempts = excluded.attempts,"
                    " error = excluded.error, at = excluded.at, replay = 0",
                    (
                        rule_id,
                        letter.offset,
                        letter.statement_id,
                        letter.data,
                        letter.attempts,
                        letter.error,
                        letter.at,
                    ),
                )
            self._update_state(
                conn,
                rule_id,
                "position = MAX(position, ?), dead = dead + ?, attempts = 0, next_attempt = 0",
                offset,
                new,
            )

    def list_dead_letters(
        self, rule_id: str, after: int = 0, limit: int = 100, replay_only: bool = False
    ) -> list[DeadLetter]:
        self._forwarding_tables()
        replay = " AND replay = 1" if replay_only else ""
        rows = self._projection_reader().execute(
            f"SELECT {_DEAD_COLUMNS} FROM forward_dead WHERE rule_id = ? AND position > ?"
            f"{replay} ORDER BY position LIMIT ?",
            (rule_id, after, limit),
        )
        return [
            DeadLetter(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], bool(r[7])) for r in rows
        ]

    def mark_dead_letters_for_replay(self, rule_id: str, offsets: list[int] | None) -> int:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            if offsets is None:
                return int(
                    conn.execute(
                        "UPDATE forward_dead SET replay = 1 WHERE rule_id = ?", (rule_id,)
                    ).rowcount
                )
            return sum(
                conn.execute(
                    "UPDATE forward_dead SET replay = 1 WHERE rule_id = ? AND position = ?",
                    (rule_id, offset),
                ).rowcount
                for offset in offsets
            )

    def remove_dead_letters(self, rule_id: str, offsets: list[int]) -> None:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            removed = sum(
                conn.execute(
                    "DELETE FROM forward_dead WHERE rule_id = ? AND position = ?",
                    (rule_id, offset),
                ).rowcount
                for offset in offsets
            )
            if removed:
                self._update_state(conn, rule_id, "dead = MAX(dead - ?, 0)", removed)

    def redact_dead_letters(
        self, rule_id: str, deleted: list[int], rewritten: dict[int, bytes]
    ) -> None:
        self._forwarding_tables()
        with self._projection_transaction() as conn:
            removed = sum(
                conn.execute(
                    "DELETE FROM forward_dead WHERE rule_id = ? AND position = ?",
                    (rule_id, offset),
                ).rowcount
                for offset in deleted
            )
            conn.executemany(
                "UPDATE forward_dead SET data = ? WHERE rule_id = ? AND position = ?",
                [(data, rule_id, offset) for offset, data in rewritten.items()],
            )
            if removed:
                self._update_state(conn, rule_id, "dead = MAX(dead - ?, 0)", removed)

    def log_offset_before(self, stored: str) -> int:
        row = (
            self._reader()
            .execute(
                "SELECT seq FROM statements WHERE stored < ? ORDER BY stored DESC, seq DESC"
                " LIMIT 1",
                (stored,),
            )
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    def log_end(self) -> int:
        row = self._reader().execute("SELECT coalesce(max(seq), 0) FROM statements").fetchone()
        return int(row[0])
