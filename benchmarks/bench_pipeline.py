"""Benchmark the processing pipeline: statement acknowledged -> learner profile updated.

    python benchmarks/bench_pipeline.py [--quick] [--no-kafka] [--no-mongo]

Two questions (see benchmarks/PIPELINE.md for the figures and how they were taken):
1. **End-to-end lag** at a steady offered rate (default 1,000 statements/s: batches of 10
   every 10 ms from several keep-alive connections): for each acknowledged statement, how
   long until the profiles projection reflects it. Target (embedded): p95 < 1 s.
2. **Processor throughput**: statements/s one worker folds into every projection when it
   has a backlog. Target: >= 5,000 statements/s per worker.

Both in the embedded mode (`lrs serve`, SQLite, processors in its child process) and in the
scaled-out mode (Apache Kafka 3.9.1 from Maven Central's jars, `lrs serve` publishing through its outbox,
one `lrs process` faust worker), with SQLite as the worker's store so that the measured cost
is the processor and the bus, not a database server; then, briefly, with SecantusDB (a slow
MongoDB-wire server used by the tests) as the store, labelled as bounded by SecantusDB.

How lag is measured, and why that way: a profile contribution row (`contributions`, one per
statement for the profiles projection) is committed in the same transaction as the profile
state, so the moment a statement's row becomes visible is the moment its profile reflects
it. The benchmark reads new rows from the projections database every ~10 ms (read-only,
WAL) and takes, per statement id, the start of the first read that saw it, minus the time
its POST was acknowledged. That is exact up to the sampling period, needs no GET per
statement, and works the same in both modes: the faust worker keeps its Kafka offsets in
Kafka, not in the store, so the `processor:profiles` offset exists only in embedded mode.

Everything runs on 127.0.0.1; every process started here is stopped by its PID in `finally`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness as h
import orjson
import statements as gen
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # lrs, consumers and tests (the broker/SecantusDB launchers)

from consumers.reducers.base import changes_for  # noqa: E402
from consumers.reducers.enabled import reducers  # noqa: E402
from consumers.runtime.local import process_round  # noqa: E402
from lrs.competency.registry import import_rules  # noqa: E402
from lrs.config import Settings  # noqa: E402
from lrs.ports import Store  # noqa: E402
from tests.servers import KafkaBroker  # noqa: E402
from tests.servers.kafka import KAFKA_VERSION  # noqa: E402

TARGET_LAG_P95_S = 1.0
TARGET_THROUGHPUT = 5_000.0
DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
DIGCOMP_COMPETENCES = [
    f"{a}.{c}" for a, n in ((1, 3), (2, 6), (3, 4), (4, 4), (5, 4)) for c in range(1, n + 1)
]
AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://127.0.0.1", "name": "bench"}}

console = Console(highlight=False, width=max(170, shutil.get_terminal_size((120, 40)).columns))


# the data ------------------------------------------------------------------------------------
def pipeline_rules(population: gen.Population) -> dict[str, Any]:
    """Alignment rules over the generated courses, so the competencies processor does real
    work (about a third of the statements match: completed/passed ones, and scored
    assessments) instead of skipping every statement."""
    rules: list[dict[str, Any]] = []
    for course in range(population.courses):
        competence = DIGCOMP_COMPETENCES[course % len(DIGCOMP_COMPETENCES)]
        rules.append({
            "id": f"course-{course}",
            "competence": f"{DIGCOMP}/competence/{competence}",
            "level": "2",
            "match": {"activity_prefix": population.course_id(course) + "/"},
            "when": {"completed": True},
        })  # fmt: skip
        rules.append({
            "id": f"course-{course}-assessed",
            "competence": f"{DIGCOMP}/competence/{competence}",
            "level": "4",
            "match": {"activity_prefix": population.course_id(course) + "/",
                      "activity_type": "http://adlnet.gov/expapi/activities/assessment"},
            "when": {"min_score": 0.8},
            "distinct_activities": 2,
        })  # fmt: skip
    return {"id": "bench-courses", "framework": DIGCOMP, "rules": rules}


def population_for(learners: int) -> gen.Population:
    return gen.Population(learners=learners, courses=max(10, learners // 150))


def load_store(store: Store, first: int, count: int, population: gen.Population, seed: int) -> float:
    """Store statements with the store API in batches of 1,000 (no HTTP); seconds taken."""
    started = time.perf_counter()
    for start in range(first, first + count, 1000):
        batch = [gen.make_statement(i, population, seed) for i in range(start, min(start + 1000, first + count))]
        store.save_statements(batch, authority=AUTHORITY, credential="bench", version="1.0.3", attachments=[])
    return time.perf_counter() - started


# processes -----------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """Child processes (recursively) of pid, from /proc (the embedded processor child)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as handle:
                for child in handle.read().split():
                    found.append(int(child))
                    found.extend(descendants(int(child)))
        except OSError:
            continue
    return found


