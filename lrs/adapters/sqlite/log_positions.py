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

# Statements a rebuild copies before it says so on stderr (about 3 s on this machine:
# benchmarks/README.md, "Figures behind the SQLite adapter").
ANNOUNCE_ROWS = 200_000

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
    try:
        ddl = _statements_ddl(conn)  # another process may have upgraded it meanwhile
        if _PLAIN_KEY.search(ddl):
            _rebuild(conn, ddl, projections)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _rebuild(conn: sqlite3.Connection, ddl: str, projections: Path) -> None:
    rows = conn.execute("SELECT count(*) FROM statements").fetchone()[0]
    started = time.monotonic()
    if rows >= ANNOUNCE_ROWS:
        print(
            f"lrs: upgrading {rows:,} statements so that erased statements' log positions are"
            " never reused (once, at open)...",
            file=sys.stderr,
            flush=True,
        )
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
    # Same columns in the same order: SQLite copies the records without decoding them.
    conn.execute("INSERT INTO statements_upgrade SELECT * FROM statements")
    conn.execute("DROP TABLE statements")
    conn.execute("ALTER TABLE statements_upgrade RENAME TO statements")
    for sql in indexes:
        conn.execute(sql)
    high = max(_recorded_positions(conn, projections))
    conn.execute("DELETE FROM sqlite_sequence WHERE name = 'statements'")
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('statements', ?)", (high,))
    if rows >= ANNOUNCE_ROWS:
        print(f"lrs: upgraded in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


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
