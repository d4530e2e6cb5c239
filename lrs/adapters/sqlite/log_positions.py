"""Log positions are never handed out twice: the statements table's `seq` is AUTOINCREMENT.

A plain INTEGER PRIMARY KEY gives a new row max(seq) + 1, so after an erasure or a retention
run deleted the newest statements, the next statement took a position that every consumer
(the processors' offsets, the outbox relay's published mark, forwarding rules, the stored
tally, the deferred index) had already passed: acknowledged, yet never folded, published,
forwarded, counted or indexed. AUTOINCREMENT is SQLite's documented promise never to reuse a
rowid (sqlite.org/autoinc.html).

Files made before that promise are rebuilt once when they open, and their sequence starts
past every position a consumer ever recorded, which covers statements erased before the
upgrade too.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from pathlib import Path

# Log positions past which a rebuild says what it does on stderr (about 7 s on this machine:
# benchmarks/README.md, "Figures behind the SQLite adapter").
ANNOUNCE_POSITIONS = 200_000

_PLAIN_KEY = re.compile(r"\bseq\s+INTEGER\s+PRIMARY\s+KEY\b(?!\s+AUTOINCREMENT)", re.IGNORECASE)
_TABLE_NAME = re.compile(
    r"^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?[\"`\[]?statements[\"`\]]?", re.IGNORECASE
)


def _statements_ddl(conn: sqlite3.Connection) -> str:
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'statements'"
    ).fetchone()
    return str(row[0])


def never_reuse_positions(conn: sqlite3.Connection, projections: Path) -> None:
    """Rebuild an older statements table with AUTOINCREMENT, in one transaction.

    The table is recreated from its own definition (so columns added since are kept) with
    `seq` made AUTOINCREMENT, its rows copied in `seq` order, and its indexes recreated; a
    crash leaves the old table as it was.
    """
    if not _PLAIN_KEY.search(_statements_ddl(conn)):
        return
    conn.execute("BEGIN IMMEDIATE")
    progress: _Progress | None = None
    try:
        ddl = _statements_ddl(conn)  # another process may have upgraded it meanwhile
        if _PLAIN_KEY.search(ddl):
            (positions,) = conn.execute("SELECT coalesce(max(seq), 0) FROM statements").fetchone()
            progress = _Progress(conn, positions)
            _rebuild(conn, ddl, projections, progress)
            progress.step("committing")
    except BaseException:
        if progress is not None:
            progress.done("not upgraded: the table is as it was")
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if progress is not None:
        progress.done("upgraded")


class _Progress:
    """What a long upgrade is doing, on stderr, so that whoever waits for `lrs serve` to
    start sees it working: each step as it starts, and every 10 s within one."""

    def __init__(self, conn: sqlite3.Connection, positions: int) -> None:
        self.conn, self.shown = conn, positions >= ANNOUNCE_POSITIONS
        self.started = self.ticked = time.monotonic()
        self.doing = ""
        if self.shown:
            self._say(
                f"upgrading the statements table ({positions:,} log positions) so that erased"
                " statements' positions are never handed out again; once, at open"
            )
            conn.set_progress_handler(self._tick, 100_000)

    def _say(self, line: str) -> None:
        print(f"lrs: {line}", file=sys.stderr, flush=True)

    def _tick(self) -> int:
        now = time.monotonic()
        if now - self.ticked >= 10:
            self.ticked = now
            self._say(f"  still {self.doing} ({now - self.started:.0f} s)")
        return 0  # never interrupt

    def step(self, doing: str) -> None:
        self.doing, self.ticked = doing, time.monotonic()
        if self.shown:
            self._say(f"  {doing} ({time.monotonic() - self.started:.0f} s)")

    def done(self, outcome: str) -> None:
        if self.shown:
            self.conn.set_progress_handler(None, 0)
            self._say(f"{outcome} ({time.monotonic() - self.started:.1f} s)")


def _rebuild(conn: sqlite3.Connection, ddl: str, projections: Path, progress: _Progress) -> None:
    indexes = [
        sql
        for (sql,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'statements'"
            " AND sql IS NOT NULL"
        )
    ]
    new = _TABLE_NAME.sub(
        "CREATE TABLE statements_upgrade",
        _PLAIN_KEY.sub("seq INTEGER PRIMARY KEY AUTOINCREMENT", ddl, count=1),
        count=1,
    )
    conn.execute(new)
    progress.step("copying the statements")
    # Same columns in the same order: SQLite copies the records without decoding them.
    conn.execute("INSERT INTO statements_upgrade SELECT * FROM statements")
    progress.step("dropping the old table")
    conn.execute("DROP TABLE statements")
    conn.execute("ALTER TABLE statements_upgrade RENAME TO statements")
    progress.step("indexing")
    for sql in indexes:
        conn.execute(sql)
    high = max(_recorded_positions(conn, projections))
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'statements'")
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('statements', ?)", (high,))


def _recorded_positions(conn: sqlite3.Connection, projections: Path) -> list[int]:
    """Every log position this store may have handed out: the newest statement, the deferred
    index's mark, and every consumer's offset (the processors', the outbox relay's, the
    stored tally's, forwarding rules' and their dead letters')."""
    positions = [
        conn.execute("SELECT coalesce(max(seq), 0) FROM statements").fetchone()[0],
        *(row[0] for row in conn.execute("SELECT through FROM index_progress")),
    ]
    if not projections.exists():
        return positions
    other = sqlite3.connect(projections)
    try:
        tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master")}
        for table in ("offsets", "forward_state", "forward_dead"):
            if table in tables:
                positions.append(
                    other.execute(f"SELECT coalesce(max(position), 0) FROM {table}").fetchone()[0]
                )
    finally:
        other.close()
    return positions
