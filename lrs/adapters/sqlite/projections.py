"""The projections port on SQLite: states and contributions in their own file, changes
decided by lrs.ops.projections."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase, pieces
from lrs.adapters.sqlite.log import move_offset
from lrs.domain.records import (
    Contribution,
    Retraction,
    StateQuery,
)
from lrs.memory import kept_bytes
from lrs.ops.projections import apply_projection_changes


class SQLiteProjections(SQLiteBase):
    def apply_changes(
        self,
        reducer: Any,
        changes: list[Contribution | Retraction],
        offset: tuple[str, int] | None = None,
    ) -> None:
        name = reducer.name
        with self._projection_transaction() as conn:
            tx = SQLiteProjection(conn, name, changes, reducer, statements=self._reader())
            states = apply_projection_changes(reducer, changes, tx)
            tx.flush()
            unindex: list[tuple[str, str, Any, str]] = []
            index: list[tuple[str, str, Any, str]] = []
            deleted: list[tuple[str, str]] = []
            written: list[tuple[str, str, bytes]] = []
            for key, state in states.items():
                if key in tx.loaded_index:
                    old_rows = tx.loaded_index[key]
                elif key in tx.indexed:
                    old_rows = {
                        (f, v)
                        for f, v in conn.execute(
                            "SELECT field, value FROM state_index WHERE projection = ? AND key = ?",
                            (name, key),
                        )
                    }
                else:
                    old_rows = set()
                new_rows = index_rows(reducer, state) if state is not None else set()
                # only what changed: most folds move one or two values
                unindex += [(name, f, v, key) for f, v in old_rows - new_rows]
                index += [(name, f, v, key) for f, v in new_rows - old_rows]
                if state is None:
                    deleted.append((name, key))
                else:
                    written.append((name, key, kept_bytes(orjson.dumps(state))))
            # One statement per kind of write for the whole batch, not several per key.
            conn.executemany(
                "DELETE FROM state_index WHERE projection = ? AND field = ? AND value = ?"
                " AND key = ?",
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
            if offset is not None:
                move_offset(conn, *offset)

    def get_state(self, projection: str, key: str) -> dict[str, Any] | None:
        row = (
            self._projection_reader()
            .execute("SELECT state FROM states WHERE projection = ? AND key = ?", (projection, key))
            .fetchone()
        )
        return None if row is None else orjson.loads(row[0])

    def list_states(self, projection: str, query: StateQuery) -> list[tuple[str, dict[str, Any]]]:
        equals = dict(query.equals)
        if equals:
            # Drive from the index (a class of 40 among 100,000 learners reads 40 rows).
            field_name, value = next(iter(equals.items()))
            del equals[field_name]
            sql = (
                "SELECT s.key, s.state FROM state_index d JOIN states s"
                " ON s.projection = d.projection AND s.key = d.key"
                " WHERE d.projection = ? AND d.field = ? AND d.value = ? AND d.key > ?"
            )
            params: list[Any] = [projection, field_name, value, query.after or ""]
            order = "d.key"  # ordering by s.key would make SQLite walk every state instead
        else:
            sql = "SELECT s.key, s.state FROM states s WHERE s.projection = ? AND s.key > ?"
            params = [projection, query.after or ""]
            order = "s.key"
        for op, filters in (("=", equals), (">=", query.at_least)):
            for field_name, value in filters.items():
                sql += (
                    " AND EXISTS (SELECT 1 FROM state_index i WHERE i.projection = s.projection"
                    f" AND i.key = s.key AND i.field = ? AND i.value {op} ?)"
                )
                params += [field_name, value]
        sql += f" ORDER BY {order} LIMIT ?"
        params.append(query.limit)
        return [
            (key, orjson.loads(state))
            for key, state in self._projection_reader().execute(sql, params)
        ]

    def clear_projection(self, projection: str) -> None:
        with self._projection_transaction() as conn:
            for table in ("contributions", "retractions", "states", "state_index"):
                conn.execute(f"DELETE FROM {table} WHERE projection = ?", (projection,))

    def get_contributions(self, projection: str, keys: list[str]) -> list[Contribution]:
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        rows = self._projection_reader().execute(
            "SELECT statement_id, key, data FROM contributions WHERE projection = ?"
            f" AND key IN ({marks}) AND voided = 0 ORDER BY n",
            [projection, *keys],
        )
        return [Contribution(sid, key, orjson.loads(data)) for sid, key, data in rows]


def index_rows(reducer: Any, state: dict[str, Any]) -> set[tuple[str, Any]]:
    return {(f, v) for f, values in reducer.index(state).items() for v in values}


class SQLiteProjection:
    """`ProjectionTransaction` on the writer connection, inside `apply_changes`' transaction."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        name: str,
        changes: list[Contribution | Retraction],
        reducer: Any = None,
        *,
        statements: sqlite3.Connection,
    ) -> None:
        self.conn = conn
        self.statements = statements  # a reader of the statement file (`is_retracted`)
        self.name = name
        self.reducer = reducer
        # keys that may have index rows already: stored before, or rebuilt in this batch
        self.indexed: set[str] = set()
        # index rows of the states as loaded, so the writer diffs without reading them back
        self.loaded_index: dict[str, set[tuple[str, Any]]] = {}
        # A few queries for the whole batch instead of one per contribution:
        # what is retracted, and which contributions are already recorded.
        ids = list({c.statement_id for c in changes if isinstance(c, Contribution)})
        self.retracted: set[str] = set()
        self._kept: dict[str, bool] = {}  # retracted, yet stored and not voided (`is_retracted`)
        self.recorded: set[tuple[str, str]] = set()
        self._pending: list[tuple[str, str, str, bytes]] = []
        # the states of the batch's keys, read together (None: no state yet)
        keys = list({c.key for c in changes if isinstance(c, Contribution)})
        self._stored_states: dict[str, bytes | None] = dict.fromkeys(keys)
        # Runs of 256, 128, ... (`pieces`), as the writer does: a handful of SQL texts, so
        # the connection's statement cache keeps them instead of preparing new ones per batch.
        for chunk in pieces(keys):
            marks = ",".join("?" * len(chunk))
            self._stored_states.update(
                conn.execute(
                    f"SELECT key, state FROM states WHERE projection = ? AND key IN ({marks})",
                    [name, *chunk],
                )
            )
        for chunk in pieces(ids):
            marks = ",".join("?" * len(chunk))
            self.retracted.update(
                row[0]
                for row in conn.execute(
                    "SELECT statement_id FROM retractions WHERE projection = ?"
                    f" AND statement_id IN ({marks})",
                    [name, *chunk],
                )
            )
            self.recorded.update(
                conn.execute(
                    "SELECT statement_id, key FROM contributions WHERE projection = ?"
                    f" AND statement_id IN ({marks})",
                    [name, *chunk],
                )
            )

    def flush(self) -> None:
        """Write the contributions recorded so far (before anything reads them back)."""
        if self._pending:
            self.conn.executemany(
                "INSERT OR IGNORE INTO contributions(projection, statement_id, key, data)"
                " VALUES (?,?,?,?)",
                self._pending,
            )
            self._pending = []

    def load_state(self, key: str) -> dict[str, Any] | None:
        if key in self._stored_states:
            raw = self._stored_states[key]
        else:
            row = self.conn.execute(
                "SELECT state FROM states WHERE projection = ? AND key = ?", (self.name, key)
            ).fetchone()
            raw = None if row is None else row[0]
        if raw is None:
            return None
        self.indexed.add(key)
        state: dict[str, Any] = orjson.loads(raw)
        if self.reducer is not None:
            self.loaded_index[key] = index_rows(self.reducer, state)
        return state

    def is_retracted(self, statement_id: str) -> bool:
        if statement_id not in self.retracted:
            return False
        kept = self._kept.get(statement_id)
        if kept is None:
            row = self.statements.execute(
                "SELECT voided FROM statements WHERE id = ?", (statement_id,)
            ).fetchone()
            kept = self._kept[statement_id] = row is not None and not row[0]
        return not kept

    def add_contribution(self, contribution: Contribution) -> bool:
        recorded = (contribution.statement_id, contribution.key)
        if recorded in self.recorded:
            return False
        self.recorded.add(recorded)
        self._pending.append(
            (
                self.name,
                contribution.statement_id,
                contribution.key,
                kept_bytes(orjson.dumps(contribution.data)),
            )
        )
        return True

    def add_retraction(self, statement_id: str) -> bool:
        self.retracted.add(statement_id)
        return bool(
            self.conn.execute(
                "INSERT OR IGNORE INTO retractions(projection, statement_id) VALUES (?,?)",
                (self.name, statement_id),
            ).rowcount
        )

    def retract_contributions(self, statement_id: str) -> list[str]:
        self.flush()
        keys = [
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT key FROM contributions"
                " WHERE projection = ? AND statement_id = ? AND voided = 0",
                (self.name, statement_id),
            )
        ]
        self.conn.execute(
            "UPDATE contributions SET voided = 1 WHERE projection = ? AND statement_id = ?",
            (self.name, statement_id),
        )
        return keys

    def live_contributions(self, key: str) -> list[Contribution]:
        self.flush()
        self.indexed.add(key)
        return [
            Contribution(sid, key, orjson.loads(data))
            for sid, data in self.conn.execute(
                "SELECT statement_id, data FROM contributions"
                " WHERE projection = ? AND key = ? AND voided = 0 ORDER BY n",
                (self.name, key),
            )
        ]
