"""Benchmark the LRS over HTTP: ingest by batch size, a 1M-statement store, query latency.

    python benchmarks/bench_lrs.py [--quick] [--statements N] [--peer-ralph]

Why it is built this way (see benchmarks/README.md for the figures):
- it starts a real `lrs serve` process on a free loopback port with a fresh data directory,
  and talks to it only over HTTP, as platforms do; it stops it (by PID) whatever happens;
- statements are realistic and deterministic (statements.py), ~1.2 KB each, so two runs and
  two LRSs see exactly the same data;
- every phase records the CPU of the client and of the server, to show which one limited it;
- the store grows to N statements (default 1,000,000) and the server's memory is sampled as
  it grows, because an LRS that is fast when empty and slow or bloated when full is useless;
- queries are the ones xAPI clients make (agent, verb, activity, registration, since, and
  agent+verb), each asked many times with different values, reported as p50/p95/p99;
- with --peer-ralph, Ralph (a Python LRS) gets the same batch-of-100 workload in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import harness as h
import orjson
import peer_ralph
import profile_ingest
import statements as gen
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
PEER_RALPH_QUOTED = 399.0  # statements/s, batch of 100, as quoted in the issue for this machine
QUERY_KINDS = ("agent", "verb", "activity", "registration", "since", "agent+verb")
TARGET_P95_MS = 50.0  # agent+verb over a 1M store

# Wide enough for the tables when the output goes to a file (a maintainer's log).
console = Console(highlight=False, width=max(120, shutil.get_terminal_size((120, 40)).columns))


@dataclass(frozen=True)
class Plan:
    """How much of each thing to do; --quick shrinks it to about a minute."""

    statements: int
    batch_totals: dict[int, int]  # batch size -> statements posted in that phase
    queries_per_kind: int
    warmup_per_kind: int
    catch_up_timeout: float


def batch_totals(spec: str) -> dict[int, int]:
    """`--batches 100:20000,1:2000` -> {100: 20000, 1: 2000}, in the order given."""
    totals: dict[int, int] = {}
    for item in spec.split(","):
        size, _, total = item.partition(":")
        totals[int(size)] = int(total)
    return totals


def make_plan(args: argparse.Namespace) -> Plan:
    plan = _default_plan(args)
    if args.batches:
        plan = Plan(plan.statements, batch_totals(args.batches), plan.queries_per_kind,
                    plan.warmup_per_kind, plan.catch_up_timeout)  # fmt: skip
    return plan


def _default_plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(
            statements=args.statements or 20_000,
            batch_totals={1: 300, 10: 1_000, 100: 2_000, 1000: 5_000},
            queries_per_kind=args.queries or 100,
            warmup_per_kind=5,
            catch_up_timeout=args.catch_up_timeout if args.catch_up_timeout is not None else 60,
        )
    return Plan(
        statements=args.statements or 1_000_000,
        batch_totals={1: 2_000, 10: 10_000, 100: 20_000, 1000: 50_000},
        queries_per_kind=args.queries or 500,
        warmup_per_kind=20,
        catch_up_timeout=args.catch_up_timeout if args.catch_up_timeout is not None else 300,
    )


@dataclass
class Report:
    """Everything measured, printed at the end and optionally written as JSON."""

    started: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    batches: dict[int, dict[str, float]] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)
    processors: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, dict[str, float]] = field(default_factory=dict)
    concurrent_queries: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    db_mib: float = 0.0
    ralph: dict[str, Any] = field(default_factory=dict)
    floor: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# the machine ---------------------------------------------------------------------------------
def describe_machine() -> dict[str, Any]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        # The server runs the working tree, so say when it differs from the commit.
        changed = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "--", "lrs",
             "consumers", "schemas"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
        if commit and changed:
            commit += " + uncommitted changes"
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "lrs_commit": commit or "unknown",
    }


# our server ----------------------------------------------------------------------------------
def start_lrs(data: Path) -> h.Server:
    """A fresh `lrs serve` on a free loopback port, with an `all` credential for the client."""
    lrs = [sys.executable, "-m", "lrs.cli"]
    created = subprocess.run(
        [*lrs, "credentials", "create", "--data", str(data), "--init", "--name", "bench", "--scope", "all",
         "--json"],
        check=True, capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    credential = json.loads(created.stdout)
    port = h.free_port()
    return h.start_server(
        "lrs",
        [*lrs, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        base_url=f"http://127.0.0.1:{port}/xapi",
        ready_path="/health",
        authorization=h.basic_auth(credential["key"], credential["secret"]),
        log_path=data.parent / "lrs-serve.log",
        cwd=REPO,
    )  # fmt: skip


def db_path(data: Path) -> Path:
    return data / "lrs.db"


def read_db(data: Path, sql: str, name: str = "lrs.db") -> list[tuple[Any, ...]]:
    """A read-only look at one of the server's SQLite files (WAL lets us read while it
    writes): lrs.db holds statements, lrs-projections.db the processors' state and offsets."""
    conn = sqlite3.connect(f"file:{data / name}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def processor_lag(data: Path) -> tuple[int, int]:
    """(statements stored, statements every in-process processor has read)."""
    stored = read_db(data, "SELECT COALESCE(MAX(seq), 0) FROM statements")[0][0]
    try:
        rows = read_db(
            data,
            "SELECT MIN(position) FROM offsets WHERE name LIKE 'processor:%'",
            "lrs-projections.db",
        )
    except sqlite3.OperationalError:
        return stored, stored
    position = rows[0][0]
    return stored, stored if position is None else position


def db_size_mib(data: Path) -> float:
    return sum(p.stat().st_size for p in data.glob("lrs*.db*")) / 2**20


# phases --------------------------------------------------------------------------------------
def bodies(start: int, total: int, size: int, population: gen.Population, seed: int) -> Iterator[tuple[bytes, int]]:
    """Request bodies for statements start..start+total, `size` per request, made lazily."""
    for first in range(start, start + total, size):
        count = min(size, start + total - first)
        yield gen.batch_body(first, count, population, seed), count


def run_batches(
    server: h.Server, data: Path, plan: Plan, population: gen.Population, args: argparse.Namespace, report: Report
) -> int:
    """Throughput per batch size; returns how many statements are now in the store."""
    console.rule("[bold]1. Ingest throughput by batch size (HTTP POST /xapi/statements)")
    poster = h.Poster(server, args.connections)
    # Warm-up, not counted: first requests pay for imports, schema compilation, thread pools.
    next_index = 0
    warm = poster.run(bodies(next_index, 200, 10, population, args.seed))
    next_index += 200
    if warm.errors:
        raise RuntimeError(f"warm-up failed: {warm.error_samples}")
    table = Table("batch", "statements", "requests", "statements/s", "req p50", "req p95",
                  "server", "client", "others", "iowait", "CPU-s/1000 API / proc.", "lag p95",
                  "errors", title="CPU columns in cores")  # fmt: skip
    for size, total in plan.batch_totals.items():
        prepared = list(bodies(next_index, total, size, population, args.seed))  # before the clock
        lag = LagSampler(data)
        lag.start()
        api0, tree0 = h.proc_cpu_seconds(server.pid), h.tree_cpu_seconds(server.pid)
        result = poster.run(prepared)
        api = h.proc_cpu_seconds(server.pid) - api0
        children = h.tree_cpu_seconds(server.pid) - tree0 - api
        lags = lag.finish()
        next_index += total
        report.batches[size] = {
            "statements": result.statements,
            "seconds": round(result.seconds, 2),
            "rate": round(result.rate, 1),
            "p50_ms": round(h.percentile(result.latencies, 50) * 1000, 1),
            "p95_ms": round(h.percentile(result.latencies, 95) * 1000, 1),
            "server_cpu": round(result.server_load, 2),
            "client_cpu": round(result.client_load, 2),
            "client_cpu_us_per_request": round(result.client_cpu / max(1, result.requests) * 1e6),
            "others_cpu": round(result.others_load, 2),
            "iowait": round(result.iowait_load, 2),
            "errors": result.errors,
            # CPU seconds per 1,000 statements stored, per process: comparable on a busy machine.
            "api_cpu_s_per_1000": round(api / max(1, result.statements) * 1000, 3),
            "processors_cpu_s_per_1000": round(children / max(1, result.statements) * 1000, 3),
            "lag_p50_ms": round(h.percentile(lags, 50) * 1000) if lags else None,
            "lag_p95_ms": round(h.percentile(lags, 95) * 1000) if lags else None,
            "lag_max_ms": round(max(lags) * 1000) if lags else None,
        }
        if result.errors:
            report.errors.append(f"batch {size}: {result.errors} failed requests, e.g. {result.error_samples}")
        row = report.batches[size]
        table.add_row(
            str(size), f"{result.statements:,}", f"{result.requests:,}", f"[bold]{result.rate:,.0f}[/]",
            f"{row['p50_ms']:.1f} ms", f"{row['p95_ms']:.1f} ms",
            f"{result.server_load:.2f}", f"{result.client_load:.2f}",
            f"{result.others_load:.2f}", f"{result.iowait_load:.2f}",
            f"{row['api_cpu_s_per_1000']:.3f} / {row['processors_cpu_s_per_1000']:.3f}",
            "-" if row["lag_p95_ms"] is None else f"{row['lag_p95_ms']:,} ms", str(result.errors),
        )  # fmt: skip
    poster.close()
    console.print(table)
    console.print(
        f"{args.connections} concurrent keep-alive connections; bodies serialised before the clock "
        "starts. CPU columns: cores used on average during the phase by the server, this client and "
        "every other process (the machine has %d); a client well under 1 core is not the bottleneck; "
        "busy other processes or iowait mean the figure is low for reasons outside the LRS. CPU-s/1000: "
        "CPU seconds per 1,000 statements of the API process and of its processors' child (their "
        "catch-up after the phase not included). Lag: how long the oldest statement the processors "
        "had not folded had been stored, sampled every 0.1 s until they caught up." % (os.cpu_count() or 0)
    )
    return next_index


class LagSampler(threading.Thread):
    """How far the embedded processors trail the store, in seconds, while a phase runs.

    Every 0.1 s it reads how many statements are stored and how many every processor has
    folded (read-only, from the SQLite files); a sample's lag is how long ago the store
    first held more statements than the processors had folded, i.e. the age of the oldest
    statement still waiting. `finish` keeps sampling until they catch up (at most 60 s).
    """

    def __init__(self, data: Path, period: float = 0.1) -> None:
        super().__init__(name="lag-sampler", daemon=True)
        self.data, self.period = data, period
        self.samples: list[tuple[float, int, int]] = []  # (time, stored, folded)
        self._done = threading.Event()
        self._caught_up_at: int | None = None

    def run(self) -> None:
        while not self._done.is_set():
            try:
                stored, folded = processor_lag(self.data)
            except sqlite3.Error:
                stored = folded = -1
            if stored >= 0:
                self.samples.append((time.perf_counter(), stored, folded))
                if self._caught_up_at is not None and folded >= self._caught_up_at:
                    return
            time.sleep(self.period)

    def finish(self) -> list[float]:
        """The lag of every sample, after waiting (<= 60 s) for the processors to catch up."""
        self._caught_up_at = processor_lag(self.data)[0]
        self.join(timeout=60)
        self._done.set()
        self.join()
        lags: list[float] = []
        for at, _stored, folded in self.samples:
            first = next((t for t, s, _ in self.samples if s > folded), None)
            lags.append(0.0 if first is None or first > at else at - first)
        return lags


class MemorySampler(threading.Thread):
    """RSS of the server process and of its children (the processors), every `period` s.

    A sample at each 10% of the load lands wherever the processors happen to be in a batch
    (their memory rises and falls by ~100 MiB within one), so each decile also gets the
    server's median and the children's low / median / high over all its samples: a store
    whose growth shows in memory moves those, a batch in flight does not.
    """

    def __init__(self, pid: int, period: float = 0.5) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.pid, self.period = pid, period
        self.done = 0  # statements acknowledged so far (set by the load loop)
        self.samples: list[tuple[int, float, float]] = []  # (done, server MiB, children MiB)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.period):
            try:
                server = h.proc_memory_kib(self.pid).get("VmRSS", 0) / 1024
            except FileNotFoundError:
                return
            children = 0.0
            for child in h.descendants(self.pid):
                try:
                    children += h.proc_memory_kib(child).get("VmRSS", 0) / 1024
                except FileNotFoundError:
                    pass
            self.samples.append((self.done, server, children))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def between(self, low: int, high: int) -> dict[str, float]:
        """Server median and children's min / median / max over samples in (low, high]."""
        rows = [(s, c) for done, s, c in self.samples if low < done <= high]
        if not rows:
            return {}
        servers, children = sorted(s for s, _ in rows), sorted(c for _, c in rows)
        return {
            "samples": len(rows),
            "server_median_mib": round(servers[len(servers) // 2], 1),
            "children_min_mib": round(children[0], 1),
            "children_median_mib": round(children[len(children) // 2], 1),
            "children_max_mib": round(children[-1], 1),
        }


def run_load(
    server: h.Server,
    data: Path,
    plan: Plan,
    population: gen.Population,
    start: int,
    args: argparse.Namespace,
    report: Report,
) -> list[datetime]:
    """Grow the store to plan.statements; sample RSS and the rate at every 10% of the load.

    Returns wall-clock times at which statements were known to be stored (for `since`).
    """
    total = max(0, plan.statements - start)
    via = (
        "HTTP POST, batches of 1,000"
        if args.load == "http"
        else "the store's Python API in this process (SQLiteStore.save_statements, no HTTP, no validation)"
    )
    console.rule(f"[bold]2. Build a store of {plan.statements:,} statements")
    console.print(f"Loading {total:,} statements through {via}.")
    report.load = {"via": args.load, "description": via, "statements": total, "store": plan.statements}
    marks: list[datetime] = []
    checkpoints = {round(total * k / 10): 10 * k for k in range(1, 11)} if total else {}
    state = {"done": 0, "last_t": time.perf_counter(), "last_n": 0}
    t0 = time.perf_counter()
    meter = h.Meter(server.pid)
    sampler = MemorySampler(server.pid)
    sampler.start()

    def sample(done: int, percent: int) -> None:
        now = time.perf_counter()
        memory = server.memory_kib()
        decile = sampler.between(state["last_n"], done)
        # Responses arrive in bursts of up to 2 x connections; a rate over fewer batches is noise.
        span = done - state["last_n"]
        segment = span / max(1e-9, now - state["last_t"]) if span >= 20_000 else None
        stored, processed = processor_lag(data)
        report.memory.append(
            {
                "percent": percent,
                "store": start + done,
                "rss_mib": round(memory.get("VmRSS", 0) / 1024, 1),
                "hwm_mib": round(memory.get("VmHWM", 0) / 1024, 1),
                "segment_rate": None if segment is None else round(segment, 1),
                "processor_lag": stored - processed,
                **decile,
            }
        )
        state["last_t"], state["last_n"] = now, done

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8,.0f} st/s"),
        TextColumn("RSS {task.fields[rss]:>5.0f} MiB"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("loading", total=total, rate=0.0, rss=0.0)

        def on_done(count: int) -> None:
            before = state["done"]
            state["done"] += count
            sampler.done = state["done"]
            marks.append(datetime.now(UTC))
            elapsed = time.perf_counter() - t0
            rss = server.memory_kib().get("VmRSS", 0) / 1024
            progress.update(task, advance=count, rate=state["done"] / max(elapsed, 1e-9), rss=rss)
            for checkpoint, percent in sorted(checkpoints.items()):
                if before < checkpoint <= state["done"]:
                    sample(state["done"], percent)

        if args.load == "http":
            poster = h.Poster(server, args.connections)
            result = poster.run(bodies(start, total, 1000, population, args.seed), on_done=on_done)
            poster.close()
            if result.errors:
                report.errors.append(f"load: {result.errors} failed requests, e.g. {result.error_samples}")
        else:
            public_url = server.base_url.rsplit("/", 1)[0]
            load_direct(data, public_url, start, total, population, args.seed, on_done)
    sampler.stop()
    seconds = time.perf_counter() - t0
    used = meter.read()
    report.load.update(
        {
            "seconds": round(seconds, 1),
            "rate": round(total / seconds, 1) if seconds else 0.0,
            "server_cpu": round(used["server"], 2),
            "client_cpu": round(used["client"], 2),
            "others_cpu": round(used["others"], 2),
            "iowait": round(used["iowait"], 2),
        }
    )
    console.print(
        f"Loaded {total:,} statements in {seconds:,.0f} s: [bold]{report.load['rate']:,.0f} statements/s[/] "
        f"(server {used['server']:.2f} core, client {used['client']:.2f} core including generating the "
        f"statements, other processes {used['others']:.2f} core, iowait {used['iowait']:.2f})."
    )
    table = Table("load", "store size", "st/s, last 10%", "RSS, server + processors", "server (median)",
                  "processors (low / median / high)", "peak RSS (HWM)", "processor lag",
                  title="RSS at the end of each 10%; median, low and high over that 10% (every 0.5 s)")  # fmt: skip
    for row in report.memory:
        spread = (
            f"{row['children_min_mib']:,.0f} / {row['children_median_mib']:,.0f} / {row['children_max_mib']:,.0f} MiB"
            if "children_min_mib" in row else "-"
        )
        table.add_row(
            f"{row['percent']}%", f"{row['store']:,}",
            "-" if row["segment_rate"] is None else f"{row['segment_rate']:,.0f}",
            f"{row['rss_mib']:,.0f} MiB",
            f"{row['server_median_mib']:,.0f} MiB" if "server_median_mib" in row else "-",
            spread, f"{row['hwm_mib']:,.0f} MiB", f"{row['processor_lag']:,}",
        )  # fmt: skip
    console.print(table)
    return marks


def load_direct(
    data: Path,
    public_url: str,
    start: int,
    total: int,
    population: gen.Population,
    seed: int,
    on_done: Callable[[int], None],
) -> None:
    """Write straight into the SQLite file with the store's own code (the server keeps running).

    Faster to build a big store, but skips HTTP, auth and validation: its rate is not an
    ingest figure. The server's processors still read every statement from the log.
    """
    from lrs.adapters.sqlite import SQLiteStore
    from lrs.auth import authority_for

    store = SQLiteStore(db_path(data))
    try:
        credential_key = read_db(data, "SELECT key FROM credentials LIMIT 1")[0][0]
        credential = store.get_credential(credential_key)
        assert credential is not None
        authority = authority_for(credential, public_url)
        for first in range(start, start + total, 1000):
            count = min(1000, start + total - first)
            batch = [gen.make_statement(i, population, seed) for i in range(first, first + count)]
            store.save_statements(
                batch, authority=authority, credential=credential.key, version="1.0.3", attachments=[]
            )
            on_done(count)
    finally:
        store.close()


def wait_for_processors(data: Path, plan: Plan, report: Report) -> None:
    """Queries should not race the in-process processors still folding the load."""
    stored, processed = processor_lag(data)
    lag = stored - processed
    report.processors = {"lag_after_load": lag, "caught_up_seconds": 0.0, "caught_up": lag == 0}
    if lag == 0:
        console.print("In-process processors (learner profiles) had kept up with the load.")
        return
    console.print(f"In-process processors are {lag:,} statements behind; waiting (at most {plan.catch_up_timeout:.0f} s).")
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < plan.catch_up_timeout:
        time.sleep(1)
        stored, processed = processor_lag(data)
        if processed >= stored:
            break
    waited = time.perf_counter() - t0
    caught_up = processed >= stored
    report.processors.update({"caught_up_seconds": round(waited, 1), "caught_up": caught_up,
                              "lag_at_queries": stored - processed})  # fmt: skip
    if caught_up:
        console.print(f"Processors caught up in {waited:,.0f} s ({lag / max(waited, 1e-9):,.0f} statements/s).")
    else:
        console.print(f"[yellow]Processors still {stored - processed:,} behind after {waited:,.0f} s; "
                      "queries run while they work.[/]")  # fmt: skip


def query_paths(
    kind: str, count: int, stored: int, population: gen.Population, marks: list[datetime], rng: random.Random, seed: int
) -> list[str]:
    """`count` query URLs of one kind, each with values taken from a random stored statement."""
    verbs = [v for v, _, _ in gen.VERBS]
    weights = [w for _, _, w in gen.VERBS]
    paths: list[str] = []
    for _ in range(count):
        statement = gen.make_statement(rng.randrange(stored), population, seed)
        if kind == "agent":
            query = f"agent={gen.agent_param(statement['actor'])}"
        elif kind == "verb":
            query = f"verb={quote(rng.choices(verbs, weights)[0], safe='')}"
        elif kind == "activity":
            query = f"activity={quote(statement['object']['id'], safe='')}"
        elif kind == "registration":
            query = f"registration={statement['context']['registration']}"
        elif kind == "since":
            # An incremental sync: "what was stored after my last checkpoint", oldest first.
            moment = rng.choice(marks).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            query = f"since={quote(moment, safe='')}&ascending=true"
        else:
            query = (
                f"agent={gen.agent_param(statement['actor'])}"
                f"&verb={quote(statement['verb']['id'], safe='')}"
            )
        paths.append("/statements?" + query)
    return paths


def run_queries(
    server: h.Server,
    plan: Plan,
    population: gen.Population,
    stored: int,
    marks: list[datetime],
    args: argparse.Namespace,
    report: Report,
) -> None:
    """Latency of each query kind: one connection, one query at a time, kinds interleaved."""
    console.rule(f"[bold]3. Query latency over {stored:,} statements (GET /xapi/statements)")
    rng = random.Random(args.seed + 7)
    if not marks:  # stored without a load phase (tiny --statements): use "now" minus a bit
        marks = [datetime.now(UTC)]
    work: list[tuple[str, str]] = []
    warmup: list[tuple[str, str]] = []
    for kind in QUERY_KINDS:
        paths = query_paths(kind, plan.queries_per_kind + plan.warmup_per_kind, stored, population,
                            marks, rng, args.seed)  # fmt: skip
        warmup += [(kind, p) for p in paths[: plan.warmup_per_kind]]
        work += [(kind, p) for p in paths[plan.warmup_per_kind :]]
    rng.shuffle(work)  # interleaved, so slow drifts (cache, processors) hit every kind alike
    conn = h.Connection(server)
    for _, path in warmup:
        conn.request("GET", path)
    latencies: dict[str, list[float]] = {kind: [] for kind in QUERY_KINDS}
    returned: dict[str, int] = dict.fromkeys(QUERY_KINDS, 0)
    answers: list[tuple[str, bytes]] = []
    failures = 0
    meter = h.Meter(server.pid)
    for kind, path in work:
        started = time.perf_counter()
        status, body = conn.request("GET", path)
        latencies[kind].append(time.perf_counter() - started)
        if status != 200:
            failures += 1
            if failures <= 3:
                report.errors.append(f"query {kind} {path[:120]} -> HTTP {status}: {body[:200]!r}")
        answers.append((kind, body))
    used = meter.read()
    conn.close()
    for kind, body in answers:  # parsed after the clock stopped
        try:
            returned[kind] += len(orjson.loads(body).get("statements", []))
        except (orjson.JSONDecodeError, AttributeError):
            pass
    table = Table("query", "n", "p50", "p95", "p99", "max", "statements returned (mean)")
    for kind in QUERY_KINDS:
        values = latencies[kind]
        row = {
            "n": len(values),
            "p50_ms": round(h.percentile(values, 50) * 1000, 2),
            "p95_ms": round(h.percentile(values, 95) * 1000, 2),
            "p99_ms": round(h.percentile(values, 99) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2) if values else float("nan"),
            "mean_returned": round(returned[kind] / max(1, len(values)), 1),
        }
        report.queries[kind] = row
        table.add_row(kind, str(row["n"]), f"{row['p50_ms']:.1f} ms", f"[bold]{row['p95_ms']:.1f} ms[/]",
                      f"{row['p99_ms']:.1f} ms", f"{row['max_ms']:.1f} ms", f"{row['mean_returned']:.1f}")  # fmt: skip
    console.print(table)
    p95 = report.queries["agent+verb"]["p95_ms"]
    verdict = "[green]met[/]" if p95 < TARGET_P95_MS else "[red]missed[/]"
    console.print(
        f"Target p95 < {TARGET_P95_MS:.0f} ms for agent+verb over a 1M store: {verdict} ({p95:.1f} ms"
        f" over {stored:,} statements). Default page size (100); {failures} failed queries. "
        f"During the queries: server {used['server']:.2f} core, client {used['client']:.2f}, other processes "
        f"{used['others']:.2f}, iowait {used['iowait']:.2f}."
    )
    report.settings["query_phase_cpu"] = {k: round(v, 2) for k, v in used.items()}
    if failures:
        report.errors.append(f"{failures} queries failed")

    # The same agent+verb queries from every connection at once: throughput, and whether
    # memory stays put when many reader threads (each with its own SQLite connection) run.
    paths = [p for k, p in work if k == "agent+verb"] * max(1, args.connections // 2)
    local = threading.local()
    opened: list[h.Connection] = []

    def fetch(path: str) -> int:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = h.Connection(server)
            opened.append(conn)
        return conn.request("GET", path)[0]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.connections) as pool:
        statuses = list(pool.map(fetch, paths))
    elapsed = time.perf_counter() - t0
    for conn in opened:
        conn.close()
    memory = server.memory_kib()
    report.concurrent_queries = {
        "connections": args.connections,
        "queries": len(paths),
        "per_second": round(len(paths) / elapsed, 1),
        "failed": sum(1 for s in statuses if s != 200),
        "rss_after_mib": round(memory.get("VmRSS", 0) / 1024, 1),
    }
    console.print(
        f"agent+verb from {args.connections} connections at once: "
        f"[bold]{report.concurrent_queries['per_second']:,.0f} queries/s[/] "
        f"({report.concurrent_queries['failed']} failed); server RSS afterwards "
        f"{report.concurrent_queries['rss_after_mib']:,.0f} MiB."
    )


def run_ralph(plan: Plan, population: gen.Population, args: argparse.Namespace, workdir: Path,
              report: Report, servers: list[h.Server]) -> None:  # fmt: skip
    """Ralph gets the batch-of-100 workload that our LRS got in phase 1: same bodies, client."""
    console.rule("[bold]4. Peer: Ralph (ralph-malph), same batch-of-100 workload")
    cache = Path(args.ralph_cache).expanduser()
    total = plan.batch_totals[100]  # the very statements our LRS got in phase 1
    first = 200 + sum(t for s, t in plan.batch_totals.items() if s < 100)  # same ids as ours
    report.ralph = {"version": peer_ralph.RALPH_VERSION, "statements": total, "quoted_rate": PEER_RALPH_QUOTED}
    try:
        with console.status(f"installing ralph-malph {peer_ralph.RALPH_VERSION} into {cache / 'ralph-venv'} (once)"):
            python = peer_ralph.ensure_installed(cache, workdir / "ralph-install.log")
        server = peer_ralph.start(python, workdir)
    except peer_ralph.PeerUnavailable as exc:
        report.ralph["unavailable"] = str(exc)
        console.print(f"[yellow]Ralph is not available, so it is not measured: {exc}[/]")
        return
    servers.append(server)
    try:
        poster = h.Poster(server, args.connections)
        warm = poster.run(bodies(10_000_000, 200, 100, population, args.seed + 1))
        prepared = list(bodies(first, total, 100, population, args.seed))
        result = poster.run(prepared)
        poster.close()
        report.ralph.update(
            {
                "rate": round(result.rate, 1),
                "seconds": round(result.seconds, 2),
                "errors": result.errors + warm.errors,
                "server_cpu": round(result.server_load, 2),
                "cpu_s_per_1000": round(result.server_cpu / max(1, result.statements) * 1000, 3),
                "client_cpu": round(result.client_load, 2),
                "others_cpu": round(result.others_load, 2),
                "iowait": round(result.iowait_load, 2),
                "p50_ms": round(h.percentile(result.latencies, 50) * 1000, 1),
                "peak_rss_mib": round(server.memory_kib().get("VmHWM", 0) / 1024, 1),
            }
        )
        if result.errors or warm.errors:
            report.errors.append(f"Ralph: {result.errors + warm.errors} failed requests, e.g. "
                                 f"{(warm.error_samples + result.error_samples)[:2]}")  # fmt: skip
        console.print(
            f"Ralph {peer_ralph.RALPH_VERSION} (filesystem backend), {total:,} statements in batches of 100 over "
            f"{args.connections} connections: [bold]{result.rate:,.0f} statements/s[/] "
            f"(server {result.server_load:.2f} core, {report.ralph['cpu_s_per_1000']:.3f} CPU-s per 1,000, other processes {result.others_load:.2f}, iowait "
            f"{result.iowait_load:.2f}, request p50 {report.ralph['p50_ms']:.0f} ms, {result.errors} errors)."
        )
    finally:
        server.stop()
        servers.remove(server)


def run_floor(plan: Plan, population: gen.Population, args: argparse.Namespace, workdir: Path,
              report: Report) -> None:  # fmt: skip
    """The floor beside the figures of the same run: phase 1's batch-of-100 bodies parsed and
    validated by our code, then one executemany into one table, FULL, in this process."""
    console.rule("[bold]5. Floor: parse + validate + one executemany into one table (FULL), in-process")
    if 100 not in plan.batch_totals:
        return
    total = plan.batch_totals[100]
    first = 200 + sum(t for s, t in plan.batch_totals.items() if s < 100)  # phase 1's ids
    sent = [body for body, _ in bodies(first, total, 100, population, args.seed)]
    wall_rate, cpu_rate, cpu_per_1000 = profile_ingest.floor(sent, workdir / "floor.db")
    report.floor = {"statements": total, "rate": wall_rate, "cpu_rate": cpu_rate, "cpu_s_per_1000": cpu_per_1000}
    console.print(
        f"{total:,} statements in batches of 100, one thread: {wall_rate:,.0f} statements/s wall, "
        f"{cpu_per_1000:.3f} CPU-s per 1,000 ({cpu_rate:,.0f}/s per CPU-second)"
    )


def summary(report: Report, plan: Plan) -> None:
    console.rule("[bold]Summary")
    table = Table("what", "figure")
    for size, row in report.batches.items():
        table.add_row(f"ingest, batches of {size:,}", f"{row['rate']:,.0f} statements/s")
    if "rate" in report.ralph:
        ours = report.batches.get(100, {}).get("rate", 0.0)
        ratio = f", ours is {ours / report.ralph['rate']:.1f}x" if report.ralph["rate"] else ""
        table.add_row(
            "Ralph, batches of 100 (same run)",
            f"{report.ralph['rate']:,.0f} statements/s{ratio} (quoted: {PEER_RALPH_QUOTED:.0f})",
        )
    elif report.ralph:
        table.add_row("Ralph, batches of 100", "not measured: " + report.ralph.get("unavailable", "?")[:80])
    else:
        table.add_row("Ralph, batches of 100", f"not measured (use --peer-ralph); quoted {PEER_RALPH_QUOTED:.0f}/s")
    if report.floor:
        table.add_row(
            "floor, batches of 100 (same run, in-process)",
            f"{report.floor['rate']:,.0f} statements/s, {report.floor['cpu_s_per_1000']:.3f} CPU-s per 1,000",
        )
    if report.load:
        table.add_row(f"load to {plan.statements:,} ({report.load['via']})", f"{report.load.get('rate', 0):,.0f} statements/s")
    for kind, row in report.queries.items():
        table.add_row(f"query {kind}", f"p50 {row['p50_ms']:.1f} / p95 {row['p95_ms']:.1f} / p99 {row['p99_ms']:.1f} ms")
    for row in report.memory:
        if row["percent"] in (10, 50, 100):
            table.add_row(f"RSS at {row['percent']}% of the load (server + processors)", f"{row['rss_mib']:,.0f} MiB ({row['store']:,} statements)")
            if "server_median_mib" in row:
                table.add_row("  over that 10%: server median; processors low / median / high",
                              f"{row['server_median_mib']:,.0f}; {row['children_min_mib']:,.0f} / "
                              f"{row['children_median_mib']:,.0f} / {row['children_max_mib']:,.0f} MiB")  # fmt: skip
    table.add_row("peak RSS (VmHWM, server + processors), whole run", f"{report.peak_rss_mib:,.0f} MiB")
    table.add_row("store on disk", f"{report.db_mib:,.0f} MiB")
    console.print(table)
    for error in report.errors:
        console.print(f"[red]error: {error}[/]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a one-minute check: 20,000 statements, fewer queries")
    parser.add_argument("--statements", type=int, help="store size to build (default 1,000,000; --quick 20,000)")
    parser.add_argument("--peer-ralph", action="store_true", help="also measure Ralph (installs it into --ralph-cache)")
    parser.add_argument("--ralph-cache", default="~/.cache/lrs-bench", help="where Ralph's virtualenv lives")
    parser.add_argument("--load", choices=["http", "direct"], default="http",
                        help="build the store over HTTP (default) or with SQLiteStore.save_statements")  # fmt: skip
    parser.add_argument("--batches", help="batch sizes and statements per phase, e.g. 100:20000,1:2000 "
                        "(default 1:2000,10:10000,100:20000,1000:50000; --quick fewer)")  # fmt: skip
    parser.add_argument("--connections", type=int, default=8, help="concurrent client connections (default 8)")
    parser.add_argument("--queries", type=int, help="queries per kind (default 500; --quick 100)")
    parser.add_argument("--catch-up-timeout", type=float,
                        help="seconds to wait for the in-process processors before querying "
                             "(default 300; --quick 60); 0 queries at once, while they work")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated statements")
    parser.add_argument("--workdir", help="where the temporary data directory goes (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory afterwards")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--ingest-only", action="store_true",
                        help="only the ingest-by-batch-size phase (and Ralph with --peer-ralph), with "
                             "the learners, courses and activities of a --statements store: a quick "
                             "re-run of that phase on a quiet machine")  # fmt: skip
    args = parser.parse_args()
    plan = make_plan(args)
    population = gen.Population.for_statements(plan.statements)
    report = Report(started=datetime.now(UTC).isoformat(timespec="seconds"), machine=describe_machine())
    report.settings = {"quick": args.quick, "statements": plan.statements, "connections": args.connections,
                       "load": args.load, "seed": args.seed, "queries_per_kind": plan.queries_per_kind}  # fmt: skip
    m = report.machine
    console.print(
        f"[bold]lrs benchmark[/] {report.started}  |  {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']}, lrs {m['lrs_commit']}"
    )
    sample = gen.make_statement(0, population, args.seed)
    size = sum(len(orjson.dumps(gen.make_statement(i, population, args.seed))) for i in range(200)) / 200
    console.print(f"Statements: ~{size:,.0f} bytes each ({len(sample)} top-level properties, context with "
                  f"registration/parent/grouping/category/instructor, result with score/success/duration); "
                  f"{population.learners:,} learners, {population.courses:,} courses.")  # fmt: skip

    workdir = Path(tempfile.mkdtemp(prefix="lrs-bench-", dir=args.workdir))
    data = workdir / "lrs-data"
    servers: list[h.Server] = []
    started = time.perf_counter()
    try:
        server = start_lrs(data)
        servers.append(server)
        console.print(f"lrs serve: pid {server.pid}, {server.base_url}/, data in {data}")
        stored = run_batches(server, data, plan, population, args, report)
        if args.ingest_only:
            server.stop()
            servers.remove(server)
            if args.peer_ralph:
                run_ralph(plan, population, args, workdir, report, servers)
            run_floor(plan, population, args, workdir, report)
            console.print(f"Total time {time.perf_counter() - started:,.0f} s.")
            if args.json:
                Path(args.json).write_text(json.dumps(report.__dict__, indent=2, default=str))
            return 1 if report.errors else 0
        marks = run_load(server, data, plan, population, stored, args, report)
        stored = max(stored, plan.statements)
        wait_for_processors(data, plan, report)
        run_queries(server, plan, population, stored, marks, args, report)
        report.peak_rss_mib = round(server.memory_kib().get("VmHWM", 0) / 1024, 1)
        report.db_mib = round(db_size_mib(data), 1)
        server.stop()
        servers.remove(server)
        if args.peer_ralph:
            run_ralph(plan, population, args, workdir, report, servers)
        run_floor(plan, population, args, workdir, report)
        summary(report, plan)
        console.print(f"Total time {time.perf_counter() - started:,.0f} s.")
        if args.json:
            Path(args.json).write_text(json.dumps(report.__dict__, indent=2, default=str))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping the servers[/]")
        return 130
    finally:
        for server in reversed(servers):
            server.stop()
        if args.keep:
            console.print(f"data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
