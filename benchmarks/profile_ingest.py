"""The embedded write path alone, in this process, one thread: CPU per statement by stage.

    python benchmarks/profile_ingest.py [--n 50000] [--batch 100] [--profile out.prof]

What an `lrs serve` request does with a POSTed body, without HTTP: `parse_limited_json`,
`complete_batch` (validation, attachments, 2.0 normalisation) and `store_batch` (voiding
check, `SQLiteStore.save_statements` with `synchronous=FULL`), on the same generated
statements as bench_lrs.py. Each stage is timed in CPU seconds of this process (so figures
stay comparable on a busy machine) and wall seconds (the fsyncs show there), and the floor a
plain `sqlite3` executemany of the same rows into one table reaches is printed beside it.
The tally /metrics makes of them (statements stored per organisation) is timed apart: it is
paid when /metrics is read, not by the write path.

`--wal-pages` then stores 20 more batches and prints which B-trees the 4 KiB pages of each
commit belong to (read from the WAL's frame headers, named by SQLite's dbstat): the fsync's
CPU follows the pages a commit writes, most of them random pages of unique indexes.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import shutil
import sqlite3
import struct
import tempfile
import time
from pathlib import Path

import orjson
import statements as gen

from lrs.adapters.sqlite import SQLiteStore
from lrs.api.limits import parse_limited_json
from lrs.config import Settings
from lrs.domain.records import Credential
from lrs.ops.ingest import Writer, complete_batch, store_batch
from lrs.ops.stored_counts import TALLY_STEP

VERSION = "1.0.3"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000, help="statements to store")
    parser.add_argument("--batch", type=int, default=100, help="statements per request")
    parser.add_argument("--population", type=int, default=1_000_000,
                        help="size the learners/courses as for a store of this many")  # fmt: skip
    parser.add_argument("--profile", help="write a cProfile of the whole loop here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wal-pages", action="store_true",
                        help="then print the pages per commit by B-tree, over 20 more batches")  # fmt: skip
    args = parser.parse_args()

    population = gen.Population.for_statements(args.population)
    bodies = [gen.batch_body(i, args.batch, population, args.seed) for i in range(0, args.n, args.batch)]
    settings = Settings()
    writer = Writer(
        Credential(key="bench", name="bench", scopes=("statements/write",)),
        {"objectType": "Agent", "account": {"homePage": "http://lrs.example", "name": "bench"}},
    )
    work = Path(tempfile.mkdtemp(prefix="lrs-profile-ingest-"))
    try:
        store = SQLiteStore(work / "lrs.db")
        stages = {"parse": 0.0, "complete": 0.0, "store": 0.0}
        wall_store = 0.0
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for body in bodies:
            c0 = time.process_time()
            value = parse_limited_json(body, settings)
            c1 = time.process_time()
            batch = complete_batch(value, VERSION)
            c2 = time.process_time()
            w = time.perf_counter()
            store_batch(store, batch, writer, VERSION)
            wall_store += time.perf_counter() - w
            c3 = time.process_time()
            stages["parse"] += c1 - c0
            stages["complete"] += c2 - c1
            stages["store"] += c3 - c2
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        # Not on the write path: /metrics tallies the statements stored since it was last
        # read (lrs.ops.stored_counts), here all of them at once.
        c0 = time.process_time()
        while store.tally_stored(TALLY_STEP):
            pass
        tally = time.process_time() - c0
        if args.wal_pages:
            wal_pages(store, work / "lrs.db", settings, writer, population, args)
        store.close()
        n = len(bodies) * args.batch
        print(f"{n:,} statements in batches of {args.batch}: {n / wall:,.0f}/s wall, "
              f"{n / cpu:,.0f}/s per CPU-second; CPU-s per 1,000: {cpu / n * 1000:.3f}")  # fmt: skip
        for name, seconds in stages.items():
            print(f"  {name:9} {seconds / n * 1e6:7.1f} us CPU per statement")
        print(f"  store wall {wall_store / n * 1e6:7.1f} us per statement (fsync included)")
        print(f"  tally     {tally / n * 1e6:7.1f} us CPU per statement, once, when /metrics is read")

        wall_rate, cpu_rate, _ = floor(bodies, work / "floor.db")
        print(f"floor (parse + validate + one executemany, FULL): {wall_rate:,.0f}/s wall, "
              f"{cpu_rate:,.0f}/s per CPU-second")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def floor(bodies: list[bytes], path: Path) -> tuple[float, float, float]:
    """What this machine does with no LRS around the statements: the same bodies parsed and
    validated by the LRS's own code, then one executemany into one table, same durability
    (WAL, synchronous=FULL), in this process. Statements/s wall, per CPU-second, and CPU-s
    per 1,000: the floor every ingest figure is read against (bench_lrs.py prints it too)."""
    settings = Settings()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE s (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, data BLOB)")
        n = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for body in bodies:
            batch = complete_batch(parse_limited_json(body, settings), VERSION)
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO s(id, data) VALUES (?,?)",
                           [(s["id"], orjson.dumps(s)) for s in batch])  # fmt: skip
            db.execute("COMMIT")
            n += len(batch)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        db.close()
    return n / wall, n / cpu, cpu / n * 1000


def wal_pages(
    store: SQLiteStore,
    path: Path,
    settings: Settings,
    writer: Writer,
    population: gen.Population,
    args: argparse.Namespace,
) -> None:
    """Pages per commit of `args.batch` statements, by the B-tree (table or index) they hold."""
    store.index_now()
    store._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # frames now append from 0
    wal = path.with_name(path.name + "-wal")
    frame = 24 + 4096
    counts: collections.Counter[str] = collections.Counter()
    commits = 20
    for k in range(commits):
        body = gen.batch_body(args.n + k * args.batch, args.batch, population, args.seed)
        before = max(32, wal.stat().st_size if wal.exists() else 0)  # 32: the WAL header
        store_batch(store, complete_batch(parse_limited_json(body, settings), VERSION), writer, VERSION)
        with wal.open("rb") as f:
            f.seek(before)
            data = f.read()
        pages = [struct.unpack(">I", data[o : o + 4])[0] for o in range(0, len(data), frame)]
        reader = sqlite3.connect(path)
        owner = dict(reader.execute("SELECT pageno, name FROM dbstat"))
        reader.close()
        counts.update(owner.get(page, "?") for page in pages)
    print(f"pages per commit of {args.batch} (mean of {commits}, after {args.n:,} statements):")
    for name, count in counts.most_common():
        print(f"  {count / commits:7.1f}  {name}")


if __name__ == "__main__":
    raise SystemExit(main())
