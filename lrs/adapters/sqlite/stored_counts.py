"""The stored-counts port on SQLite: the tally lives in the projections file beside the
processors' offsets (its own write lock: counting never holds up the statement writer), its
mark an offset moved in the same transaction as the counts.

One writer commits statements in seq order, so every seq up to the largest one a reader
sees has committed: that largest seq is the settled end of the log."""

from __future__ import annotations

from lrs.adapters.sqlite.base import SQLiteBase
from lrs.adapters.sqlite.log import move_offset

TALLY = "tally:stored"  # the mark, in the offsets table


class SQLiteStoredCounts(SQLiteBase):
    def tally_stored(self, limit: int) -> int:
        mark = self.tallied_through()
        reader = self._reader()
        end = reader.execute("SELECT max(seq) FROM statements").fetchone()[0] or 0
        through = min(end, mark + limit)
        if through <= mark:
            return 0
        counted = reader.execute(
            "SELECT credential, count(*) FROM statements WHERE seq > ? AND seq <= ?"
            " GROUP BY credential",
            (mark, through),
        ).fetchall()
        with self._projection_transaction() as conn:
            row = conn.execute("SELECT position FROM offsets WHERE name = ?", (TALLY,)).fetchone()
            if (0 if row is None else row[0]) != mark:
                return 0  # another process counted this range meanwhile
            conn.executemany(
                "INSERT INTO stored_tally(credential, n) VALUES (?, ?)"
                " ON CONFLICT(credential) DO UPDATE SET n = n + excluded.n",
                counted,
            )
            move_offset(conn, TALLY, through)
        return through - mark

    def stored_counts(self) -> dict[str, int]:
        rows = self._projection_reader().execute("SELECT credential, n FROM stored_tally")
        return {credential: int(n) for credential, n in rows}

    def tallied_through(self) -> int:
        row = (
            self._projection_reader()
            .execute("SELECT position FROM offsets WHERE name = ?", (TALLY,))
            .fetchone()
        )
        return 0 if row is None else int(row[0])