def tree_cpu(pid: int) -> float:
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            total += h.proc_cpu_seconds(p)
        except OSError:
            pass
    return total


def lrs_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    env.update({f"LRS_{k.upper()}": v for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_lrs(data: Path, settings: dict[str, str], log_name: str = "lrs-serve.log",
              launcher: Sequence[str] = ("-m", "lrs.cli")) -> h.Server:  # fmt: skip
    """`lrs serve` on a free loopback port with an `all` credential (fresh data directory).
    `launcher`: what runs `lrs` (bench_scaled.py counts conflicts through count_conflicts.py)."""
    lrs = [sys.executable, "-m", "lrs.cli"]
    env = lrs_env(settings)
    created = subprocess.run(
        [*lrs, "credentials", "create", "--data", str(data), "--init", "--name", "bench", "--scope", "all", "--json"],
        check=True, capture_output=True, text=True, cwd=REPO, timeout=120, env=env,
    )  # fmt: skip
    credential = orjson.loads(created.stdout)
    port = h.free_port()
    return h.start_server(
        "lrs",
        [sys.executable, *launcher, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        base_url=f"http://127.0.0.1:{port}/xapi",
        ready_path="/health",
        authorization=h.basic_auth(credential["key"], credential["secret"]),
        log_path=data.parent / log_name,
        cwd=REPO,
        env=env,
    )  # fmt: skip


class Worker:
    """One `lrs process` faust worker, in its own session, stopped by PID."""

    def __init__(self, settings: dict[str, str], log_path: Path,
                 launcher: Sequence[str] = ("-m", "lrs.cli")) -> None:  # fmt: skip
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *launcher, "process"],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=lrs_env(settings),
                start_new_session=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


# observing the projections -------------------------------------------------------------------
class ContributionWatcher(threading.Thread):
    """Every ~10 ms, the statement ids whose profile contribution became visible, and when.

    The time kept is when the read that first saw a row began: the row was committed before
    that read's snapshot, so lag is overstated by at most one period, never understated.
    """

    def __init__(self, projections_db: Path, projection: str = "profiles", period: float = 0.01) -> None:
        super().__init__(name="watcher", daemon=True)
        self.path = projections_db
        self.projection = projection
        self.period = period
        self.seen: dict[str, float] = {}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self.path.exists():
            time.sleep(0.05)
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        last = 0
        try:
            while not self._halt.is_set():
                started = time.perf_counter()
                try:
                    rows = conn.execute(
                        "SELECT n, statement_id FROM contributions WHERE projection = ? AND n > ? ORDER BY n",
                        (self.projection, last),
                    ).fetchall()
                except sqlite3.OperationalError:  # schema not created yet
                    rows = []
                self.samples += 1
                for n, statement_id in rows:
                    self.seen.setdefault(statement_id, started)
                    last = n
                pause = self.period - (time.perf_counter() - started)
                if pause > 0:
                    time.sleep(pause)
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def count_contributions(projections_db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{projections_db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT projection, COUNT(*) FROM contributions GROUP BY projection").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


class ContributionCounter:
    """Contributions per projection, counted incrementally (only rows after the last one
    seen, by rowid): a full COUNT(*) every 0.1 s over 100,000+ rows would itself take a
    good part of a core on this 2-core machine, away from the worker being measured."""

    def __init__(self, projections_db: Path) -> None:
        self.path = projections_db
        self.last = 0
        self.counts: dict[str, int] = {}
        self._conn: sqlite3.Connection | None = None

    def poll(self) -> dict[str, int]:
        if self._conn is None:
            if not self.path.exists():
                return self.counts
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            rows = self._conn.execute(
                "SELECT projection, COUNT(*), MAX(n) FROM contributions WHERE n > ? GROUP BY projection",
                (self.last,),
            ).fetchall()
        except sqlite3.OperationalError:
            return self.counts
        for projection, count, top in rows:
            self.counts[projection] = self.counts.get(projection, 0) + count
            self.last = max(self.last, top)
        return self.counts

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def read_offset(projections_db: Path, name: str) -> int:
    conn = sqlite3.connect(f"file:{projections_db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT position FROM offsets WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


# the paced client ----------------------------------------------------------------------------
@dataclass
class PacedResult:
    offered_rate: float
    seconds: float = 0.0
    statements: int = 0
    errors: list[str] = field(default_factory=list)
    acks: dict[str, float] = field(default_factory=dict)  # statement id -> ack time
    request_latencies: list[float] = field(default_factory=list)
    max_late: float = 0.0  # how far behind schedule a POST started, worst case (seconds)
    server_cores: float = 0.0  # lrs serve and its children (embedded: the processor child)
    worker_cores: float = 0.0  # the `lrs process` worker, Kafka mode
    meter: dict[str, float] = field(default_factory=dict)

    @property
    def achieved_rate(self) -> float:
        return self.statements / self.seconds if self.seconds else 0.0


def paced_post(
    server: h.Server,
    batches: list[tuple[bytes, list[str]]],
    interval: float,
    connections: int,
    offered_rate: float,
    worker_pid: int | None = None,
) -> PacedResult:
    """POST batch k at t0 + k * interval (open loop, up to `connections` in flight).

    A POST that cannot start on time (every connection busy) starts late, and `max_late`
    says so: the offered rate is then not what the server received.
    """
    result = PacedResult(offered_rate)
    counter = itertools.count()
    lock = threading.Lock()
    start = time.perf_counter() + 0.1

    def run() -> None:
        conn = h.Connection(server)
        try:
            while (k := next(counter)) < len(batches):
                body, ids = batches[k]
                due = start + k * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                try:
                    status, answer = conn.request("POST", "/statements", body)
                except OSError as exc:
                    status, answer = 0, repr(exc).encode()
                acked = time.perf_counter()
                with lock:
                    result.max_late = max(result.max_late, sent - due)
                    if 200 <= status < 300:
                        result.statements += len(ids)
                        result.request_latencies.append(acked - sent)
                        for statement_id in ids:
                            result.acks[statement_id] = acked
                    elif len(result.errors) < 5:
                        result.errors.append(f"HTTP {status}: {answer[:200]!r}")
        finally:
            conn.close()

    meter = h.Meter(server.pid)
    server0 = tree_cpu(server.pid)
    worker0 = h.proc_cpu_seconds(worker_pid) if worker_pid else 0.0
    threads = [threading.Thread(target=run, name=f"paced-{i}") for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - start
    result.meter = meter.read()
    result.server_cores = (tree_cpu(server.pid) - server0) / result.seconds
    if worker_pid:
        result.worker_cores = (h.proc_cpu_seconds(worker_pid) - worker0) / result.seconds
    return result


def make_batches(first: int, count: int, size: int, population: gen.Population, seed: int) -> list[tuple[bytes, list[str]]]:
    """Serialised before the clock starts, so the client measures the server."""
    out = []
    for start in range(first, first + count, size):
        batch = [gen.make_statement(i, population, seed) for i in range(start, min(start + size, first + count))]
        out.append((orjson.dumps(batch), [s["id"] for s in batch]))
    return out


@dataclass
class LagRow:
    mode: str
    servers: str
    paced: PacedResult
    lags: list[float]
    missing: int
    drain_seconds: float


def lag_run(
    mode: str,
    servers: str,
    server: h.Server,
    projections_db: Path,
    args: argparse.Namespace,
    population: gen.Population,
    worker_pid: int | None = None,
) -> LagRow:
    """Warm up (uncounted), then the paced run, then wait for every statement's profile."""
    watcher = ContributionWatcher(projections_db)
    watcher.start()
    try:
        warm = make_batches(10_000_000, 200, args.batch, population, args.seed)
        paced_post(server, warm, 0.05, 2, 0.0)
        warm_ids = [i for _, ids in warm for i in ids]
        if not wait_for(lambda: all(i in watcher.seen for i in warm_ids), 180):
            console.print(f"[yellow]{mode}: warm-up statements not all processed after 180 s[/]")
        total = int(args.rate * args.seconds)
        batches = make_batches(0, total, args.batch, population, args.seed)
        console.print(f"{mode}: posting {total:,} statements at {args.rate:,.0f}/s "
                      f"({len(batches):,} batches of {args.batch}, {args.connections} connections)")  # fmt: skip
        paced = paced_post(server, batches, args.batch / args.rate, args.connections, args.rate, worker_pid)
        drain0 = time.perf_counter()
        wait_for(lambda: all(i in watcher.seen for i in paced.acks), args.drain_timeout, every=0.1)
        drain = time.perf_counter() - drain0
    finally:
        watcher.stop()
    lags = [watcher.seen[i] - t for i, t in paced.acks.items() if i in watcher.seen]
    missing = sum(1 for i in paced.acks if i not in watcher.seen)
    return LagRow(mode, servers, paced, lags, missing, drain)


def print_lag(row: LagRow) -> None:
    p = row.paced
    table = Table(title=f"{row.mode}: lag, statement acknowledged -> profile updated")
    for col in ("offered", "achieved", "POST p50/p95", "late (max)", "lag p50", "lag p95", "lag p99",
                "lag max", "not seen", "serve CPU", "worker CPU", "others", "iowait"):  # fmt: skip
        table.add_column(col, justify="right")
    table.add_row(
        f"{p.offered_rate:,.0f}/s", f"{p.achieved_rate:,.0f}/s",
        f"{1000 * h.percentile(p.request_latencies, 50):.0f}/{1000 * h.percentile(p.request_latencies, 95):.0f} ms",
        f"{1000 * p.max_late:.0f} ms",
        *(f"{1000 * h.percentile(row.lags, q):,.0f} ms" for q in (50, 95, 99)),
        f"{1000 * max(row.lags, default=float('nan')):,.0f} ms",
        f"{row.missing:,}", f"{p.server_cores:.2f}", f"{p.worker_cores:.2f}" if p.worker_cores else "-",
        f"{p.meter.get('others', 0):.2f}", f"{p.meter.get('iowait', 0):.2f}",
    )  # fmt: skip
    console.print(table)
    if p.errors:
        console.print(f"[red]errors: {p.errors}[/]")


# throughput ----------------------------------------------------------------------------------
@dataclass
class Throughput:
    mode: str
    servers: str
    statements: int
    seconds: float  # every projection, one worker
    per_projection: dict[str, float]  # projection -> statements/s alone
    note: str = ""
    cpu_seconds: float = 0.0  # CPU of the processing (the worker process, Kafka mode)

    @property
    def rate(self) -> float:
        return self.statements / self.seconds if self.seconds else 0.0


def embedded_throughput(workdir: Path, n: int, population: gen.Population, seed: int) -> tuple[Throughput, Path, dict[str, int]]:
    """Load n statements (processors off), then fold them with `process_round`, as the
    embedded child does (same batch size setting, same store code, synchronous=FULL).

    Returns the figures, a copy of the statements-only database for the Kafka run, and the
    number of contributions per projection (what the Kafka worker must reach)."""
    from lrs.adapters.sqlite import SQLiteStore

    data = workdir / "throughput" / "lrs-data"
    store = SQLiteStore(data / "lrs.db")
    import_rules(store, pipeline_rules(population))
    console.print(f"embedded throughput: storing {n:,} statements with the store API ...")
    load_s = load_store(store, 0, n, population, seed)
    console.print(f"  stored in {load_s:.1f} s ({n / load_s:,.0f}/s; not an ingest figure: no HTTP)")
    store.close()
    pristine = workdir / "statements-only"
    pristine.mkdir()
    for f in data.glob("lrs*.db*"):
        shutil.copy2(f, pristine / f.name)
    store = SQLiteStore(data / "lrs.db")
    per: dict[str, float] = {}
    batch = Settings().processor_batch
    try:
        # As the embedded child does: every projection in each round, one read of the log.
        all_reducers = reducers(store)
        cpu0, t0 = time.process_time(), time.perf_counter()
        done = 0
        while read := process_round(store, all_reducers, batch):
            done += read
        total_s = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        statements = done // len(all_reducers)
        per["all projections"] = statements / total_s
        console.print(f"  {', '.join(r.name for r in all_reducers)}: {statements:,} statements in {total_s:.1f} s"
                      f" = {statements / total_s:,.0f}/s (batches of {batch:,}; CPU {cpu / total_s:.2f} core)")  # fmt: skip
        counts = count_contributions(store.projections_path)
    finally:
        store.close()
    return Throughput("embedded", "none (SQLite file)", n, total_s, per), pristine, counts


def kafka_throughput(
    workdir: Path, pristine: Path, n: int, expected: dict[str, int], timeout: float
) -> Throughput:
    """Statements already stored and published (worker stopped); then one worker starts.

    Rate = statements / (time the last projection reached the end - the last poll that saw
    no contribution yet), so the worker's start-up and group join are not counted (they are
    printed separately); polling every 0.1 s can only understate the rate. Both projections
    run concurrently in the worker, so "per projection" is statements / time that projection
    took, not its rate alone."""
    base = workdir / "kafka-throughput"
    data = base / "lrs-data"
    data.mkdir(parents=True)
    for f in pristine.iterdir():
        shutil.copy2(f, data / f.name)
    broker = KafkaBroker(base / "broker")
    server: h.Server | None = None
    worker: Worker | None = None
    try:
        start_broker(broker)
        settings = {"bus": f"kafka://{broker.bootstrap}", "store": f"sqlite://{data / 'lrs.db'}", "data": str(data),
                    "kafka_processing_guarantee": GUARANTEE}
        server = start_lrs(data, settings)
        projections = data / "lrs-projections.db"
        console.print(f"kafka throughput: `lrs serve` publishes {n:,} stored statements through its outbox ...")
        t0 = time.perf_counter()
        if not wait_for(lambda: read_offset(projections, "outbox:published") >= n, timeout, every=0.2):
            raise RuntimeError(f"outbox published only {read_offset(projections, 'outbox:published')} of {n}")
        console.print(f"  published in {time.perf_counter() - t0:.1f} s")
        started = time.perf_counter()
        worker = Worker(settings, base / "lrs-process.log")
        first: float | None = None  # the last poll that still saw nothing (conservative)
        reached: dict[str, float] = {}
        deadline = started + timeout
        counter = ContributionCounter(projections)
        # CPU at the last poll that saw no contribution: the worker's, and everything else's
        # (the machine's busy time less the worker, `lrs serve` and this process)
        cpu_first = machine_first = 0.0
        while time.perf_counter() < deadline and len(reached) < len(expected):
            now = time.perf_counter()
            cpu_now = h.proc_cpu_seconds(worker.process.pid)
            machine_now = h.machine_cpu_seconds()[0] - tree_cpu(server.pid) - time.process_time()
            counts = counter.poll()
            if not any(counts.values()):
                first, cpu_first, machine_first = now, cpu_now, machine_now
            for name, want in expected.items():
                if name not in reached and counts.get(name, 0) >= want:
                    reached[name] = now
            time.sleep(0.1)
        counter.close()
        if first is None or len(reached) < len(expected):
            raise RuntimeError(f"worker did not finish in {timeout:.0f}s: {count_contributions(projections)} of {expected}")
        cpu = h.proc_cpu_seconds(worker.process.pid) - cpu_first  # sampled before the last poll
        machine = h.machine_cpu_seconds()[0] - tree_cpu(server.pid) - time.process_time()
        others = max(0.0, machine - machine_first - cpu) / (time.perf_counter() - first)
        per = {name: n / (t - first) for name, t in reached.items()}
        seconds = max(reached.values()) - first
        console.print(f"  worker start to first contribution <= {first - started + 0.1:.1f} s; "
                      f"{n:,} statements through every projection in {seconds:.1f} s = {n / seconds:,.0f}/s; "
                      f"worker CPU {cpu:.1f} s ({cpu / seconds:.2f} core, {1e6 * cpu / n:.0f} us/statement); "
                      f"others {others:.2f} core")  # fmt: skip
        return Throughput("kafka", f"Apache Kafka + lrs serve + 1 lrs process ({GUARANTEE}); store SQLite", n, seconds, per,
                          note="one agent applies every projection to each batch", cpu_seconds=cpu)  # fmt: skip
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        broker.stop()


def mongo_throughput(workdir: Path, n: int, population: gen.Population, seed: int, timeout: float) -> Throughput:
    """The same as kafka_throughput with SecantusDB (MongoDB wire protocol) as the store.

    SecantusDB writes ~1.8k documents/s, and each statement costs several documents, so this
    measures SecantusDB, not MongoDB: it only shows the Mongo adapter path works end to end."""
    from pymongo import MongoClient

    from lrs.adapters.mongodb import MongoStore
    from tests.servers import MongoServer

    base = workdir / "mongo-throughput"
    data = base / "lrs-data"
    data.mkdir(parents=True)
    broker = KafkaBroker(base / "broker")
    mongo = MongoServer(base / "secantus", sync_on_commit=False)
    server: h.Server | None = None
    worker: Worker | None = None
    try:
        start_broker(broker)
        mongo.start()
        url = mongo.url("lrsbench")
        store = MongoStore(url)
        import_rules(store, pipeline_rules(population))
        load_s = load_store(store, 0, n, population, seed)
        console.print(f"mongo (SecantusDB) throughput: stored {n:,} statements in {load_s:.1f} s")
        statements_ = [gen.make_statement(i, population, seed) for i in range(n)]
        expected = {r.name: len(changes_for(r, statements_)) for r in reducers(store)}
        store.close()
        settings = {"bus": f"kafka://{broker.bootstrap}", "store": url, "data": str(data),
                    "kafka_processing_guarantee": GUARANTEE}
        server = start_lrs(data, settings)
        client: MongoClient[dict[str, Any]] = MongoClient(url)
        db = client.get_default_database()
        reader = MongoStore(url)

        def published() -> int:
            return reader.published_count()

        t0 = time.perf_counter()
        if not wait_for(lambda: published() >= n, timeout, every=0.5):
            raise RuntimeError(f"outbox published only {published()} of {n}")
        console.print(f"  published in {time.perf_counter() - t0:.1f} s")
        started = time.perf_counter()
        worker = Worker(settings, base / "lrs-process.log")
        first: float | None = None  # the last poll that still saw nothing (conservative)
        reached: dict[str, float] = {}
        deadline = started + timeout
        while time.perf_counter() < deadline and len(reached) < len(expected):
            now = time.perf_counter()
            counts = {name: db["contributions"].count_documents({"projection": name}) for name in expected}
            if not any(counts.values()):
                first = now
            for name, want in expected.items():
                if name not in reached and counts[name] >= want:
                    reached[name] = now
            time.sleep(0.2)
        client.close()
        reader.close()
        if first is None or len(reached) < len(expected):
            raise RuntimeError(f"worker did not finish in {timeout:.0f}s")
        seconds = max(reached.values()) - first
        per = {name: n / (t - first) for name, t in reached.items()}
        return Throughput("kafka", f"Apache Kafka + lrs serve + 1 lrs process ({GUARANTEE}); store SecantusDB", n, seconds, per,
                          note="bounded by SecantusDB (~1.8k writes/s), not a MongoDB figure")  # fmt: skip
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        mongo.stop()
        broker.stop()


# the runs ------------------------------------------------------------------------------------
GUARANTEE = "at_least_once"  # the faust workers' processing_guarantee (--exactly-once)


def start_broker(broker: KafkaBroker) -> None:
    t0 = time.perf_counter()
    broker.start()
    seconds = time.perf_counter() - t0
    BROKER_STARTS.append(seconds)
    console.print(f"Apache Kafka {KAFKA_VERSION} (KRaft, one node) answered {seconds:.1f} s after its start")


BROKER_STARTS: list[float] = []
def embedded_lag(workdir: Path, args: argparse.Namespace, population: gen.Population) -> LagRow:
    from lrs.adapters.sqlite import SQLiteStore

    data = workdir / "embedded" / "lrs-data"
    store = SQLiteStore(data / "lrs.db")
    import_rules(store, pipeline_rules(population))
    store.close()
    server = start_lrs(data, {})
    try:
        return lag_run("embedded", "lrs serve (SQLite, processors in its child process)", server,
                       data / "lrs-projections.db", args, population)  # fmt: skip
    finally:
        server.stop()


def kafka_lag(workdir: Path, args: argparse.Namespace, population: gen.Population) -> LagRow:
    from lrs.adapters.sqlite import SQLiteStore

    base = workdir / "kafka"
    data = base / "lrs-data"
    store = SQLiteStore(data / "lrs.db")
    import_rules(store, pipeline_rules(population))
    store.close()
    broker = KafkaBroker(base / "broker")
    server: h.Server | None = None
    worker: Worker | None = None
    try:
        start_broker(broker)
        settings = {"bus": f"kafka://{broker.bootstrap}", "store": f"sqlite://{data / 'lrs.db'}", "data": str(data),
                    "kafka_processing_guarantee": GUARANTEE}
        server = start_lrs(data, settings)
        worker = Worker(settings, base / "lrs-process.log")
        return lag_run("kafka", f"Apache Kafka + lrs serve (outbox) + 1 lrs process ({GUARANTEE}); store SQLite", server,
                       data / "lrs-projections.db", args, population, worker.process.pid)  # fmt: skip
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        broker.stop()


def machine() -> str:
    with open("/proc/meminfo") as handle:
        mem = int(handle.readline().split()[1]) / 2**20
    model = "unknown CPU"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, {mem:.1f} GiB, Linux {platform.release()}, Python {platform.python_version()}"


def loadavg() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def summary(lag_rows: list[LagRow], throughputs: list[Throughput]) -> None:
    table = Table(title="Pipeline summary")
    for col in ("mode", "servers", "rate offered", "achieved", "lag p50", "lag p95", "lag p99",
                "throughput/worker", "targets"):  # fmt: skip
        table.add_column(col, justify="right" if col not in ("mode", "servers", "targets") else "left")
    for row in lag_rows:
        p95 = h.percentile(row.lags, 95)
        target = f"p95 < 1 s: {'met' if p95 < TARGET_LAG_P95_S else 'MISSED'}"
        if row.mode != "embedded":
            target += " (target is for embedded)"
        table.add_row(row.mode, row.servers, f"{row.paced.offered_rate:,.0f}/s", f"{row.paced.achieved_rate:,.0f}/s",
                      *(f"{1000 * h.percentile(row.lags, q):,.0f} ms" for q in (50, 95, 99)), "", target)  # fmt: skip
    for t in throughputs:
        target = f">= 5,000/s: {'met' if t.rate >= TARGET_THROUGHPUT else 'MISSED'}"
        per = ", ".join(f"{k} {v:,.0f}/s" for k, v in t.per_projection.items())
        table.add_row(t.mode, t.servers + (f" [{t.note}]" if t.note else ""), f"backlog {t.statements:,}", "",
                      "", "", "", f"{t.rate:,.0f}/s ({per})", target)  # fmt: skip
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 s paced runs, 20,000-statement backlog")
    parser.add_argument("--rate", type=float, default=1000.0, help="statements/s offered (default 1,000)")
    parser.add_argument("--batch", type=int, default=10, help="statements per POST (default 10)")
    parser.add_argument("--seconds", type=float, help="paced run length (default 30, quick 10)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--learners", type=int, default=3000, help="learners in the paced runs (default 3,000)")
    parser.add_argument("--backlog", type=int, help="statements for throughput (default 100,000; quick 20,000)")
    parser.add_argument("--mongo-backlog", type=int, help="statements for the SecantusDB run (default 5,000; quick 1,000)")
    parser.add_argument("--no-kafka", action="store_true", help="embedded mode only")
    parser.add_argument("--no-mongo", action="store_true", help="skip the SecantusDB run")
    parser.add_argument("--mongo-only", action="store_true", help="only the SecantusDB throughput run")
    parser.add_argument("--kafka-lag-only", action="store_true", help="only the Kafka lag run")
    parser.add_argument("--throughput-only", action="store_true",
                        help="no paced runs: the embedded and Kafka throughput runs only")  # fmt: skip
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="wait for the processors after a paced run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", help="keep the data here instead of a temporary directory")
    parser.add_argument("--exactly-once", action="store_true",
                        help="run the Kafka workers with faust's processing_guarantee=exactly_once")  # fmt: skip
    args = parser.parse_args()
    global GUARANTEE
    GUARANTEE = "exactly_once" if args.exactly_once else "at_least_once"
    args.seconds = args.seconds or (10.0 if args.quick else 30.0)
    backlog = args.backlog or (20_000 if args.quick else 100_000)
    mongo_backlog = args.mongo_backlog or (1_000 if args.quick else 5_000)
    population = population_for(args.learners)

    console.print(f"bench_pipeline {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}; load average {loadavg()}")
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lrs-pipeline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    lag_rows: list[LagRow] = []
    throughputs: list[Throughput] = []
    try:
        if args.kafka_lag_only:
            print_lag(row := kafka_lag(workdir, args, population))
            summary([row], [])
            return 0
        if args.mongo_only:
            throughputs.append(mongo_throughput(workdir, mongo_backlog, population, args.seed, 900))
            summary(lag_rows, throughputs)
            return 0
        if not args.throughput_only:
            row = embedded_lag(workdir, args, population)
            print_lag(row)
            lag_rows.append(row)
        t, pristine, expected = embedded_throughput(workdir, backlog, population, args.seed)
        throughputs.append(t)
        console.print(f"load average {loadavg()}")
        if not args.no_kafka:
            if not args.throughput_only:
                row = kafka_lag(workdir, args, population)
                print_lag(row)
                lag_rows.append(row)
            throughputs.append(kafka_throughput(workdir, pristine, backlog, expected, 900))
            console.print(f"load average {loadavg()}")
            if not args.no_mongo:
                try:
                    throughputs.append(mongo_throughput(workdir, mongo_backlog, population, args.seed, 900))
                except Exception as exc:  # optional: say why and keep the other figures
                    console.print(f"[yellow]SecantusDB run failed: {exc!r}[/]")
        summary(lag_rows, throughputs)
        if BROKER_STARTS:
            console.print("Apache Kafka start-up (process start to answering a topic list): "
                          + ", ".join(f"{s:.1f} s" for s in BROKER_STARTS))  # fmt: skip
        console.print(f"load average at the end {loadavg()}")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
