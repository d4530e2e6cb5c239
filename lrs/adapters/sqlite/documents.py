"""The documents port on SQLite: state and profile documents, preconditions checked in the
write transaction (lrs.domain.documents)."""

from __future__ import annotations

import sqlite3
from typing import Any

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.domain.documents import Preconditions, etag_for
from lrs.domain.records import Document
from lrs.xapi.documents import merge_documents
from lrs.xapi.errors import NotFound


class SQLiteDocuments(SQLiteBase):
    def _read_document(
        self, conn: sqlite3.Connection, kind: str, scope: str, doc_id: str
    ) -> Document | None:
        row = conn.execute(
            "SELECT content, content_type, etag, updated FROM documents"
            " WHERE kind = ? AND scope = ? AND doc_id = ?",
            (kind, scope, doc_id),
        ).fetchone()
        return None if row is None else Document(bytes(row[0]), row[1], row[2], row[3])

    def get_document(self, kind: str, scope: str, doc_id: str) -> Document | None:
        return self._read_document(self._reader(), kind, scope, doc_id)

    def list_documents(self, kind: str, scope: str, since: str | None) -> list[str]:
        sql = "SELECT doc_id FROM documents WHERE kind = ? AND scope = ?"
        params: list[Any] = [kind, scope]
        if since is not None:
            sql += " AND updated > ?"
            params.append(since)
        return [r[0] for r in self._reader().execute(sql + " ORDER BY doc_id", params)]

    def put_document(
        self,
        kind: str,
        scope: str,
        doc_id: str,
        content: bytes,
        content_type: str,
        *,
        merge: bool,
        preconditions: Preconditions,
    ) -> Document:
        with self._transaction() as conn:
            current = self._read_document(conn, kind, scope, doc_id)
            preconditions.check(current)
            if merge:
                content = merge_documents(
                    current.content if current else None,
                    current.content_type if current else None,
                    content,
                    content_type,
                )
                content_type = "application/json"
            document = Document(content, content_type, etag_for(content), self._now_stored())
            conn.execute(
                "INSERT OR REPLACE INTO documents(kind, scope, doc_id, content, content_type,"
                " etag, updated) VALUES (?,?,?,?,?,?,?)",
                (kind, scope, doc_id, content, content_type, document.etag, document.updated),
            )
            return document

    def delete_document(
        self, kind: str, scope: str, doc_id: str, preconditions: Preconditions
    ) -> None:
        with self._transaction() as conn:
            current = self._read_document(conn, kind, scope, doc_id)
            preconditions.check(current)
            if current is None:
                raise NotFound("no such document", "stateId" if kind == "state" else "profileId")
            conn.execute(
                "DELETE FROM documents WHERE kind = ? AND scope = ? AND doc_id = ?",
                (kind, scope, doc_id),
            )

    def delete_documents(self, kind: str, scope: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM documents WHERE kind = ? AND scope = ?", (kind, scope))
