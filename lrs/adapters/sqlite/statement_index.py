"""The deferred statement index: the tail of the log is indexed in bulk, in key order, when
it is long enough or when ingest pauses; until then queries read the short tail directly."""

from __future__ import annotations

import sqlite3
import time

from lrs.adapters.sqlite.base import INDEX_AT, INDEX_CHUNK, SQLiteBase
from lrs.adapters.sqlite.schema import INDEX_TERMS


class SQLiteStatementIndex(SQLiteBase):
    def _index_when_idle(self) -> None:
        """Index the tail of the log when it is long enough, or when ingest pauses.

        Writing every statement's ~10 index rows in the request's own commit dirtied about one
        random index page per row, so each commit wrote megabytes; indexed in bulk and in key
        order, many rows share a page. Until then queries read the short tail directly.
        """
        while not self._closed.is_set():
            wanted = self._index_wanted.wait(timeout=1.0)
            self._index_wanted.clear()
            if self._closed.is_set():
                return
            idle = time.monotonic() - self._last_commit >= 1.0
            if self._last_seq > self._indexed_through and (wanted or idle):
                try:
                    self._index_tail()
                except sqlite3.Error:
                    # e.g. a full disk: the statements are stored and the tail stays
                    # searchable; indexing is retried on the next turn.
                    pass

    def index_now(self) -> None:
        """Index the whole tail at once (tests, and before a benchmark's queries)."""
        while self._last_seq > self._indexed_through:
            before = self._indexed_through
            self._index_tail()
            if self._indexed_through == before:
                return

    def _index_tail(self) -> None:
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process on the same file (the processors' child, `lrs connect`)
                # may have indexed further: start from the mark, never move it back.
                self._indexed_through = max(
                    self._indexed_through,
                    conn.execute("SELECT through FROM index_progress").fetchone()[0],
                )
                through = conn.execute(
                    "SELECT max(seq) FROM (SELECT seq FROM statements WHERE seq > ?"
                    " ORDER BY seq LIMIT ?)",
                    (self._indexed_through, INDEX_CHUNK),
                ).fetchone()[0]
                if through is not None:
                    # All in SQL (JSON1 reads each row's term list; its sorter orders the
                    # rows by index key): no Python per row, and the GIL stays free for
                    # the requests being answered meanwhile.
                    conn.execute(INDEX_TERMS, (self._indexed_through, through))
                    conn.execute("UPDATE index_progress SET through = max(through, ?)", (through,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if through is not None:
                self._indexed_through = through
            if self._last_seq - self._indexed_through >= INDEX_AT:
                self._index_wanted.set()


def indexed_through(conn: sqlite3.Connection) -> int | None:
    """Where the deferred statement index stands (None: every statement is indexed)."""
    try:
        row = conn.execute("SELECT through FROM index_progress").fetchone()
    except sqlite3.OperationalError:  # a store without a deferred index
        return None
    return 0 if row is None else int(row[0])
