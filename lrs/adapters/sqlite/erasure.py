"""The erasure port on SQLite: a person's statements, documents, names, links and
projection contributions, per lrs.xapi.erasure and lrs.ops.projections."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase, pack_terms, unpack_terms
from lrs.adapters.sqlite.projections import SQLiteProjection, index_rows
from lrs.adapters.sqlite.statement_index import indexed_through
from lrs.domain.records import (
    Contribution,
    ErasureReport,
)
from lrs.ops.projections import rebuild_after_erasure
from lrs.xapi import statements as xs
from lrs.xapi.erasure import (
    AGENT_DOCUMENT_KINDS,
    FILED_UNDER,
    attachment_hashes,
    document_agent,
    erase_from_statement,
)


class SQLiteErasure(SQLiteBase):
    def erase(self, keys: list[str], reducers: list[Any]) -> ErasureReport:
        """Statements, documents, names, links and attachments in one transaction on the
        statement file, then the projections in one on theirs. `secure_delete` overwrites
        the freed pages and a WAL checkpoint drops the old page images, so the erased bytes
        do not linger in the files (readers holding old snapshots can delay the checkpoint).
        Pragmas and checkpoints run under each file's write lock: the writer connections
        are shared with the group commit and the processors."""
        erased = frozenset(keys)
        report = ErasureReport()
        with self._transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                deleted, rewritten = self._erase_statements(conn, erased, report)
                self._erase_around_statements(conn, erased, report)
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
                # cached term ids may name deleted terms: forget them before anyone writes
                self._forget_caches()
        with self._projection_transaction() as conn:
            conn.execute("PRAGMA secure_delete=ON")
            try:
                self._erase_projections(conn, reducers, deleted, rewritten, report)
            finally:
                conn.execute("PRAGMA secure_delete=OFF")
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._projection_lock:
            self._projection_writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return report

    def _erase_statements(
        self, conn: sqlite3.Connection, erased: frozenset[str], report: ErasureReport
    ) -> tuple[list[str], dict[str, dict[str, Any]]]:
        marks = ",".join("?" * len(erased))
        term_ids = {
            row[0]
            for row in conn.execute(f"SELECT id FROM terms WHERE value IN ({marks})", list(erased))
        }
        through = indexed_through(conn)
        seqs: set[int] = set()
        if term_ids:
            id_marks = ",".join("?" * len(term_ids))
            seqs = {
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT seq FROM statement_index"
                    f" WHERE kind IN ({','.join('?' * len(FILED_UNDER))}) AND term IN ({id_marks})",
                    [*map(int, FILED_UNDER), *term_ids],
                )
            }
            if through is not None:  # the tail the deferred index has not reached yet
                patterns = [
                    orjson.dumps([int(kind), term]) for kind in FILED_UNDER for term in term_ids
                ]
                seqs |= {
                    row[0]
                    for row in conn.execute(
                        "SELECT seq FROM statements WHERE seq > ? AND ("
                        + " OR ".join(["instr(terms, ?) > 0"] * len(patterns))
                        + ")",
                        [through, *patterns],
                    )
                }
        deleted: list[str] = []
        rewritten: dict[str, dict[str, Any]] = {}
        orphans: set[str] = set()
        for seq in sorted(seqs):
            row = conn.execute(
                "SELECT id, terms, data FROM statements WHERE seq = ?", (seq,)
            ).fetchone()
            if row is None:
                continue
            sid, packed, data = row[0], unpack_terms(row[1]), orjson.loads(row[2])
            indexed = through is None or seq <= through  # else the indexer reads `terms` later
            conn.executemany(
                "DELETE FROM statement_index WHERE kind = ? AND term = ? AND seq = ?",
                [(kind, term, seq) for kind, term in packed],
            )
            kept = erase_from_statement(data, erased)
            if kept is None:
                conn.execute("DELETE FROM statements WHERE seq = ?", (seq,))
                deleted.append(sid)
                orphans |= attachment_hashes(data)
                report.statements_deleted += 1
                continue
            terms = {(k, t) for k, t in packed if t not in term_ids}
            if kept is not data:
                terms |= {
                    (int(kind), self._term_id(conn, value)) for kind, value in xs.index_terms(kept)
                }
                rewritten[sid] = kept
                report.statements_pseudonymised += 1
            conn.execute(
                "UPDATE statements SET terms = ?, data = ?, learner = ? WHERE seq = ?",
                (pack_terms(terms), orjson.dumps(kept), xs.learner_key(kept), seq),
            )
            if indexed:
                conn.executemany(
                    "INSERT OR IGNORE INTO statement_index(kind, term, seq) VALUES (?,?,?)",
                    [(kind, term, seq) for kind, term in terms],
                )
        if term_ids:
            conn.execute(
                f"DELETE FROM terms WHERE id IN ({','.join('?' * len(term_ids))})", list(term_ids)
            )
        for sha2 in sorted(orphans):
            # No index says which statements use an attachment: look for its hash in the rest.
            if (
                conn.execute(
                    "SELECT 1 FROM statements WHERE instr(data, ?) > 0 LIMIT 1", (sha2.encode(),)
                ).fetchone()
                is None
            ):
                report.attachments_deleted += conn.execute(
                    "DELETE FROM attachments WHERE sha2 = ?", (sha2,)
                ).rowcount
        return deleted, rewritten

    def _erase_around_statements(
        self, conn: sqlite3.Connection, erased: frozenset[str], report: ErasureReport
    ) -> None:
        keys = sorted(erased)
        marks = ",".join("?" * len(keys))
        report.agent_names_deleted += conn.execute(
            f"DELETE FROM agent_names WHERE key IN ({marks})", keys
        ).rowcount
        report.identity_links_deleted += conn.execute(
            f"DELETE FROM identity_links WHERE key IN ({marks})", keys
        ).rowcount
        documents = {
            (kind, scope, doc_id)
            for key in keys
            for kind, scope, doc_id in conn.execute(
                f"SELECT kind, scope, doc_id FROM documents"
                f" WHERE kind IN ({','.join('?' * len(AGENT_DOCUMENT_KINDS))})"
                " AND instr(scope, ?) > 0",
                (*AGENT_DOCUMENT_KINDS, key),
            )
            if document_agent(kind, scope) in erased
        }
        for kind, scope, doc_id in sorted(documents):
            report.documents_deleted += conn.execute(
                "DELETE FROM documents WHERE kind = ? AND scope = ? AND doc_id = ?",
                (kind, scope, doc_id),
            ).rowcount

    def _erase_projections(
        self,
        conn: sqlite3.Connection,
        reducers: list[Any],
        deleted: list[str],
        rewritten: dict[str, dict[str, Any]],
        report: ErasureReport,
    ) -> None:
        ids = deleted + list(rewritten)
        for reducer in reducers:
            name = reducer.name
            affected: set[str] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                affected.update(
                    row[0]
                    for row in conn.execute(
                        "SELECT DISTINCT key FROM contributions WHERE projection = ?"
                        f" AND statement_id IN ({marks})",
                        [name, *chunk],
                    )
                )
                report.contributions_deleted += conn.execute(
                    f"DELETE FROM contributions WHERE projection = ? AND statement_id IN ({marks})",
                    [name, *chunk],
                ).rowcount
            tx = SQLiteProjection(
                conn,
                name,
                [Contribution(sid, "", {}) for sid in rewritten],
                statements=self._reader(),
            )
            states = rebuild_after_erasure(reducer, tx, deleted, rewritten, affected)
            tx.flush()
            for key, state in states.items():
                conn.execute(
                    "DELETE FROM state_index WHERE projection = ? AND key = ?", (name, key)
                )
                if state is None:
                    report.states_deleted += conn.execute(
                        "DELETE FROM states WHERE projection = ? AND key = ?", (name, key)
                    ).rowcount
                    continue
                report.states_rebuilt += 1
                conn.execute(
                    "INSERT OR REPLACE INTO states(projection, key, state) VALUES (?,?,?)",
                    (name, key, orjson.dumps(state)),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO state_index(projection, field, value, key)"
                    " VALUES (?,?,?,?)",
                    [(name, f, v, key) for f, v in index_rows(reducer, state)],
                )
