"""The credentials port on SQLite, and the organisation lookups the write path caches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.domain.records import Credential
from lrs.domain.times import format_stored


class SQLiteCredentials(SQLiteBase):
    def list_credentials(self) -> list[Credential]:
        rows = self._reader().execute(
            "SELECT key, name, scopes, org, secret_hash, role, audits FROM credentials ORDER BY key"
        )
        return [credential_of(row) for row in rows]

    def credentials_version(self) -> str:
        # INSERT OR REPLACE gives the saved row a new, highest rowid, so any save moves it;
        # max(rowid) is one b-tree descent (credentials are never deleted).
        row = self._reader().execute("SELECT coalesce(max(rowid), 0) FROM credentials").fetchone()
        return str(row[0])

    def save_credential(self, credential: Credential) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO credentials(key, name, scopes, org, secret_hash, created,"
                " role, audits) VALUES (?,?,?,?,?,?,?,?)",
                (
                    credential.key,
                    credential.name,
                    " ".join(credential.scopes),
                    credential.org,
                    credential.secret_hash,
                    format_stored(datetime.now(UTC)),
                    credential.role,
                    " ".join(credential.audits),
                ),
            )
            self._orgs.forget()

    def _load_org(self, key: str) -> str | None:
        row = self._writer.execute("SELECT org FROM credentials WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def _writer_credentials_version(self) -> str:
        row = self._writer.execute("SELECT coalesce(max(rowid), 0) FROM credentials").fetchone()
        return str(row[0])

    def get_credential(self, key: str) -> Credential | None:
        row = (
            self._reader()
            .execute(
                "SELECT key, name, scopes, org, secret_hash, role, audits FROM credentials"
                " WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        return None if row is None else credential_of(row)


def credential_of(row: tuple[Any, ...]) -> Credential:
    return Credential(
        row[0], row[1], tuple(row[2].split()), row[3], row[4], row[5], tuple(row[6].split())
    )
