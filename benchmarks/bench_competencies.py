"""Benchmark competency status: recomputing it for 100,000 learners, and reading it back.

    python benchmarks/bench_competencies.py [--quick] [--learners N] [--per-learner K]

What it does, and why (figures in benchmarks/PIPELINE.md):
1. Generates K (default 5) aligned statements for each of N learners (default 100,000, so
   ~500,000 statements; --quick 10,000 learners), grouped in classes of 40: every statement
   carries the class IRI as context grouping, the way an LMS names the course section.
   Alignment rules over DigComp 2.2 (21 competences, two levels each: "completed" -> level 2,
   an assessment scored >= 0.8 -> level 4) are imported with
   `lrs.competency.registry.import_rules`, as `lrs alignments import` does.
2. Stores the statements **directly with the store API** (`SQLiteStore.save_statements`,
   in this process, batches of 1,000): setting up, not an ingest figure (bench_lrs.py
   measures ingest over HTTP).
3. Times `consumers.runtime.local.rebuild(store, CompetencyReducer)`, the code behind
   `lrs rebuild competencies` (what an operator runs after changing alignment rules), and
   reports learners/s and statements/s. It also rebuilds profiles, because class
   membership is read from profiles (`course` index), and reports that separately.
4. Starts `lrs serve` on that data and measures, one request at a time after a warm-up,
   GET /api/v1/learners/{key}/competencies?framework=digcomp-2.2 over 500 random learners,
   and GET /api/v1/groups/{class}/competencies?framework=digcomp-2.2 over 50 random classes
   of 40, each p50/p95/p99; checks every answer (200, the right learner count per class).
5. Reports peak RSS (VmHWM) of this process (the rebuild ran here) and of the server.

Loopback only; the server is stopped by its PID in `finally`.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import harness as h
import orjson
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
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from consumers.reducers.competencies import CompetencyReducer  # noqa: E402
from consumers.reducers.profiles import REDUCER as PROFILES  # noqa: E402
from consumers.runtime.local import rebuild  # noqa: E402
from lrs.adapters.sqlite import SQLiteStore  # noqa: E402
from lrs.competency.rebuilds import recompute  # noqa: E402
from lrs.competency.registry import import_rules, rulesets  # noqa: E402

SCHOOL = "https://lms.school.example.edu.vn"
DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
COMPETENCES = [f"{a}.{c}" for a, n in ((1, 3), (2, 6), (3, 4), (4, 4), (5, 4)) for c in range(1, n + 1)]
CLASS_SIZE = 40
BASE_TIME = datetime(2025, 9, 1, 7, 0, tzinfo=UTC)
AUTHORITY = {"objectType": "Agent", "account": {"homePage": "http://127.0.0.1", "name": "bench"}}
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
LESSON = "http://adlnet.gov/expapi/activities/lesson"

console = Console(highlight=False, width=max(140, shutil.get_terminal_size((140, 40)).columns))


def digcomp_rules() -> dict[str, Any]:
    """Two rules per DigComp 2.2 competence, matched by activity id prefix (an LMS never
    carries competency IRIs, so prefixes are what a real deployment would write)."""
    rules: list[dict[str, Any]] = []
    for code in COMPETENCES:
        prefix = f"{SCHOOL}/digcomp/{code}/"
        competence = f"{DIGCOMP}/competence/{code}"
        rules.append({"id": f"{code}-done", "competence": competence, "level": "2",
                      "match": {"activity_prefix": prefix}, "when": {"completed": True}})  # fmt: skip
        rules.append({"id": f"{code}-mastered", "competence": competence, "level": "4",
                      "match": {"activity_prefix": prefix, "activity_type": ASSESSMENT},
                      "when": {"min_score": 0.8}})  # fmt: skip
    return {"id": "bench-digcomp", "framework": DIGCOMP, "title": "benchmark rules", "rules": rules}


def class_iri(learner: int) -> str:
    return f"{SCHOOL}/class/{learner // CLASS_SIZE}"


def learner_key(learner: int) -> str:
    return f"account:{SCHOOL}|s{learner:07d}"


def learner_statements(learner: int, per_learner: int, seed: int) -> list[dict[str, Any]]:
    """`per_learner` aligned statements of one learner, deterministic from (seed, learner)."""
    rng = random.Random(seed * 1_000_003 + learner)
    out = []
    for k in range(per_learner):
        code = rng.choice(COMPETENCES)
        assessed = rng.random() < 0.5
        raw = rng.randrange(0, 101)
        verb = ("passed" if raw >= 50 else "failed") if assessed else "completed"
        when = BASE_TIME + timedelta(seconds=learner * 97 + k * 3600 + rng.randrange(3600))
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "actor": {"objectType": "Agent", "name": f"Học sinh {learner:07d}",
                      "account": {"homePage": SCHOOL, "name": f"s{learner:07d}"}},
            "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
            "object": {"objectType": "Activity",
                       "id": f"{SCHOOL}/digcomp/{code}/{'quiz' if assessed else 'lesson'}/{rng.randrange(6)}",
                       "definition": {"type": ASSESSMENT if assessed else LESSON,
                                      "name": {"en-US": f"DigComp {code} {'quiz' if assessed else 'lesson'}"}}},
            "result": {"completion": True, "success": raw >= 50 if assessed else True,
                       **({"score": {"raw": raw, "min": 0, "max": 100, "scaled": raw / 100}} if assessed else {}),
                       "duration": f"PT{rng.randrange(2, 50)}M"},
            "context": {"contextActivities": {"grouping": [{"id": class_iri(learner)}]},
                        "platform": "Moodle 4.3", "language": "vi-VN"},
            "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        })  # fmt: skip
    return out


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.speed}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)  # fmt: skip


def self_hwm_mib() -> float:
    return h.proc_memory_kib(os.getpid())["VmHWM"] / 1024


def start_lrs(data: Path) -> h.Server:
    lrs = [sys.executable, "-m", "lrs.cli"]
    created = subprocess.run(
        [*lrs, "credentials", "create", "--data", str(data), "--init", "--name", "bench", "--scope", "all", "--json"],
        check=True, capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    credential = orjson.loads(created.stdout)
    port = h.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    return h.start_server(
        "lrs",
        [*lrs, "serve", "--data", str(data), "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        base_url=f"http://127.0.0.1:{port}/xapi",
        ready_path="/health",
        authorization=h.basic_auth(credential["key"], credential["secret"]),
        log_path=data.parent / "lrs-serve.log",
        cwd=REPO,
        env=env,
    )  # fmt: skip


def timed_gets(conn: h.Connection, paths: list[str], check: Any, warmup: int) -> list[float]:
    """One request at a time (a teacher's dashboard, not a load test); uncounted warm-up."""
    for path in paths[:warmup]:
        conn.request("GET", path)
    latencies = []
    for path in paths:
        t0 = time.perf_counter()
        status, body = conn.request("GET", path)
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status} {body[:300]!r}")
        check(orjson.loads(body))
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 learners")
    parser.add_argument("--learners", type=int, help="learners (default 100,000; quick 10,000)")
    parser.add_argument("--per-learner", type=int, default=5, help="aligned statements per learner (default 5)")
    parser.add_argument("--learner-queries", type=int, default=500)
    parser.add_argument("--class-queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--workdir", help="keep the data here instead of a temporary directory")
    args = parser.parse_args()
    learners = args.learners or (10_000 if args.quick else 100_000)
    total = learners * args.per_learner
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    console.print(f"bench_competencies {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; "
                  f"Python {platform.python_version()}; load average {load}")  # fmt: skip
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lrs-competencies-"))
    data = workdir / "lrs-data"
    server: h.Server | None = None
    results: dict[str, Any] = {}
    try:
        store = SQLiteStore(data / "lrs.db")
        import_rules(store, digcomp_rules())
        console.print(f"storing {total:,} statements of {learners:,} learners with the store API "
                      "(SQLiteStore.save_statements, batches of 1,000; not an ingest figure)")  # fmt: skip
        t0 = time.perf_counter()
        with progress_bar() as progress:
            task = progress.add_task("store", total=total)
            batch: list[dict[str, Any]] = []
            for learner in range(learners):
                batch.extend(learner_statements(learner, args.per_learner, args.seed))
                if len(batch) >= 1000 or learner == learners - 1:
                    store.save_statements(batch, authority=AUTHORITY, credential="bench", version="1.0.3", attachments=[])
                    progress.advance(task, len(batch))
                    batch = []
        results["store_s"] = time.perf_counter() - t0
        console.print(f"stored in {results['store_s']:.1f} s ({total / results['store_s']:,.0f} statements/s)")

        for name, reducer in (("competencies", CompetencyReducer(lambda: rulesets(store))), ("profiles", PROFILES)):
            with progress_bar() as progress:
                task = progress.add_task(f"rebuild {name}", total=total)
                cpu0, t0 = time.process_time(), time.perf_counter()
                done = rebuild(store, reducer, progress=lambda n, task=task, progress=progress: progress.advance(task, n))
                seconds = time.perf_counter() - t0
                cpu = time.process_time() - cpu0
            results[name] = {"statements": done, "seconds": seconds, "cpu": cpu / seconds}
            console.print(f"rebuild {name}: {done:,} statements, {learners:,} learners in {seconds:.1f} s = "
                          f"[bold]{learners / seconds:,.0f} learners/s, {done / seconds:,.0f} statements/s[/] "
                          f"(CPU {cpu / seconds:.2f} core)")  # fmt: skip
        # A rule change (1.1's mastery asks 0.9 instead of 0.8): before this session every
        # change replayed the whole log (the `rebuild competencies` line above); now only
        # the statements the changed rule matches (old or new version) are re-contributed.
        before = digcomp_rules()
        after = copy.deepcopy(before)
        mastered = next(r for r in after["rules"] if r["id"] == "1.1-mastered")
        mastered["when"]["min_score"] = 0.9
        import_rules(store, after)
        cpu0 = time.process_time()
        change = recompute(store, CompetencyReducer(lambda: rulesets(store)), before, after)
        cpu = time.process_time() - cpu0
        seconds = change.status_s + change.aggregates_s
        results["change"] = (change, seconds, cpu)
        console.print(f"rule change (1 rule, old and new version): {change.statements:,} of {change.scanned:,} "
                      f"statements matched, {change.learners:,} learners' status rebuilt in "
                      f"[bold]{change.status_s:.1f} s[/], their aggregate rows {change.aggregates_s:.1f} s "
                      f"(CPU {cpu / seconds:.2f} core, {1000 * cpu / max(1, change.scanned) * 1000:.1f} ms CPU"
                      f" per 1,000 statements of the log); full replay above: "
                      f"{results['competencies']['seconds']:.1f} s")  # fmt: skip
        results["bench_hwm_mib"] = self_hwm_mib()
        store.close()

        server = start_lrs(data)
        conn = h.Connection(server)
        conn.root = ""  # the query API lives beside /xapi, not under it
        rng = random.Random(args.seed)
        picked = [rng.randrange(learners) for _ in range(args.learner_queries)]
        learner_paths = [f"/api/v1/learners/{quote(learner_key(n), safe='')}/competencies?framework=digcomp-2.2"
                         for n in picked]  # fmt: skip
        evidence = 0

        def check_learner(body: dict[str, Any]) -> None:
            nonlocal evidence
            evidence += sum(len(c["evidence"]) for c in body["competences"])

        learner_lat = timed_gets(conn, learner_paths, check_learner, 20)
        classes = max(1, learners // CLASS_SIZE)
        picked_classes = [rng.randrange(classes) for _ in range(args.class_queries)]
        class_paths = [f"/api/v1/groups/{quote(f'{SCHOOL}/class/{c}', safe='')}/competencies?framework=digcomp-2.2"
                       for c in picked_classes]  # fmt: skip
        sizes: list[int] = []
        class_lat = timed_gets(conn, class_paths, lambda body: sizes.append(body["count"]), 5)
        conn.close()
        server_mem = server.memory_kib()

        table = Table(title=f"Competency status reads, {learners:,} learners, {total:,} statements (one request at a time)")
        for col in ("GET", "requests", "p50", "p95", "p99", "max", "answers"):
            table.add_column(col, justify="right" if col != "GET" else "left")
        table.add_row("/learners/{key}/competencies", f"{len(learner_lat)}",
                      *(f"{1000 * h.percentile(learner_lat, q):.1f} ms" for q in (50, 95, 99)),
                      f"{1000 * max(learner_lat):.1f} ms", f"{evidence / len(learner_lat):.1f} evidence ids/learner")  # fmt: skip
        table.add_row("/groups/{class}/competencies", f"{len(class_lat)}",
                      *(f"{1000 * h.percentile(class_lat, q):.1f} ms" for q in (50, 95, 99)),
                      f"{1000 * max(class_lat):.1f} ms", f"{min(sizes)}-{max(sizes)} learners/class")  # fmt: skip
        console.print(table)
        summary = Table(title="Summary")
        summary.add_column("what")
        summary.add_column("figure", justify="right")
        for name in ("competencies", "profiles"):
            r = results[name]
            summary.add_row(f"rebuild {name}", f"{learners / r['seconds']:,.0f} learners/s, "
                            f"{r['statements'] / r['seconds']:,.0f} statements/s ({r['seconds']:.1f} s)")  # fmt: skip
        change, seconds, cpu = results["change"]
        summary.add_row("rule change: status recomputed (before: full replay)",
                        f"{change.status_s:.1f} s for {change.learners:,} learners "
                        f"(full replay {results['competencies']['seconds']:.1f} s)")  # fmt: skip
        summary.add_row("learner status p95", f"{1000 * h.percentile(learner_lat, 95):.1f} ms")
        summary.add_row("class of 40 status p95", f"{1000 * h.percentile(class_lat, 95):.1f} ms")
        summary.add_row("peak RSS, this process (store + rebuild)", f"{results['bench_hwm_mib']:,.0f} MiB")
        summary.add_row("peak RSS, lrs serve (API process, after the reads)", f"{server_mem['VmHWM'] / 1024:,.0f} MiB")
        summary.add_row("store on disk", f"{sum(p.stat().st_size for p in data.glob('lrs*.db*')) / 2**20:,.0f} MiB")
        console.print(summary)
        with open("/proc/loadavg") as handle:
            console.print(f"load average at the end {' '.join(handle.read().split()[:3])}")
    finally:
        if server is not None:
            server.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
