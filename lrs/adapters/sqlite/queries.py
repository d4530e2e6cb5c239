"""Statements, the read path: single statements, filtered queries (index plus unindexed
tail), learner histories, attachments, activities and agent names."""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from lrs.adapters.sqlite.base import SQLiteBase, term_needles
from lrs.domain.queries import history_terms, in_course, query_terms
from lrs.domain.records import (
    Attachment,
    HistoryPage,
    HistoryQuery,
    HistoryRecord,
    StatementPage,
    StatementQuery,
)
from lrs.domain.times import format_stored, parse_stored
from lrs.xapi import statements as xs


class SQLiteStatementReads(SQLiteBase):
    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None:
        row = (
            self._reader()
            .execute(
                "SELECT data FROM statements WHERE id = ? AND voided = ?",
                (statement_id.lower(), int(voided)),
            )
            .fetchone()
        )
        return None if row is None else row[0]

    def query_statements(self, query: StatementQuery) -> StatementPage:
        conn = self._reader()
        # One read transaction: the index, its progress mark and the tail from one snapshot.
        conn.execute("BEGIN")
        try:
            return self._query_statements(conn, query)
        finally:
            conn.execute("COMMIT")

    def _query_statements(self, conn: sqlite3.Connection, query: StatementQuery) -> StatementPage:
        resolved: list[tuple[int, int]] = []
        for kind, value in query_terms(query):  # most selective first: resolved[0] drives
            term = self._lookup_term(conn, value)
            if term is None:
                return StatementPage([], None)
            resolved.append((int(kind), term))

        low, high = self._seq_bounds(conn, query)
        if query.cursor is not None:
            if query.ascending:
                low = max(low, query.cursor + 1)
            else:
                high = min(high, query.cursor - 1)
        limit = query.limit + 1
        where = ["s.voided = 0"]
        where_params: list[Any] = []
        if query.authority is not None:
            where.append("s.credential = ?")
            where_params.append(query.authority)
        visible_sql, visible_params = credential_filter(
            query.credentials, query.exclude_credentials
        )
        if visible_sql:
            where.append(visible_sql)
            where_params += visible_params
        filters = _Filters(" AND ".join(where), where_params, query.ascending, resolved)
        if resolved:
            through = conn.execute("SELECT through FROM index_progress").fetchone()[0]
            parts = [(low, min(high, through), True), (max(low, through + 1), high, False)]
            if not query.ascending:
                parts.reverse()
            rows: list[tuple[int, bytes]] = []
            for part_low, part_high, indexed in parts:
                if len(rows) < limit and part_low <= part_high:
                    search = _indexed_rows if indexed else _tail_rows
                    rows += search(conn, filters, part_low, part_high, limit - len(rows))
        else:
            rows = _tail_rows(conn, filters, low, high, limit)
        if len(rows) > query.limit:
            rows = rows[: query.limit]
            return StatementPage([r[1] for r in rows], rows[-1][0])
        return StatementPage([r[1] for r in rows], None)

    def _seq_bounds(
        self, conn: sqlite3.Connection, query: StatementQuery | HistoryQuery
    ) -> tuple[int, int]:
        low, high = 0, 2**62
        if query.since is not None:
            row = conn.execute(
                "SELECT seq FROM statements WHERE stored > ? ORDER BY stored, seq LIMIT 1",
                (query.since,),
            ).fetchone()
            low = row[0] if row else 2**62
        if query.until is not None:
            row = conn.execute(
                "SELECT seq FROM statements WHERE stored <= ? ORDER BY stored DESC, seq DESC LIMIT 1",
                (query.until,),
            ).fetchone()
            high = row[0] if row else -1
        return low, high

    def statement_history(self, query: HistoryQuery) -> HistoryPage:
        """Driven by each learner key's AGENT index range (in seq order, so a page reads
        about a page of rows however long the history), merged when a person has several;
        statements the deferred index has not reached yet are matched on their own terms."""
        conn = self._reader()
        conn.execute("BEGIN")  # the index, its progress mark and the tail from one snapshot
        try:
            return self._statement_history(conn, query)
        finally:
            conn.execute("COMMIT")

    def _statement_history(self, conn: sqlite3.Connection, query: HistoryQuery) -> HistoryPage:
        learners = [
            term
            for key in dict.fromkeys(query.learners)
            if (term := self._lookup_term(conn, key)) is not None
        ]
        if not learners:
            return HistoryPage([], None)
        extra: list[tuple[int, int]] = []
        for kind, value in history_terms(query):
            term = self._lookup_term(conn, value)
            if term is None:
                return HistoryPage([], None)
            extra.append((int(kind), term))
        low, high = self._seq_bounds(conn, query)
        low = max(low, query.after + 1)
        visible_sql, visible_params = credential_filter(
            query.credentials, query.exclude_credentials
        )
        filters = [  # voided statements too: the history is the complete record
            _Filters(visible_sql or "1", visible_params, True, [(int(xs.Term.AGENT), t), *extra])
            for t in learners
        ]
        through = conn.execute("SELECT through FROM index_progress").fetchone()[0]
        records: list[HistoryRecord] = []
        chunk = query.limit + 1
        while low <= high:
            rows = history_rows(conn, filters, through, low, high, chunk)
            for seq, data in rows:
                if query.course is not None and not in_course(orjson.loads(data), query.course):
                    continue
                if len(records) == query.limit:
                    return HistoryPage(records, records[-1].seq)
                records.append(self._history_record(conn, seq, data))
            if len(rows) < chunk:
                break
            low = rows[-1][0] + 1
        return HistoryPage(records, None)

    def _history_record(self, conn: sqlite3.Connection, seq: int, data: bytes) -> HistoryRecord:
        stored, credential, voided = conn.execute(
            "SELECT stored, credential, voided FROM statements WHERE seq = ?", (seq,)
        ).fetchone()
        return HistoryRecord(seq, stored, credential, bool(voided), bytes(data))

    def get_attachments(self, sha2s: list[str]) -> list[Attachment]:
        if not sha2s:
            return []
        marks = ",".join("?" * len(sha2s))
        rows = self._reader().execute(
            f"SELECT sha2, content_type, data FROM attachments WHERE sha2 IN ({marks})", sha2s
        )
        return [Attachment(sha2, content_type, bytes(data)) for sha2, content_type, data in rows]

    def consistent_through(self) -> str:
        writing = self._writing_since
        now = datetime.now(UTC)
        if writing is not None:
            return format_stored(parse_stored(writing) - timedelta(milliseconds=1))
        return format_stored(now)

    def get_activity(self, activity_id: str) -> dict[str, Any] | None:
        row = (
            self._reader()
            .execute("SELECT definition FROM activities WHERE id = ?", (activity_id,))
            .fetchone()
        )
        return None if row is None else orjson.loads(row[0])

    def get_agent_names(self, key: str) -> list[str]:
        rows = self._reader().execute("SELECT name FROM agent_names WHERE key = ?", (key,))
        return [r[0] for r in rows]


