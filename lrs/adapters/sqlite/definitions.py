"""The definitions port on SQLite: frameworks and alignment rules as JSON by kind and id."""

from __future__ import annotations

from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase


class SQLiteDefinitions(SQLiteBase):
    def put_definition(self, kind: str, definition_id: str, data: dict[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO definitions(kind, id, data) VALUES (?,?,?)",
                (kind, definition_id, orjson.dumps(data)),
            )

    def get_definition(self, kind: str, definition_id: str) -> dict[str, Any] | None:
        row = (
            self._reader()
            .execute(
                "SELECT data FROM definitions WHERE kind = ? AND id = ?", (kind, definition_id)
            )
            .fetchone()
        )
        return None if row is None else orjson.loads(row[0])

    def list_definitions(self, kind: str) -> list[dict[str, Any]]:
        rows = self._reader().execute(
            "SELECT data FROM definitions WHERE kind = ? ORDER BY id", (kind,)
        )
        return [orjson.loads(row[0]) for row in rows]

    def delete_definition(self, kind: str, definition_id: str) -> bool:
        with self._transaction() as conn:
            return bool(
                conn.execute(
                    "DELETE FROM definitions WHERE kind = ? AND id = ?", (kind, definition_id)
                ).rowcount
            )
