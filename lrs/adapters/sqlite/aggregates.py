"""The aggregates port on SQLite: persons' rows and group counts in the projections file,
changed with lrs.ops.aggregates; statements re-contributed as an erasure rewrites them."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase, pieces
from lrs.adapters.sqlite.projections import SQLiteProjection, index_rows
from lrs.ops.aggregates import NOW, recontributed_states, replaced_rows

_SCHEMA = """
CREATE TABLE IF NOT EXISTS aggregate_rows (
    framework TEXT NOT NULL, entry TEXT NOT NULL, row BLOB NOT NULL,
    PRIMARY KEY (framework, entry)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aggregate_counts (
    framework TEXT NOT NULL, dimension TEXT NOT NULL, value TEXT NOT NULL,
    day TEXT NOT NULL, cell TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (framework, dimension, value, day, cell)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aggregate_counts_now ON aggregate_counts(framework, dimension, day);
"""


class SQLiteAggregates(SQLiteBase):
    _aggregates_ready = False

    def _aggregate_tables(self, conn: sqlite3.Connection) -> None:
        if not self._aggregates_ready:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            self._aggregates_ready = True

    def _ready_reader(self) -> sqlite3.Connection:
        if not self._aggregates_ready:
            with self._projection_transaction() as conn:
                self._aggregate_tables(conn)
        return self._projection_reader()

    def recontribute(self, reducer: Any, statements: dict[str, dict[str, Any]]) -> list[str]:
        """As the processors apply a batch (a few queries for the whole run, states written
        with one statement per kind), but the statements' old contributions go first and
        each touched key's state is rebuilt from what it has left (lrs.ops.projections)."""
        if not statements:
            return []
        name, ids = reducer.name, list(statements)
        fresh = [c for s in statements.values() for c in reducer.contributions(s)]
        with self._projection_transaction() as conn:
            keys: set[str] = set()
            for chunk in pieces(ids):
                # no DISTINCT: SQLite would then walk the key index over every contribution
                keys.update(
                    key
                    for (key,) in conn.execute(
                        "SELECT key FROM contributions WHERE projection = ?"
                        f" AND statement_id IN ({','.join('?' * len(chunk))})",
                        [name, *chunk],
                    )
                )
            conn.executemany(
                "DELETE FROM contributions WHERE projection = ? AND statement_id = ?",
                [(name, sid) for sid in ids],
            )
            tx = SQLiteProjection(conn, name, list(fresh), reducer, statements=self._reader())
            states = recontributed_states(reducer, tx, fresh, keys)
            tx.flush()
            self._write_states(conn, reducer, tx, states)
        return sorted(states)

    @staticmethod
    def _write_states(
        conn: sqlite3.Connection,
        reducer: Any,
        tx: SQLiteProjection,
        states: dict[str, dict[str, Any] | None],
    ) -> None:
        name = reducer.name
        keys = list(states)
        old_rows: dict[str, set[tuple[str, Any]]] = {key: set() for key in keys}
        for chunk in pieces(keys):
            for key, field, value in conn.execute(
                "SELECT key, field, value FROM state_index WHERE projection = ?"
                f" AND key IN ({','.join('?' * len(chunk))})",
                [name, *chunk],
            ):
                old_rows[key].add((field, value))
        unindex, index, deleted, written = [], [], [], []
        for key, state in states.items():
            new_rows = index_rows(reducer, state) if state is not None else set()
            unindex += [(name, f, v, key) for f, v in old_rows[key] - new_rows]
            index += [(name, f, v, key) for f, v in new_rows - old_rows[key]]
            if state is None:
                deleted.append((name, key))
            else:
                written.append((name, key, orjson.dumps(state)))
        conn.executemany(
            "DELETE FROM state_index WHERE projection = ? AND field = ? AND value = ? AND key = ?",
            unindex,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO state_index(projection, field, value, key) VALUES (?,?,?,?)",
            index,
        )
        conn.executemany("DELETE FROM states WHERE projection = ? AND key = ?", deleted)
        conn.executemany(
            "INSERT OR REPLACE INTO states(projection, key, state) VALUES (?,?,?)", written
        )

    def put_aggregate_rows(self, framework: str, rows: dict[str, dict[str, Any] | None]) -> int:
        with self._projection_transaction() as conn:
            self._aggregate_tables(conn)
            entries = sorted(rows)
            old: dict[str, dict[str, Any]] = {}
            for start in range(0, len(entries), 500):
                chunk = entries[start : start + 500]
                old.update(
                    (entry, orjson.loads(data))
                    for entry, data in conn.execute(
                        "SELECT entry, row FROM aggregate_rows WHERE framework = ?"
                        f" AND entry IN ({','.join('?' * len(chunk))})",
                        [framework, *chunk],
                    )
                )
            writes: list[tuple[str, str, bytes]] = []
            removes: list[tuple[str, str]] = []
            replaced, totals = replaced_rows(old, rows)
            changed = len(replaced)
            for entry, new in replaced.items():
                if new is None:
                    removes.append((framework, entry))
                else:
                    writes.append((framework, entry, orjson.dumps(new)))
            conn.executemany(
                "DELETE FROM aggregate_rows WHERE framework = ? AND entry = ?", removes
            )
            conn.executemany(
                "INSERT OR REPLACE INTO aggregate_rows(framework, entry, row) VALUES (?,?,?)",
                writes,
            )
            conn.executemany(
                "INSERT INTO aggregate_counts(framework, dimension, value, day, cell, n)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(framework, dimension, value, day, cell)"
                " DO UPDATE SET n = n + excluded.n",
                [(framework, *key, n) for key, n in totals.items() if n],
            )
            conn.executemany(  # a group whose last person left keeps no zero rows
                "DELETE FROM aggregate_counts WHERE framework = ? AND dimension = ?"
                " AND value = ? AND day = ? AND cell = ? AND n = 0",
                [(framework, *key) for key, n in totals.items() if n],
            )
        return changed

    def erase_aggregate_rows(self, entries: list[str]) -> int:
        conn = self._ready_reader()
        found: dict[str, dict[str, dict[str, Any] | None]] = {}
        for chunk in pieces(entries):
            for framework, entry in conn.execute(
                "SELECT framework, entry FROM aggregate_rows"
                f" WHERE entry IN ({','.join('?' * len(chunk))})",
                chunk,
            ):
                found.setdefault(framework, {})[entry] = None
        return sum(self.put_aggregate_rows(f, rows) for f, rows in sorted(found.items()))

    def get_aggregate_rows(self, framework: str, entries: list[str]) -> dict[str, dict[str, Any]]:
        conn = self._ready_reader()
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(entries), 500):
            chunk = entries[start : start + 500]
            found.update(
                (entry, orjson.loads(data))
                for entry, data in conn.execute(
                    "SELECT entry, row FROM aggregate_rows WHERE framework = ?"
                    f" AND entry IN ({','.join('?' * len(chunk))})",
                    [framework, *chunk],
                )
            )
        return found

    def aggregate_counts(
        self, framework: str, dimension: str, value: str | None, before_day: str | None = None
    ) -> list[tuple[str, str, int]]:
        conn = self._ready_reader()
        sql = (
            "SELECT value, cell, SUM(n) FROM aggregate_counts WHERE framework = ? AND dimension = ?"
        )
        params: list[Any] = [framework, dimension]
        if value is not None:
            sql += " AND value = ?"
            params.append(value)
        if before_day is None:
            sql += " AND day = ?"
            params.append(NOW)
        else:
            sql += " AND day > ? AND day < ?"
            params += [NOW, before_day]
        sql += " GROUP BY value, cell"
        return [(v, c, int(n)) for v, c, n in conn.execute(sql, params) if n]

    def clear_aggregates(self, framework: str) -> None:
        with self._projection_transaction() as conn:
            self._aggregate_tables(conn)
            conn.execute("DELETE FROM aggregate_rows WHERE framework = ?", (framework,))
            conn.execute("DELETE FROM aggregate_counts WHERE framework = ?", (framework,))
