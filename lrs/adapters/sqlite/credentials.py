"""The credentials port on SQLite, and the organisation lookups the write path caches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.domain.records import Credential
from lrs.domain.times import format_stored

_COLUMNS = (
    "key, name, scopes, org, secret_hash, role, audits, created, expires, revoked,"
    " previous_hash, previous_until, last_used"
)
# A counter row bumped by every save, in the save's transaction: max(rowid) moved with most
# saves but not with a re-save of the newest row (INSERT OR REPLACE gives it its rowid back),
# and a revocation must reach every process's cache.
_VERSION = "SELECT coalesce((SELECT version FROM credentials_version WHERE id = 0), 0)"


class SQLiteCredentials(SQLiteBase):
    def list_credentials(self) -> list[Credential]:
        rows = self._reader().execute(f"SELECT {_COLUMNS} FROM credentials ORDER BY key")
        return [credential_of(row) for row in rows]

    def credentials_version(self) -> str:
        return str(self._reader().execute(_VERSION).fetchone()[0])

    def save_credential(self, credential: Credential) -> None:
        with self._transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO credentials({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    credential.key,
                    credential.name,
                    " ".join(credential.scopes),
                    credential.org,
                    credential.secret_hash,
                    credential.role,
                    " ".join(credential.audits),
                    credential.created or format_stored(datetime.now(UTC)),
                    credential.expires,
                    credential.revoked,
                    credential.previous_hash,
                    credential.previous_until,
                    credential.last_used,
                ),
            )
            conn.execute(
                "INSERT INTO credentials_version(id, version) VALUES (0, 1)"
                " ON CONFLICT(id) DO UPDATE SET version = version + 1"
            )
            self._orgs.forget()

    def touch_credential(self, key: str, when: str) -> None:
        # An UPDATE, not a save: it moves no version, so no process drops its caches.
        with self._transaction() as conn:
            conn.execute(
                "UPDATE credentials SET last_used = ? WHERE key = ?"
                " AND (last_used IS NULL OR last_used < ?)",
                (when, key, when),
            )

    def _load_org(self, key: str) -> str | None:
        row = self._writer.execute("SELECT org FROM credentials WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _writer_credentials_version(self) -> str:
        return str(self._writer.execute(_VERSION).fetchone()[0])

    def get_credential(self, key: str) -> Credential | None:
        row = (
            self._reader()
            .execute(f"SELECT {_COLUMNS} FROM credentials WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else credential_of(row)


def credential_of(row: tuple[Any, ...]) -> Credential:
    return Credential(
        row[0],
        row[1],
        tuple(row[2].split()),
        row[3],
        row[4],
        row[5],
        tuple(row[6].split()),
        created=row[7] or "",
        expires=row[8],
        revoked=row[9],
        previous_hash=row[10] or "",
        previous_until=row[11],
        last_used=row[12],
    )
