"""The retention port on SQLite: find what is older than a policy allows, and remove it.

Removing statements shares the erasure adapter's projection step (contributions removed,
states rebuilt, retractions kept) and its attachment sweep, so that retention and erasure
cannot leave projections in different shapes. Like erasure, deletes run with
`secure_delete` on and end with a WAL checkpoint: retained-out bytes do not linger.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import orjson

from lrs.adapters.sqlite.base import pack_terms, term_needles_any_kind, unpack_terms
from lrs.adapters.sqlite.erasure import SQLiteErasure
from lrs.adapters.sqlite.statement_index import indexed_through
from lrs.domain.records import ErasureReport
from lrs.ports.retention import StoredDocument, StoredStatement
from lrs.xapi import statements as xs
from lrs.xapi.redaction import attachment_hashes


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

    def retire_statements(
        self, deleted: list[str], rewritten: dict[str, dict[str, Any]], reducers: list[Any] | None
    ) -> ErasureReport:
        report = ErasureReport()
        if not deleted and not rewritten:
            return report
        gone: list[str] = []
        changed: list[str] = []
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                through = indexed_through(conn)
                orphans: set[str] = set()
                dropped: set[int] = set()  # term ids the retired statements were indexed under
                for sid in [*deleted, *rewritten]:
                    row = conn.execute(
                        "SELECT seq, terms, data FROM statements WHERE id = ?", (sid,)
                    ).fetchone()
                    if row is None:
                        continue
                    seq, packed = row[0], unpack_terms(row[1])
                    dropped.update(term for _, term in packed)
                    conn.executemany(
                        "DELETE FROM statement_index WHERE kind = ? AND term = ? AND seq = ?",
                        [(kind, term, seq) for kind, term in packed],
                    )
                    kept = rewritten.get(sid)
                    if kept is None:
                        conn.execute("DELETE FROM statements WHERE seq = ?", (seq,))
                        orphans |= attachment_hashes(orjson.loads(row[2]))
                        gone.append(sid)
                        continue
                    terms = {
                        (int(kind), self._term_id(conn, value))
                        for kind, value in xs.index_terms(kept)
                    }
                    conn.execute(
                        "UPDATE statements SET terms = ?, data = ?, learner = ? WHERE seq = ?",
                        (pack_terms(terms), orjson.dumps(kept), xs.learner_key(kept), seq),
                    )
                    if through is None or seq <= through:  # else the indexer reads `terms`
                        conn.executemany(
                            "INSERT OR IGNORE INTO statement_index(kind, term, seq) VALUES (?,?,?)",
                            [(kind, term, seq) for kind, term in terms],
                        )
                    changed.append(sid)
                report.statements_deleted = len(gone)
                report.statements_pseudonymised = len(changed)
                report.attachments_deleted = self._delete_unused(conn, orphans, set())
                report.agent_names_deleted = self._forget_unused_terms(conn, dropped, through)
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
                self._forget_caches()  # the names cache may list deleted names
        if reducers is not None and (gone or changed):
            # anonymised statements leave the learner's projections too: retracted, not
            # refolded (their contributions would pile up under the anonymous agent)
            for reducer in reducers:
                counts = self.erase_from_projection(reducer, gone + changed, {})
                report.contributions_deleted += counts.contributions_deleted
                report.states_deleted += counts.states_deleted
                report.states_rebuilt += counts.states_rebuilt
        self._checkpoint()
        return report

    def _forget_unused_terms(
        self, conn: sqlite3.Connection, term_ids: set[int], through: int | None
    ) -> int:
        """Delete the names of agents no stored statement is indexed under any more (their
        last statement went); how many. The terms themselves stay: another process's
        statement writer (`lrs serve` while the processors' child or `lrs retention run`
        retires) caches term ids, and would index new statements under a deleted one."""
        names = 0
        for term in sorted(term_ids):
            if conn.execute(
                "SELECT 1 FROM statement_index WHERE term = ? LIMIT 1", (term,)
            ).fetchone():
                continue
            needles = term_needles_any_kind(term)
            if (
                through is not None
                and conn.execute(  # the tail not indexed yet
                    "SELECT 1 FROM statements WHERE seq > ? AND ("
                    + " OR ".join(["instr(terms, ?) > 0"] * len(needles))
                    + ") LIMIT 1",
                    (through, *needles),
                ).fetchone()
            ):
                continue
            row = conn.execute("SELECT value FROM terms WHERE id = ?", (term,)).fetchone()
            if row is not None:
                names += conn.execute("DELETE FROM agent_names WHERE key = ?", (row[0],)).rowcount
        return int(names)

    def delete_statement_attachments(self, ids: list[str]) -> int:
        if not ids:
            return 0
        with self._transaction() as conn:
            used: set[str] = set()
            for sid in ids:
                row = conn.execute("SELECT data FROM statements WHERE id = ?", (sid,)).fetchone()
                if row is not None:
                    used |= attachment_hashes(orjson.loads(row[0]))
            conn.execute("PRAGMA secure_delete=ON")
            try:
                removed = self._delete_unused(conn, used, set(ids))
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
        self._checkpoint()
        return removed

    def _delete_unused(self, conn: Any, sha2s: set[str], besides: set[str]) -> int:
        """Delete the attachments no stored statement other than `besides` refers to (no
        index says which statements use one: the rest is searched for the hash)."""
        removed = 0
        for sha2 in sorted(sha2s):
            users = conn.execute(
                "SELECT id FROM statements WHERE instr(data, ?) > 0", (sha2.encode(),)
            )
            if any(row[0] not in besides for row in users):
                continue
            removed += conn.execute("DELETE FROM attachments WHERE sha2 = ?", (sha2,)).rowcount
        return int(removed)

    def documents_updated_before(self, before: str) -> list[StoredDocument]:
        rows = self._reader().execute(
            "SELECT kind, scope, doc_id, updated FROM documents WHERE updated < ?"
            " ORDER BY kind, scope, doc_id",
            (before,),
        )
        return [StoredDocument(*row) for row in rows]

    def delete_expired_documents(self, documents: list[StoredDocument]) -> int:
        if not documents:
            return 0
        removed = 0
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                for doc in documents:
                    removed += conn.execute(
                        "DELETE FROM documents WHERE kind = ? AND scope = ? AND doc_id = ?"
                        " AND updated = ?",
                        (doc.kind, doc.scope, doc.doc_id, doc.updated),
                    ).rowcount
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
        self._checkpoint()
        return removed

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

    def _checkpoint(self) -> None:
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._projection_lock:
            self._projection_writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
