"""Benchmark competency aggregates (issue 14.6/14.10): a province's figures, stored.

    python benchmarks/bench_aggregates.py [--persons N] [--synthetic M] [--reads R]

Part A, real evidence (N persons, default 20,000): persons in 20 communes (an attribute of
each person), the four target groups of Decision 757 in turn, classes of 40 (rosters of
schools, each school in a commune), each person with 3 statements on DigComp-aligned
lessons (their Decision 757 status comes through the bundled crosswalk). Stored with the
store API and folded with `consumers.runtime.local.catch_up` (set-up, not timed). Then:
- build: `rebuild_aggregates` (every person's row from the evidence) -> persons/s;
- before: `computed_aggregates(by="commune")` over the province, as every read did until
  now (the peer figure, same data, same run);
- check: stored == computed for every dimension, now and as of a date;
- maintenance: 1,000 new statements folded (`catch_up`) then `maintain` -> CPU per 1,000;
- reads: one commune, one class of 40, the province by commune, one commune as of a date:
  p50/p95 over R reads each (default 200), in this process (no HTTP).
Part B, scale (M synthetic persons, default 1,000,000): rows of random Decision 757 status
(12 skills, dated changes over a term) placed in 25,000 classes of 40, 1,000 schools, 100
communes and 4 target groups, folded with `put_aggregate_rows` 2,000 at a time (the build
time of the counts at a million persons), then the same reads at that size. The rows are
synthetic because folding the evidence of 3,000,000 statements takes this 2-core shared
machine too long (Part A's persons/s extrapolates that).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from consumers.reducers.enabled import reducers  # noqa: E402
from consumers.runtime.local import catch_up  # noqa: E402
from lrs.competency.aggregates import (  # noqa: E402
    aggregates,
    computed_aggregates,
    maintain,
    rebuild_aggregates,
    save_organisation,
    stored_aggregates,
)
from lrs.competency.reading import as_of_bound  # noqa: E402
from lrs.competency.registry import find_framework, import_rules  # noqa: E402
from lrs.ports import Store  # noqa: E402
from lrs.rosters import class_definition, person_record, save_class, save_person  # noqa: E402
from lrs.storage import open_store  # noqa: E402

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
D757 = "vn-decision-757-2025"
CODES = ["1.1", "1.2", "1.3", "2.1", "2.3", "3.1", "4.1", "4.3", "5.1"]
GROUPS = ["pupils_students", "citizens", "public_servants", "enterprise_workers"]
SITE = "https://bench.example.vn"
AUTHORITY = {"mbox": "mailto:b@x.vn"}


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000


def timed(reads: int, call: Callable[[int], Any]) -> tuple[float, float]:
    times = []
    for n in range(reads):
        started = time.perf_counter()
        call(n)
        times.append(time.perf_counter() - started)
    return p(times, 50), p(times, 95)


def statement(n: int, i: int, day: int) -> dict[str, Any]:
    code = CODES[(n + i * 4) % len(CODES)]
    return {
        "id": str(uuid.uuid4()),
        "actor": {"account": {"homePage": SITE, "name": f"p{n}"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": f"{SITE}/lesson/{code}"},
        "result": {"completion": True},
        "timestamp": f"2025-10-{day:02d}T02:00:00Z",
    }


def save(store: Store, batch: list[dict[str, Any]]) -> None:
    store.save_statements(
        batch, authority=AUTHORITY, credential="bench", version="1.0.3", attachments=[]
    )


def part_a(folder: str, persons: int, reads: int) -> None:
    store = open_store(f"sqlite:///{folder}/lrs.sqlite")
    try:
        import_rules(store, {
            "id": "bench", "framework": DIGCOMP,
            "rules": [{"id": c, "competence": f"{DIGCOMP}/competence/{c}", "level": "2",
                       "match": {"activity": f"{SITE}/lesson/{c}"}} for c in CODES],
        })  # fmt: skip
        schools = max(1, persons // 400)
        for s in range(schools):
            save_organisation(store, {"id": f"{SITE}/school/{s}", "commune": f"commune-{s % 20:02d}"},
                              note=False)  # fmt: skip
        batch: list[dict[str, Any]] = []
        for n in range(persons):
            key = f"account:{SITE}|p{n}"
            save_person(store, person_record(key, target_group=GROUPS[n % 4]), note=False)
            batch += [statement(n, i, 1 + (n + i) % 28) for i in range(3)]
            if len(batch) >= 3000:
                save(store, batch)
                batch = []
        if batch:
            save(store, batch)
        for c in range(persons // 40):
            members = [f"account:{SITE}|p{n}" for n in range(c * 40, c * 40 + 40)]
            save_class(store, class_definition(f"{SITE}/class/{c}", f"K{c}", members,
                                               school=f"{SITE}/school/{c % schools}"))  # fmt: skip
        catch_up(store, reducers(store))
        framework = find_framework(store, D757)
        assert framework is not None

        cpu0, started = time.process_time(), time.perf_counter()
        built = rebuild_aggregates(store)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu0
        print(f"A. {persons:,} persons, {3 * persons:,} statements")
        print(f"   build (rows from the evidence, 3 frameworks): {built:,} persons in {took:.1f} s"
              f" = {built / took:,.0f} persons/s (CPU {cpu / took:.2f} core);"
              f" 1,000,000 persons extrapolated: {1_000_000 / (built / took) / 60:,.0f} min")  # fmt: skip

        started = time.perf_counter()
        computed = computed_aggregates(store, framework, "commune")
        before = time.perf_counter() - started
        print(f"   before (computed per request, whole province by commune): {before:.2f} s"
              f" = {persons / before:,.0f} persons/s; 1,000,000 extrapolated {1_000_000 / (persons / before):,.0f} s")  # fmt: skip
        assert stored_aggregates(store, framework, "commune") == computed
        for dimension in ("class", "org", "target_group"):
            for as_of in (None, "2025-10-10"):
                until = as_of_bound(as_of)
                assert aggregates(store, framework, dimension, until) == (
                    computed_aggregates(store, framework, dimension, until)
                ), (dimension, as_of)
        print("   check: stored == computed for commune, class, org, target group (now, as of 10 Oct)")

        extra = [statement(random.randrange(persons), 9, 29) for _ in range(1000)]
        save(store, extra)
        catch_up(store, reducers(store))
        cpu0, started = time.process_time(), time.perf_counter()
        changed = maintain(store)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu0
        print(f"   maintenance: 1,000 new statements -> {changed:,} rows changed in {took:.2f} s"
              f" ({cpu * 1000:,.0f} ms CPU per 1,000 statements)")  # fmt: skip

        report_reads(store, framework, reads, persons // 40, 20, "A")
    finally:
        store.close()


def report_reads(store: Store, framework: Any, reads: int, classes: int, communes: int, part: str) -> None:
    one = timed(reads, lambda n: aggregates(store, framework, "commune", value=f"commune-{n % communes:02d}"))
    klass = timed(reads, lambda n: aggregates(store, framework, "class", value=f"{SITE}/class/{(n * 7919) % classes}"))
    whole = timed(max(5, reads // 20), lambda n: aggregates(store, framework, "commune"))
    dated = timed(reads, lambda n: aggregates(store, framework, "commune", as_of_bound("2025-10-15"),
                                               value=f"commune-{n % communes:02d}"))  # fmt: skip
    print(f"   {part} reads p50/p95: one commune {one[0]:.1f}/{one[1]:.1f} ms; one class of 40"
          f" {klass[0]:.1f}/{klass[1]:.1f} ms; the province by commune {whole[0]:.1f}/{whole[1]:.1f} ms;"
          f" one commune as of 15 Oct {dated[0]:.1f}/{dated[1]:.1f} ms")  # fmt: skip


def synthetic_row(rng: random.Random, n: int, codes: list[str]) -> dict[str, Any]:
    cells, history = [], []
    for code in codes:
        roll = rng.random()
        state = "achieved" if roll < 0.45 else "in_progress" if roll < 0.75 else "not_started"
        cells.append(f"s|{code}|{state}")
        if state != "not_started":
            day = f"2025-{rng.choice(('09', '10', '11'))}-{rng.randrange(1, 29):02d}"
            history.append([day, f"s|{code}|in_progress", 1])
            if state == "achieved":
                cells.append(f"l|{code}|PC")
                done = f"2025-12-{rng.randrange(1, 29):02d}"
                history += [[done, f"s|{code}|in_progress", -1], [done, f"s|{code}|achieved", 1],
                            [done, f"l|{code}|PC", 1]]  # fmt: skip
    if all(c.endswith("achieved") or c.startswith("l|") for c in cells):
        cells.append("confirmed")
        history.append(["2025-12-28", "confirmed", 1])
    klass = n // 40
    return {
        "places": {
            "class": [f"{SITE}/class/{klass}"],
            "org": [f"{SITE}/school/{klass % 1000}"],
            "commune": [f"commune-{(klass % 1000) % 100:02d}"],
            "target_group": [GROUPS[n % 4]],
        },
        "cells": cells,
        "history": history,
    }


def part_b(folder: str, persons: int, reads: int) -> None:
    store = open_store(f"sqlite:///{folder}/synthetic.sqlite")
    try:
        framework = find_framework(store, D757)
        assert framework is not None
        codes = [c.code for c in framework.competences]
        rng = random.Random(757)
        cpu0, started = time.process_time(), time.perf_counter()
        for start in range(0, persons, 2000):
            rows = {f"p{n}": synthetic_row(rng, n, codes) for n in range(start, min(persons, start + 2000))}
            store.put_aggregate_rows(framework.id, rows)
        took, cpu = time.perf_counter() - started, time.process_time() - cpu0
        print(f"B. {persons:,} synthetic persons (Decision 757 rows)")
        print(f"   fold of the rows into the counts: {took:.1f} s = {persons / took:,.0f} persons/s"
              f" (CPU {cpu / took:.2f} core)")  # fmt: skip
        # reads need the log offsets in step: nothing to maintain in this store
        maintain(store)
        report_reads(store, framework, reads, persons // 40, 100, "B")
        size = sum(f.stat().st_size for f in Path(folder).glob("synthetic*"))
        print(f"   store on disk {size / 2**20:,.0f} MiB")
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=200)
    args = parser.parse_args()
    with open("/proc/loadavg") as handle:
        load = " ".join(handle.read().split()[:3])
    print(f"bench_aggregates {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores;"
          f" load average {load}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        if args.persons:
            part_a(folder, args.persons, args.reads)
        if args.synthetic:
            part_b(folder, args.synthetic, args.reads)
    with open("/proc/loadavg") as handle:
        print(f"load average at the end {' '.join(handle.read().split()[:3])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
