"""The one-off upgrade of a statements table to AUTOINCREMENT (lrs/adapters/sqlite/log_positions.py)
on a store of --n statements: wall and CPU seconds.

    python benchmarks/upgrade_log_positions.py [--n 1000000] [--distinct 20000]

--distinct generated statements (~1 KB each, as bench_lrs.py sends) are stored through the
store, then copied under new ids up to --n rows; the table is rebuilt as releases before the
upgrade made it (`seq INTEGER PRIMARY KEY`), and the upgrade is timed as `SQLiteStore` runs it
when it opens the file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import statements as gen

from lrs.adapters.sqlite import SQLiteStore
from lrs.adapters.sqlite.log_positions import never_reuse_positions

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "bench"}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lrs-upgrade-"))
    try:
        path = work / "lrs.db"
        store = SQLiteStore(path, synchronous="OFF")
        population = gen.Population.for_statements(args.n)
        for start in range(0, args.distinct, 500):
            batch = list(gen.statements(start, min(start + 500, args.distinct), population))
            store.save_statements(
                batch, authority=AUTHORITY, credential="bench", version="1.0.3", attachments=[]
            )
        store.close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        columns = [row[1] for row in conn.execute("PRAGMA table_info(statements)")]
        copied = ", ".join("id || '-' || k" if c == "id" else c for c in columns if c != "seq")
        conn.execute("BEGIN")
        for k in range(1, -(-args.n // args.distinct)):
            conn.execute(
                f"INSERT INTO statements({', '.join(c for c in columns if c != 'seq')})"
                f" SELECT {copied}"
                f" FROM (SELECT *, {k} AS k FROM statements WHERE seq <= ?) LIMIT ?",
                (args.distinct, args.n - k * args.distinct),
            )
        conn.execute("COMMIT")
        (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'statements'").fetchone()
        indexes = [s for (s,) in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'statements'"
            " AND sql IS NOT NULL")]  # fmt: skip
        conn.execute("BEGIN")
        conn.execute(ddl.replace(" AUTOINCREMENT", "").replace("TABLE statements", "TABLE old"))
        conn.execute("INSERT INTO old SELECT * FROM statements")
        conn.execute("DROP TABLE statements")
        conn.execute("ALTER TABLE old RENAME TO statements")
        for sql in indexes:
            conn.execute(sql)
        conn.execute("DELETE FROM sqlite_sequence")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute("SELECT count(*) FROM statements").fetchone()[0]
        conn.close()
        size = os.path.getsize(path) / 2**20
        print(f"old-format store: {rows:,} statements, {size:,.0f} MiB; load {os.getloadavg()}")

        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA cache_size=-65536")  # as SQLiteStore's writer
        wall0, cpu0 = time.perf_counter(), time.process_time()
        never_reuse_positions(conn, work / "lrs-projections.db")
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        conn.close()
        print(f"upgrade of {rows:,} statements: {wall:.1f} s wall, {cpu:.1f} s CPU; "
              f"load {os.getloadavg()}")  # fmt: skip
        wall0 = time.perf_counter()
        SQLiteStore(path).close()  # opens as usual afterwards: nothing left to do
        print(f"next open: {time.perf_counter() - wall0:.2f} s wall")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