def history_rows(
    conn: sqlite3.Connection,
    filters: list[_Filters],
    through: int,
    low: int,
    high: int,
    limit: int,
) -> list[tuple[int, bytes]]:
    """Up to `limit` rows in seq order matching any learner's filters, each row once: per
    learner, the indexed part then the tail (as `_query_statements` reads them), merged."""
    runs: list[list[tuple[int, bytes]]] = []
    for one in filters:
        rows: list[tuple[int, bytes]] = []
        for part_low, part_high, indexed in (
            (low, min(high, through), True),
            (max(low, through + 1), high, False),
        ):
            if len(rows) < limit and part_low <= part_high:
                search = _indexed_rows if indexed else _tail_rows
                rows += search(conn, one, part_low, part_high, limit - len(rows))
        runs.append(rows)
    if len(runs) == 1:
        return runs[0]
    merged: list[tuple[int, bytes]] = []
    for row in heapq.merge(*runs, key=lambda r: r[0]):
        if not merged or merged[-1][0] != row[0]:  # actor under one key, object under another
            merged.append(row)
    return merged[:limit]


def credential_filter(credentials: list[str] | None, exclude: bool) -> tuple[str, list[Any]]:
    """The SQL condition on `s.credential` that keeps what an organisation may see."""
    if credentials is None or (exclude and not credentials):
        return "", []
    if not credentials:
        return "0", []  # only the statements of no credential: nothing
    marks = ",".join("?" * len(credentials))
    return f"s.credential {'NOT IN' if exclude else 'IN'} ({marks})", list(credentials)


@dataclass(frozen=True)
class _Filters:
    """What a statement query asks of a row besides its seq range."""

    where: str  # on the statements row `s`
    params: list[Any]
    ascending: bool
    terms: list[tuple[int, int]]  # (kind, term id), the most selective first

    @property
    def order(self) -> str:
        return "ASC" if self.ascending else "DESC"


def _indexed_rows(
    conn: sqlite3.Connection, filters: _Filters, low: int, high: int, limit: int
) -> list[tuple[int, bytes]]:
    kind, term = filters.terms[0]
    sql = (
        "SELECT s.seq, s.data FROM statement_index d JOIN statements s ON s.seq = d.seq"
        " WHERE d.kind = ? AND d.term = ? AND d.seq BETWEEN ? AND ?"
    )
    params: list[Any] = [kind, term, low, high]
    for kind, term in filters.terms[1:]:
        sql += (
            " AND EXISTS (SELECT 1 FROM statement_index x"
            " WHERE x.kind = ? AND x.term = ? AND x.seq = d.seq)"
        )
        params += [kind, term]
    sql += f" AND {filters.where} ORDER BY d.seq {filters.order} LIMIT ?"
    return conn.execute(sql, [*params, *filters.params, limit]).fetchall()


def _tail_rows(
    conn: sqlite3.Connection, filters: _Filters, low: int, high: int, limit: int
) -> list[tuple[int, bytes]]:
    """Statements by seq range, matched on the term list each one carries (not the index):
    the not-yet-indexed tail, or every statement when the query names no term."""
    sql = "SELECT s.seq, s.data FROM statements s WHERE s.seq BETWEEN ? AND ?"
    params: list[Any] = [low, high]
    for kind, term in filters.terms:
        # Exact in either encoding of a row's term list (lrs.adapters.sqlite.base.pack_terms).
        sql += " AND (instr(s.terms, ?) > 0 OR instr(s.terms, ?) > 0)"
        params += term_needles(kind, term)
    sql += f" AND {filters.where} ORDER BY s.seq {filters.order} LIMIT ?"
    return conn.execute(sql, [*params, *filters.params, limit]).fetchall()
