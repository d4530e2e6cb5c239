"""Statements, the write path: group commit, one batch insert per request, links decided by
lrs.ops.references (voiding and inherited terms), activity definitions and agent names."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import orjson

from lrs.adapters.sqlite.base import (
    INDEX_AT,
    PendingWrite,
    SQLiteBase,
    pack_terms,
    pieces,
    unpack_terms,
)
from lrs.domain.records import Attachment
from lrs.memory import kept_bytes
from lrs.ops.references import plan_links
from lrs.ops.statements import PreparedBatch, new_statements, prepare_batch
from lrs.ports.statements import LinkNode
from lrs.xapi import statements as xs


class SQLiteStatements(SQLiteBase):
    def save_statements(
        self,
        statements: list[dict[str, Any]],
        *,
        authority: dict[str, Any],
        credential: str,
        version: str,
        attachments: list[Attachment],
    ) -> list[str]:
        """Group commit: concurrent callers share one transaction and one fsync.

        Whoever takes the write lock first commits every request queued so far, each inside
        its own savepoint, so one request's conflict never fails another's statements.
        """
        write = PendingWrite(statements, authority, credential, version, attachments)
        with self._queue_lock:
            self._queue.append(write)
        with self._write_lock:
            if not write.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit_group(group)
        if write.error is not None:
            raise write.error
        return write.ids

    def _commit_group(self, group: list[PendingWrite]) -> None:
        """One transaction for the group; each request in its own savepoint.

        What the requests share is done once for the group, outside their savepoints: the
        term ids of all their statements (a term row of a request refused later is harmless:
        an unused dictionary entry, as after an erasure), and the agent names of those that
        were stored. Single-statement requests arrive as groups of several, and each SQL
        call is a hand-over of the GIL by the one writer every request waits for.
        """
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            stored = self._now_stored()
            self._writing_since = stored
            batches: list[PreparedBatch | Exception] = []
            # Per request: two requests of a group may hold one statement id (a resend), as
            # prepared for different authorities.
            extracted: list[dict[str, list[tuple[int, str]]]] = []
            for write in group:
                try:
                    batch = prepare_batch(
                        write.statements,
                        stored=stored,
                        authority=write.authority,
                        version=write.version,
                    )
                    terms = {
                        s["id"]: [(int(kind), value) for kind, value in xs.index_terms(s)]
                        for s in batch.prepared
                    }
                except Exception as exc:
                    batches.append(exc)
                    extracted.append({})
                else:
                    batches.append(batch)
                    extracted.append(terms)
            term_ids = self._term_ids(
                conn,
                {value for terms in extracted for pairs in terms.values() for _, value in pairs},
            )
            names: list[tuple[str, str]] = []
            for write, prepared, own_terms in zip(group, batches, extracted, strict=True):
                if isinstance(prepared, Exception):
                    write.error = prepared
                    continue
                conn.execute("SAVEPOINT request")
                try:
                    graph = SQLiteGraph(conn)
                    new = new_statements(prepared, graph)
                    own = _OwnTerms({s["id"]: own_terms[s["id"]] for s in new}, term_ids)
                    names += self._insert(conn, graph, new, own, stored, write.credential)
                    for attachment in write.attachments:
                        conn.execute(
                            "INSERT OR IGNORE INTO attachments(sha2, content_type, data)"
                            " VALUES (?,?,?)",
                            (attachment.sha2, attachment.content_type, attachment.data),
                        )
                    write.ids = prepared.ids
                except Exception as exc:
                    conn.execute("ROLLBACK TO request")
                    self._forget_caches()
                    write.error = exc
                conn.execute("RELEASE request")
            self._insert_names(conn, names)
            conn.execute("COMMIT")
            self._last_commit = time.monotonic()
            if self._last_seq - self._indexed_through >= INDEX_AT:
                self._index_wanted.set()
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._forget_caches()
            for write in group:
                write.error = write.error or exc
            if not isinstance(exc, Exception):
                raise
        finally:
            self._writing_since = None
            for write in group:
                write.done = True

    def _insert(
        self,
        conn: sqlite3.Connection,
        graph: SQLiteGraph,
        statements: list[dict[str, Any]],
        own: _OwnTerms,
        stored: str,
        credential: str,
    ) -> list[tuple[str, str]]:
        """Insert a request's new statements in a few multi-row statements; return the agent
        names they bring that are not known yet (`_insert_names` writes the group's).

        Voiding and inherited terms are decided by lrs.ops.references for the whole batch
        (one query for the usual batch, which references nothing); this only writes the
        plan. Few SQL calls also mean few hand-overs of the GIL: the writer thread releases
        it for every SQLite call and then waits to get it back from the threads parsing
        and validating the next requests.
        """
        if not statements:
            return []
        plan = plan_links(statements, own, credential, graph, self._orgs.orgs)
        terms, voided, targets = plan.terms, plan.voided, plan.targets
        linked = bool(voided) or any(target is not None for target in targets.values())
        rows: list[tuple[Any, ...]] = []
        for s in statements:
            sid = s["id"]
            row: tuple[Any, ...] = (sid, stored)
            if linked:  # the usual batch has no link: its rows bind six values, not nine
                target = targets[sid]
                row += (int(sid in voided), int(target is not None and xs.is_voiding(s)), target)
            rows.append(
                row
                + (
                    credential,
                    xs.learner_key(s),
                    pack_terms(terms[sid]),
                    kept_bytes(orjson.dumps(s)),
                )
            )
        values = "(?,?,?,?,?,?,?,?,?)" if linked else "(?,?,0,0,NULL,?,?,?,?)"
        for chunk in pieces(rows):
            cursor = conn.execute(
                "INSERT INTO statements(id, stored, voided, voiding, ref_target, credential,"
                " learner, terms, data) VALUES " + ",".join([values] * len(chunk)),
                [value for row in chunk for value in row],
            )
            self._last_seq = max(self._last_seq, cursor.lastrowid or 0)
        for chunk in pieces(plan.void_stored):
            marks = ",".join("?" * len(chunk))
            conn.execute(
                f"UPDATE statements SET voided = 1 WHERE voiding = 0 AND id IN ({marks})", chunk
            )
        index_rows: list[tuple[int, int, int]] = []
        for sid, added in plan.additions.items():
            node = plan.stored[sid]
            conn.execute(
                "UPDATE statements SET terms = ? WHERE seq = ?",
                (pack_terms(node.terms | added), node.seq),
            )
            # Its own rows may be indexed already: the deferred indexer would not see these.
            index_rows.extend((kind, term, node.seq) for kind, term in added)
        if index_rows:
            conn.executemany(
                "INSERT OR IGNORE INTO statement_index(kind, term, seq) VALUES (?,?,?)",
                index_rows,
            )
        names: list[tuple[str, str]] = []
        known = self._known_names
        for s in statements:
            for activity_id, definition in xs.activity_definitions(s):
                self._merge_activity(conn, activity_id, definition)
            for key, agent in xs.agents_named(s):
                name = agent.get("name")
                if isinstance(name, str) and (key, name) not in known:
                    names.append((key, name))
        return names

    def _insert_names(self, conn: sqlite3.Connection, names: list[tuple[str, str]]) -> None:
        unique = list(dict.fromkeys(names))
        for chunk in pieces(unique):
            conn.execute(
                "INSERT OR IGNORE INTO agent_names(key, name) VALUES "
                + ",".join(["(?,?)"] * len(chunk)),
                [value for pair in chunk for value in pair],
            )
        if len(self._known_names) > 100_000:
            self._known_names.clear()
        self._known_names.update(unique)

    def _term_ids(self, conn: sqlite3.Connection, values: set[str]) -> dict[str, int]:
        """The term id of every value, new ones inserted, in a few statements in all."""
        cache = self._term_cache
        found: dict[str, int] = {}
        missing: list[str] = []
        for value in values:  # one lookup each: the cache is large, its probes miss the CPU cache
            term = cache.get(value)
            if term is None:
                missing.append(value)
            else:
                found[value] = term
        for chunk in pieces(missing):
            marks = ",".join("?" * len(chunk))
            conn.execute(
                "INSERT OR IGNORE INTO terms(value) VALUES " + ",".join(["(?)"] * len(chunk)),
                chunk,
            )
            found.update(
                conn.execute(f"SELECT value, id FROM terms WHERE value IN ({marks})", chunk)
            )
        if missing:
            if len(cache) > 500_000:
                cache.clear()
            cache.update((value, found[value]) for value in missing)
        return found

    def _merge_activity(
        self, conn: sqlite3.Connection, activity_id: str, definition: dict[str, Any]
    ) -> None:
        encoded = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)
        if self._known_definitions.get(activity_id) == encoded:
            return
        row = conn.execute(
            "SELECT definition FROM activities WHERE id = ?", (activity_id,)
        ).fetchone()
        merged = xs.merge_definition(orjson.loads(row[0]) if row else None, definition)
        conn.execute(
            "INSERT OR REPLACE INTO activities(id, definition) VALUES (?,?)",
            (activity_id, orjson.dumps(merged)),
        )
        if len(self._known_definitions) > 100_000:
            self._known_definitions.clear()
        self._known_definitions[activity_id] = kept_bytes(encoded)


class _OwnTerms(Mapping[str, set[tuple[int, int]]]):
    """Each new statement's (kind, term id) pairs, computed when asked for and not kept: a
    batch of 1,000 statements would otherwise hold ~10,000 tuples in sets for the garbage
    collector to walk while the rows are built."""

    def __init__(self, extracted: dict[str, list[tuple[int, str]]], ids: dict[str, int]) -> None:
        self._extracted = extracted
        self._ids = ids

    def __getitem__(self, sid: str) -> set[tuple[int, int]]:
        ids = self._ids
        return {(kind, ids[value]) for kind, value in self._extracted[sid]}

    def __iter__(self) -> Iterator[str]:
        return iter(self._extracted)

    def __len__(self) -> int:
        return len(self._extracted)


class SQLiteGraph:
    """`StatementGraph` on the writer connection, inside the request's transaction."""

    _COLUMNS = "SELECT seq, id, terms, voiding, credential, ref_target FROM statements"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _nodes(self, column: str, ids: Collection[str]) -> list[LinkNode]:
        found: list[LinkNode] = []
        for chunk in pieces(sorted(ids)):
            marks = ",".join("?" * len(chunk))
            for seq, sid, terms, voiding, credential, target in self._conn.execute(
                f"{self._COLUMNS} WHERE {column} IN ({marks})", chunk
            ):
                found.append(
                    LinkNode(
                        sid, frozenset(unpack_terms(terms)), target, bool(voiding), credential, seq
                    )
                )
        return found

    def stored(self, ids: Collection[str]) -> dict[str, LinkNode]:
        return {node.id: node for node in self._nodes("id", ids)} if ids else {}

    def referrers(self, ids: Collection[str]) -> list[LinkNode]:
        return self._nodes("ref_target", ids) if ids else []

    def contents(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        every = list(ids)
        for start in range(0, len(every), 500):  # one query for a usual batch
            chunk = every[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for sid, data in self._conn.execute(
                f"SELECT id, data FROM statements WHERE id IN ({marks})", chunk
            ):
                found[sid] = orjson.loads(data)
        return found
