"""The retention port on SQLite: find what is older than a policy allows, and cut the access log.

What a run removes or anonymises goes through the erasure adapter's primitives
(lrs.ops.retention plans, lrs.adapters.sqlite.erasure writes), so retention and erasure
cannot leave statements, projections or files in different shapes.
"""

from __future__ import annotations

import threading

import orjson

from lrs.adapters.sqlite.erasure import SQLiteErasure
from lrs.ports.erasure import DocumentRef
from lrs.ports.retention import StoredStatement


class SQLiteRetention(SQLiteErasure):
    _audit_lock: threading.Lock  # lrs.adapters.sqlite.access_log opens the audit file

    def statements_stored_before(
        self, before: str, after_seq: int, limit: int
    ) -> list[StoredStatement]:
        rows = self._reader().execute(
            "SELECT seq, id, credential, stored, data FROM statements"
            " WHERE stored < ? AND seq > ? ORDER BY seq LIMIT ?",
            (before, after_seq, limit),
        )
        return [
            StoredStatement(seq, sid, credential, stored, orjson.loads(data))
            for seq, sid, credential, stored, data in rows
        ]

    def documents_updated_before(self, before: str) -> list[DocumentRef]:
        rows = self._reader().execute(
            "SELECT kind, scope, doc_id, updated FROM documents WHERE updated < ?"
            " ORDER BY kind, scope, doc_id",
            (before,),
        )
        return [DocumentRef(*row) for row in rows]

    def prune_access(self, through: int) -> int:
        with self._audit_lock:
            conn = self._audit_writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                head = conn.execute("SELECT seq FROM access_head WHERE id = 1").fetchone()
                limit = min(through, int(head[0]) - 1) if head else 0
                removed = conn.execute("DELETE FROM access_log WHERE seq <= ?", (limit,)).rowcount
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return int(removed)
