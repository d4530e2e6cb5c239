"""The identities port on SQLite: learner keys linked into persons."""

from __future__ import annotations

from lrs.adapters.sqlite.base import SQLiteBase


class SQLiteIdentities(SQLiteBase):
    def link_keys(self, person: str, keys: list[str]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO identity_links(key, person) VALUES (?,?)",
                [(key, person) for key in keys],
            )

    def unlink_key(self, key: str) -> str | None:
        with self._transaction() as conn:
            row = conn.execute("SELECT person FROM identity_links WHERE key = ?", (key,)).fetchone()
            conn.execute("DELETE FROM identity_links WHERE key = ?", (key,))
            return None if row is None else str(row[0])

    def person_of(self, key: str) -> str | None:
        row = (
            self._reader()
            .execute("SELECT person FROM identity_links WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def keys_of(self, person: str) -> list[str]:
        rows = self._reader().execute(
            "SELECT key FROM identity_links WHERE person = ? ORDER BY key", (person,)
        )
        return [row[0] for row in rows]
