"""The scaled-out path against its peer on the same MongoDB-wire server, in one run.

    python benchmarks/bench_scaled.py [--statements 3000] [--connections 4] [--batch 100]
                                      [--no-ralph] [--ralph-plain-statements N]

One SecantusDB server (the tests' MongoDB-wire stand-in; not a MongoDB figure), one database
per system, the same POST bodies (~0.9 KB statements in batches of `--batch`) from the same
client (`--connections` keep-alive connections), after an uncounted warm-up batch:

1. **this LRS, scaled out**: `lrs serve` (MongoDB store, Kafka bus, its outbox relay) and one
   `lrs process` faust worker on Apache Kafka, both running while the statements arrive.
   Printed: the ingest rate (POSTs answered), and the rate until every projection had
   folded every statement (end to end);
2. **Ralph 5.1, as installed**: its async MongoDB backend (it creates no index, and checks
   every posted id with a query on `_source.id`);
3. **Ralph 5.1, indexed**: the same with an index on `_source.id` made beforehand;

and the floor (always, also with `--no-ralph`): the same statements inserted by this process
as plain documents into one collection with only its `_id` index.

For each: statements/s, and CPU seconds per 1,000 statements of each process (the API, the
worker, the database) from /proc, so figures stay comparable on a busy machine. SecantusDB
runs without `--sync-on-commit` for all three (as bench_pipeline.py), so neither side pays
an fsync per transaction; this LRS still asks for `j: true` on its single writes, which
SecantusDB honours. Every process started here is stopped by its PID in `finally`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness as h
import orjson
import statements as gen

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import peer_ralph  # noqa: E402
from bench_pipeline import GUARANTEE, Worker, pipeline_rules, start_lrs  # noqa: E402
from pymongo import ASCENDING, MongoClient  # noqa: E402

from consumers.reducers.base import changes_for  # noqa: E402
from consumers.reducers.profiles import REDUCER as PROFILES  # noqa: E402
from lrs.competency.registry import import_rules  # noqa: E402
from lrs.domain.records import Contribution  # noqa: E402
from tests.servers import KafkaBroker, MongoServer  # noqa: E402

RALPH_INDEXED_QUOTED = 3264.0  # issue 19's figure for Ralph with the index, same machine


@dataclass
class Row:
    system: str
    statements: int
    ingest_s: float
    done_s: float | None  # until every projection folded everything (ours only)
    cpu: dict[str, float]  # process -> CPU seconds over the measured phase
    errors: int
    load: str
    conflicts: dict[str, int] | None = None  # ours: aborted transactions, WriteConflicts

    def conflict_text(self) -> str:
        if self.conflicts is None:
            return ""
        aborts = self.conflicts.get("abortTransaction", 0)
        commands = {k: v for k, v in self.conflicts.items() if k.startswith("commands")}
        detail = ", ".join(f"{k} {v}" for k, v in sorted(self.conflicts.items())
                           if k != "abortTransaction" and k not in commands
                           and "ms " not in k)  # fmt: skip
        seen = ", ".join(f"{k} {v:,}" for k, v in sorted(commands.items()))
        return f"; aborted transactions {aborts} ({detail or 'no WriteConflict'}; {seen})"

    def line(self) -> str:
        rate = self.statements / self.ingest_s
        text = f"{self.system}: {self.statements:,} statements, ingest {rate:,.0f}/s"
        if self.done_s is not None:
            text += f", end to end (every projection folded) {self.statements / self.done_s:,.0f}/s"
        per = ", ".join(f"{k} {1000 * v / self.statements:.2f}" for k, v in self.cpu.items())
        return (f"{text}; CPU-s per 1,000 statements: {per}; errors {self.errors}; load {self.load}"
                + self.conflict_text())  # fmt: skip


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def bodies(
    first: int, count: int, size: int, population: gen.Population, seed: int
) -> list[tuple[bytes, int]]:
    return [(gen.batch_body(s, min(size, first + count - s), population, seed), min(size, first + count - s))
            for s in range(first, first + count, size)]  # fmt: skip


def post(server: h.Server, batches: list[tuple[bytes, int]], connections: int) -> h.PhaseResult:
    poster = h.Poster(server, connections)
    try:
        return poster.run(iter(batches))
    finally:
        poster.close()


def run_ours(
    mongo: MongoServer, workdir: Path, args: argparse.Namespace, population: gen.Population
) -> Row:
    from lrs.adapters.mongodb import MongoStore

    base = workdir / "ours"
    data = base / "lrs-data"
    data.mkdir(parents=True)
    broker = KafkaBroker(base / "broker")
    server: h.Server | None = None
    worker: Worker | None = None
    url = mongo.url("lrs_scaled")
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    try:
        broker.start()
        store = MongoStore(url)
        import_rules(store, pipeline_rules(population))
        store.close()
        settings = {"bus": f"kafka://{broker.bootstrap}", "store": url, "data": str(data),
                    "kafka_processing_guarantee": GUARANTEE}  # fmt: skip
        counting = str(HERE / "count_conflicts.py")
        counts = {"api": base / "api-conflicts.json", "worker": base / "worker-conflicts.json"}
        server = start_lrs(data, settings, launcher=(counting, str(counts["api"])))
        worker = Worker(settings, base / "lrs-process.log",
                        launcher=(counting, str(counts["worker"])))  # fmt: skip
        contributions = client.get_default_database()["contributions"]

        def folded(ids: list[str]) -> bool:
            found = 0
            for start in range(0, len(ids), 64):
                found += len(list(contributions.find(
                    {"projection": PROFILES.name, "statement_id": {"$in": ids[start : start + 64]}}, {"_id": 1})))  # fmt: skip
            return found >= len(ids)

        def profiled(first: int, count: int) -> list[str]:
            made = [
                gen.make_statement(i, population, args.seed) for i in range(first, first + count)
            ]
            return [
                c.statement_id for c in changes_for(PROFILES, made) if isinstance(c, Contribution)
            ]

        warm = bodies(10_000_000, args.batch, args.batch, population, args.seed)
        result = post(server, warm, 1)
        if result.errors:
            raise RuntimeError(f"warm-up failed: {result.error_samples}")
        warm_ids = profiled(10_000_000, args.batch)
        if not h_wait(lambda: folded(warm_ids), 120):
            raise RuntimeError("the worker did not fold the warm-up batch within 120 s")
        batches = bodies(0, args.statements, args.batch, population, args.seed)
        wanted = profiled(0, args.statements)
        last = wanted[-64:]  # one indexed query per poll: the polls cost the database little
        db = client.get_default_database()
        if args.profile_db:
            db.command("profile", 2)
        assert mongo.process is not None
        pids = {"api": server.pid, "worker": worker.process.pid, "database": mongo.process.pid}
        cpu0 = {name: h.tree_cpu_seconds(pid) for name, pid in pids.items()}
        conflicts0 = read_conflicts(counts)
        ops0 = opcounters(client)
        load = loadavg()
        t0 = time.perf_counter()
        result = post(server, batches, args.connections)
        ingest = time.perf_counter() - t0
        if result.errors:
            print(f"  failed POSTs: {result.errors}, e.g. {result.error_samples}", flush=True)
        if result.latencies:
            print("  POST latencies (s): " + " ".join(f"{x:.1f}" for x in result.latencies), flush=True)
        if not h_wait(lambda: folded(last), 1800, every=0.5):
            raise RuntimeError("the worker did not fold the last statements within 30 min")
        # partitions are folded independently: then every statement (a few queries a poll)
        if not h_wait(lambda: folded(wanted), 180, every=1.0):
            missing = [
                i
                for i in wanted
                if contributions.find_one({"projection": PROFILES.name, "statement_id": i}) is None
            ]
            raise RuntimeError(
                f"{len(missing)} statements got no profile contribution within 3 min, e.g. {missing[:3]}"
            )
        done = time.perf_counter() - t0
        cpu = {name: h.tree_cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
        time.sleep(0.6)  # the counters are written every half second
        conflicts = {k: v - conflicts0.get(k, 0) for k, v in read_conflicts(counts).items()}
        ops = {k: v - ops0.get(k, 0) for k, v in opcounters(client).items()}
        waits = sorted(((v, k) for k, v in conflicts.items() if k.startswith("ms ")), reverse=True)
        print("  where the processes waited on the database (client-side seconds per command "
              "and collection, the longest single one):", flush=True)
        for total, key in waits[:12]:
            longest = read_max(counts, key)
            print(f"    {key[3:]:<48} {total / 1000:8.1f} s  (longest {longest / 1000:.1f} s)", flush=True)
        print(
            "  database commands per statement (serverStatus opcounters, this benchmark's polls "
            "included): " + ", ".join(f"{k} {v / args.statements:.3f}" for k, v in ops.items()),
            flush=True,
        )
        if args.profile_db:
            db.command("profile", 0)
            print_profile(db, args.statements)
        return Row("this LRS, scaled out (lrs serve + lrs process, Kafka)", result.statements, ingest, done, cpu,
                   result.errors, load, {k: v for k, v in conflicts.items() if v})  # fmt: skip
    finally:
        client.close()
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        broker.stop()


def read_conflicts(paths: dict[str, Path]) -> dict[str, int]:
    """Aborted transactions and WriteConflicts so far, per process (count_conflicts.py)."""
    import json

    total: dict[str, int] = {}
    for process, path in paths.items():
        for key, value in json.loads(path.read_text()).items():
            name = key if process == "api" else f"{key} (worker)"
            total[name] = total.get(name, 0) + int(value)
    return total


def read_max(paths: dict[str, Path], key: str) -> int:
    """The longest single command of `key` (as read_conflicts names it), in ms."""
    import json

    worker = key.endswith(" (worker)")
    name = "max " + (key[: -len(" (worker)")] if worker else key)
    path = paths["worker" if worker else "api"]
    return int(json.loads(Path(path).read_text()).get(name, 0))


def print_profile(db: Any, n: int) -> None:
    """The database's own account of the measured phase (profiling level 2): per command
    and collection, how many and the milliseconds it reported, per statement."""
    from collections import Counter

    count: Counter[str] = Counter()
    millis: dict[str, float] = {}
    for doc in db["system.profile"].find({}, {"ns": 1, "command": 1, "millis": 1, "op": 1}):
        command = doc.get("command") or {}
        name = next(iter(command), doc.get("op", "?"))
        key = f"{name} {doc.get('ns', '?').split('.', 1)[-1]}"
        count[key] += 1
        millis[key] = millis.get(key, 0.0) + float(doc.get("millis") or 0)
    print("  database profile (per statement: commands, reported ms):")
    for key, ms in sorted(millis.items(), key=lambda item: -item[1])[:20]:
        print(f"    {key:<40} {count[key] / n:8.3f} {ms / n:8.3f}")


def opcounters(client: MongoClient[dict[str, Any]]) -> dict[str, int]:
    return {
        k: int(v) for k, v in client.admin.command("serverStatus").get("opcounters", {}).items()
    }


def h_wait(check: Any, timeout: float, every: float = 0.2) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def run_ralph(mongo: MongoServer, python: Path, workdir: Path, args: argparse.Namespace,
              population: gen.Population, indexed: bool, count: int) -> Row:  # fmt: skip
    database = "ralph_indexed" if indexed else "ralph_plain"
    client: MongoClient[dict[str, Any]] = MongoClient(mongo.url(database))
    server: h.Server | None = None
    try:
        if indexed:
            client[database]["statements"].create_index([("_source.id", ASCENDING)])
        server = peer_ralph.start_mongo(
            python, workdir / database, mongo.url(database), database, "statements"
        )
        warm = post(server, bodies(10_000_000, args.batch, args.batch, population, args.seed), 1)
        if warm.errors:
            raise RuntimeError(f"Ralph's warm-up failed: {warm.error_samples}")
        assert mongo.process is not None
        pids = {"api": server.pid, "database": mongo.process.pid}
        cpu0 = {name: h.tree_cpu_seconds(pid) for name, pid in pids.items()}
        load = loadavg()
        t0 = time.perf_counter()
        result = post(server, bodies(0, count, args.batch, population, args.seed), args.connections)
        ingest = time.perf_counter() - t0
        cpu = {name: h.tree_cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
        stored = client[database]["statements"].count_documents({})
        if stored != count + args.batch:
            raise RuntimeError(f"Ralph stored {stored} of {count + args.batch}")
        name = f"Ralph {peer_ralph.RALPH_VERSION} async MongoDB, " + (
            "index on _source.id" if indexed else "as installed (no index)")  # fmt: skip
        return Row(name, result.statements, ingest, None, cpu, result.errors, load)
    finally:
        client.close()
        if server is not None:
            server.stop()


def run_floor(mongo: MongoServer, args: argparse.Namespace, population: gen.Population) -> Row:
    """The floor on this server, same run: the very statements our run posted, parsed here and
    inserted as plain documents into one collection with only its `_id` index (insert_many,
    a batch per call, from this process, no HTTP, no transaction): what storing them costs the
    database before anything makes them queryable or folds them."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo.url("floor"))
    try:
        collection = client["floor"]["statements"]
        batches = [orjson.loads(body) for body, _ in bodies(0, args.statements, args.batch, population, args.seed)]
        assert mongo.process is not None
        cpu0 = {"client": time.process_time(), "database": h.tree_cpu_seconds(mongo.process.pid)}
        load = loadavg()
        t0 = time.perf_counter()
        for batch in batches:
            collection.insert_many([{"_id": s["id"], "statement": s} for s in batch], ordered=False)
        elapsed = time.perf_counter() - t0
        cpu = {"client": time.process_time() - cpu0["client"],
               "database": h.tree_cpu_seconds(mongo.process.pid) - cpu0["database"]}  # fmt: skip
        count = sum(len(batch) for batch in batches)
        name = "floor: the same statements as plain documents, one collection, _id only (insert_many, no HTTP)"
        return Row(name, count, elapsed, None, cpu, 0, load)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--learners", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-ralph", action="store_true")
    parser.add_argument(
        "--profile-db",
        action="store_true",
        help="also print the database's profile of our run (profiling costs it CPU)",
    )
    parser.add_argument(
        "--ralph-plain-statements",
        type=int,
        default=1000,
        help="statements for Ralph as installed (it scans its collection per batch)",
    )
    parser.add_argument("--ralph-cache", default="~/.cache/lrs-bench")
    parser.add_argument("--workdir", help="keep the run's files here (default: a temporary folder)")
    args = parser.parse_args()
    population = gen.Population(learners=args.learners, courses=max(10, args.learners // 150))
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lrs-bench-scaled-"))
    workdir.mkdir(parents=True, exist_ok=True)
    mongo = MongoServer(workdir / "secantus", sync_on_commit=False)
    rows: list[Row] = []
    print(
        f"bench_scaled: {os.cpu_count()} cores, load {loadavg()}, SecantusDB (sync_on_commit off)",
        flush=True,
    )
    try:
        mongo.start()
        rows.append(run_ours(mongo, workdir, args, population))
        print(rows[-1].line(), flush=True)
        rows.append(run_floor(mongo, args, population))
        print(rows[-1].line(), flush=True)
        if not args.no_ralph:
            try:
                python = peer_ralph.ensure_installed(
                    Path(args.ralph_cache).expanduser(), workdir / "ralph-install.log"
                )
            except peer_ralph.PeerUnavailable as exc:
                print(f"Ralph is not available, so it is not measured: {exc}")
            else:
                for indexed, count in (
                    (True, args.statements),
                    (False, args.ralph_plain_statements),
                ):
                    rows.append(run_ralph(mongo, python, workdir, args, population, indexed, count))
                    print(rows[-1].line(), flush=True)
    finally:
        mongo.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary (same run, same SecantusDB build, same client and bodies):")
    for row in rows:
        print("  " + row.line())
    ours = rows[0]
    peer = next((r for r in rows if "index on" in r.system), None)
    if peer is not None:
        half = peer.statements / peer.ingest_s / 2
        db_ratio = (ours.cpu["database"] / ours.statements) / (
            peer.cpu["database"] / peer.statements
        )
        print(f"  target: ingest >= half of indexed Ralph's = {half:,.0f}/s (quoted: {RALPH_INDEXED_QUOTED / 2:,.0f}): "
              f"ours {ours.statements / ours.ingest_s:,.0f}/s ingest, {ours.statements / (ours.done_s or 1):,.0f}/s end to end; "
              f"database CPU per statement {db_ratio:.1f}x Ralph's (target <= 3x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
