"""The erasure port on SQLite: the primitives lrs.ops.erasure and lrs.ops.retention use.

Every primitive that deletes runs with `secure_delete` on, so freed pages are overwritten,
and `purge_erased` checkpoints the WALs, so the erased bytes do not linger in the files
(readers holding old snapshots can delay the checkpoint). Pragmas and checkpoints run under
each file's write lock: the writer connections are shared with the group commit and the
processors.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase, pack_terms, pieces, term_needles, unpack_terms
from lrs.adapters.sqlite.projections import SQLiteProjection, index_rows
from lrs.adapters.sqlite.statement_index import indexed_through
from lrs.domain.records import Contribution, ErasureReport
from lrs.ops.projections import rebuild_after_erasure
from lrs.ports.erasure import REDACTIONS_OWED, DocumentRef, Redaction
from lrs.xapi import statements as xs
from lrs.xapi.redaction import FILED_UNDER


def _marks(items: Any) -> str:
    return ",".join("?" * len(items))


class SQLiteErasure(SQLiteBase):
    @contextmanager
    def _secure(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("PRAGMA secure_delete=ON")
        try:
            yield conn
        finally:
            conn.execute("PRAGMA secure_delete=OFF")

    def _erased_term_ids(self, conn: sqlite3.Connection, keys: list[str]) -> set[int]:
        if not keys:
            return set()
        rows = conn.execute(f"SELECT id FROM terms WHERE value IN ({_marks(keys)})", keys)
        return {row[0] for row in rows}

    def _naming(self, conn: sqlite3.Connection, term_ids: list[int], limit: int) -> list[int]:
        """The seqs of up to `limit` statements indexed under one of `term_ids` as agent or
        related agent, oldest first: the index, and the tail the deferred index has not
        reached yet (read from each statement's `terms`)."""
        if not term_ids:
            return []
        kinds = [int(kind) for kind in FILED_UNDER]
        seqs = {
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT seq FROM statement_index WHERE kind IN ({_marks(kinds)})"
                f" AND term IN ({_marks(term_ids)}) ORDER BY seq LIMIT ?",
                [*kinds, *term_ids, limit],
            )
        }
        through = indexed_through(conn)
        if through is not None:  # the tail the deferred index has not reached yet
            patterns = [
                needle for kind in kinds for term in term_ids for needle in term_needles(kind, term)
            ]
            seqs |= {
                row[0]
                for row in conn.execute(
                    "SELECT seq FROM statements WHERE seq > ? AND ("
                    + " OR ".join(["instr(terms, ?) > 0"] * len(patterns))
                    + ") ORDER BY seq LIMIT ?",
                    [through, *patterns, limit],
                )
            }
        return sorted(seqs)[:limit]

    def statements_naming(self, keys: list[str], limit: int) -> list[dict[str, Any]]:
        conn = self._reader()
        chosen = self._naming(conn, sorted(self._erased_term_ids(conn, keys)), limit)
        found: list[dict[str, Any]] = []
        for part in pieces(chosen):
            rows = conn.execute(
                f"SELECT data FROM statements WHERE seq IN ({_marks(part)}) ORDER BY seq", part
            )
            found += [orjson.loads(row[0]) for row in rows]
        return found

    def redact_statements(self, keys: list[str], redaction: Redaction) -> tuple[int, int]:
        deleted = set(redaction.deleted)
        counts = [0, 0]
        try:
            with self._transaction() as conn, self._secure(conn):
                term_ids = self._erased_term_ids(conn, keys)
                through = indexed_through(conn)
                for sid in [*redaction.deleted, *redaction.rewritten, *redaction.untouched]:
                    row = conn.execute(
                        "SELECT seq, terms FROM statements WHERE id = ?", (sid,)
                    ).fetchone()
                    if row is None:
                        continue
                    seq, packed = row[0], unpack_terms(row[1])
                    conn.executemany(
                        "DELETE FROM statement_index WHERE kind = ? AND term = ? AND seq = ?",
                        [(kind, term, seq) for kind, term in packed],
                    )
                    if sid in deleted:
                        conn.execute("DELETE FROM statements WHERE seq = ?", (seq,))
                        counts[0] += 1
                        continue
                    terms = {(k, t) for k, t in packed if t not in term_ids}
                    kept = redaction.rewritten.get(sid)
                    if kept is not None:
                        counts[1] += 1
                        terms |= {
                            (int(kind), self._term_id(conn, value))
                            for kind, value in xs.index_terms(kept)
                        }
                        conn.execute(
                            "UPDATE statements SET terms = ?, data = ?, learner = ? WHERE seq = ?",
                            (pack_terms(terms), orjson.dumps(kept), xs.learner_key(kept), seq),
                        )
                    else:
                        conn.execute(
                            "UPDATE statements SET terms = ? WHERE seq = ?",
                            (pack_terms(terms), seq),
                        )
                    if through is None or seq <= through:  # else the indexer reads `terms`
                        conn.executemany(
                            "INSERT OR IGNORE INTO statement_index(kind, term, seq) VALUES (?,?,?)",
                            [(kind, term, seq) for kind, term in terms],
                        )
                conn.execute(
                    "INSERT OR REPLACE INTO definitions(kind, id, data) VALUES (?,?,?)",
                    (REDACTIONS_OWED, redaction.id, orjson.dumps(redaction.owed())),
                )
        finally:
            # cached term ids may name terms this erasure will delete
            self._forget_caches()
        return counts[0], counts[1]

    def redactions_owed(self) -> list[Redaction]:
        rows = self._reader().execute(
            "SELECT data FROM definitions WHERE kind = ? ORDER BY id", (REDACTIONS_OWED,)
        )
        return [Redaction.from_owed(orjson.loads(row[0])) for row in rows]

    def settle_redactions(self, ids: list[str]) -> None:
        """Securely: a retention run's records name agent keys (`Redaction.names`)."""
        with self._transaction() as conn, self._secure(conn):
            for part in pieces(ids):
                conn.execute(
                    f"DELETE FROM definitions WHERE kind = ? AND id IN ({_marks(part)})",
                    [REDACTIONS_OWED, *part],
                )

    def erase_from_projection(
        self, reducer: Any, deleted: list[str], rewritten: dict[str, dict[str, Any]]
    ) -> ErasureReport:
        name = reducer.name
        report = ErasureReport()
        with self._projection_transaction() as conn, self._secure(conn):
            affected: set[str] = set()
            for chunk in pieces(deleted + list(rewritten)):
                selector = f"projection = ? AND statement_id IN ({_marks(chunk)})"
                affected.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT DISTINCT key FROM contributions WHERE {selector}", [name, *chunk]
                    )
                )
                report.contributions_deleted += conn.execute(
                    f"DELETE FROM contributions WHERE {selector}", [name, *chunk]
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
        return report

    def delete_unused_attachments(self, sha2s: list[str], besides: Iterable[str] = ()) -> int:
        removed = 0
        if not sha2s:
            return removed
        aside = set(besides)
        with self._transaction() as conn, self._secure(conn):
            for sha2 in sorted(set(sha2s)):
                # No index says which statements use an attachment: look for its hash.
                users = conn.execute(
                    "SELECT id FROM statements WHERE instr(data, ?) > 0", (sha2.encode(),)
                )
                if not any(row[0] not in aside for row in users):
                    removed += conn.execute(
                        "DELETE FROM attachments WHERE sha2 = ?", (sha2,)
                    ).rowcount
        return removed

    def documents_naming(self, kinds: tuple[str, ...], key: str) -> list[DocumentRef]:
        rows = self._reader().execute(
            f"SELECT kind, scope, doc_id FROM documents WHERE kind IN ({_marks(kinds)})"
            " AND instr(scope, ?) > 0",
            (*kinds, key),
        )
        return [DocumentRef(kind, scope, doc_id) for kind, scope, doc_id in rows]

    def erase_documents(self, documents: list[DocumentRef]) -> int:
        removed = 0
        if not documents:
            return removed
        with self._transaction() as conn, self._secure(conn):
            for doc in documents:
                removed += conn.execute(
                    "DELETE FROM documents WHERE kind = ? AND scope = ? AND doc_id = ?"
                    " AND (? IS NULL OR updated = ?)",
                    (doc.kind, doc.scope, doc.doc_id, doc.updated, doc.updated),
                ).rowcount
        return removed

    def forget_keys(self, keys: list[str], *, unless_named: bool = False) -> tuple[int, int]:
        """Also the keys' rows in `terms` (no statement index entry names them any more),
        but not `unless_named`: another process's statement writer (`lrs serve` while the
        processors' child or `lrs retention run` retires) caches term ids, and would index
        new statements under a deleted one."""
        try:
            with self._transaction() as conn, self._secure(conn):
                if unless_named:
                    unused = [
                        key
                        for key in keys
                        if not self._naming(conn, sorted(self._erased_term_ids(conn, [key])), 1)
                    ]
                    names = 0
                    for part in pieces(unused):
                        names += conn.execute(
                            f"DELETE FROM agent_names WHERE key IN ({_marks(part)})", part
                        ).rowcount
                    return names, 0
                names = conn.execute(
                    f"DELETE FROM agent_names WHERE key IN ({_marks(keys)})", keys
                ).rowcount
                links = conn.execute(
                    f"DELETE FROM identity_links WHERE key IN ({_marks(keys)})", keys
                ).rowcount
                conn.execute(f"DELETE FROM terms WHERE value IN ({_marks(keys)})", keys)
        finally:
            self._forget_caches()  # cached term ids and names may name deleted ones
        return names, links

    def purge_erased(self) -> None:
        with self._write_lock:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._projection_lock:
            self._projection_writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
