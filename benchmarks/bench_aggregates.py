"""Benchmark competency aggregates (issue 14.6/14.10): a province's figures at a date.

    python benchmarks/bench_aggregates.py [--persons N]   (default 20,000)

N persons in 20 communes (an attribute of each person), the four target groups of
Decision 757 in turn, each with 3 statements on DigComp-aligned lessons (so their Decision
757 status comes through the bundled crosswalk). Stored with the store API and folded with
`consumers.runtime.local.catch_up` (set-up, not timed). Then, in this process (no HTTP):
- `aggregates(by="commune")` over the whole province, once: the time and persons/s;
- `aggregates(by="commune", value=...)` for 10 communes: p50 and p95 of one commune's figures.
Aggregates are computed when read (each person's evidence folded, crosswalks applied), so
the cost grows linearly with the persons counted: the report extrapolates to 1,000,000.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from consumers.reducers.enabled import reducers  # noqa: E402
from consumers.runtime.local import catch_up  # noqa: E402
from lrs.competency.aggregates import aggregates  # noqa: E402
from lrs.competency.registry import find_framework, import_rules  # noqa: E402
from lrs.rosters import person_record, save_person  # noqa: E402
from lrs.storage import open_store  # noqa: E402

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CODES = ["1.1", "1.2", "1.3", "2.1", "2.3", "3.1", "4.1", "4.3", "5.1"]
GROUPS = ["pupils_students", "citizens", "public_servants", "enterprise_workers"]
SITE = "https://bench.example.vn"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/lrs.sqlite")
        try:
            import_rules(store, {
                "id": "bench", "framework": DIGCOMP,
                "rules": [{"id": c, "competence": f"{DIGCOMP}/competence/{c}", "level": "2",
                           "match": {"activity": f"{SITE}/lesson/{c}"}} for c in CODES],
            })  # fmt: skip
            ids = uuid.UUID("b0b0b0b0-0000-4000-8000-000000000757")
            batch = []
            for n in range(args.persons):
                key = f"account:{SITE}|p{n}"
                save_person(store, person_record(key, commune=f"commune-{n % 20:02d}",
                                                 target_group=GROUPS[n % 4]))  # fmt: skip
                for i in range(3):
                    code = CODES[(n + i * 4) % len(CODES)]
                    batch.append({
                        "id": str(uuid.uuid5(ids, f"{n}/{i}")),
                        "actor": {"account": {"homePage": SITE, "name": f"p{n}"}},
                        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
                        "object": {"id": f"{SITE}/lesson/{code}"},
                        "result": {"completion": True},
                        "timestamp": f"2025-10-{1 + (n + i) % 28:02d}T02:00:00Z",
                    })  # fmt: skip
                if len(batch) >= 3000:
                    store.save_statements(batch, authority={"mbox": "mailto:b@x.vn"},
                                          credential="bench", version="1.0.3", attachments=[])  # fmt: skip
                    batch = []
            if batch:
                store.save_statements(batch, authority={"mbox": "mailto:b@x.vn"},
                                      credential="bench", version="1.0.3", attachments=[])  # fmt: skip
            catch_up(store, reducers(store))
            framework = find_framework(store, "vn-decision-757-2025")
            assert framework is not None
            started = time.perf_counter()
            whole = aggregates(store, framework, "commune", "2025-10-31")
            took = time.perf_counter() - started
            counted = sum(g["persons"] for g in whole)
            assert counted == args.persons, counted
            times = []
            for c in range(10):
                started = time.perf_counter()
                one = aggregates(
                    store, framework, "commune", "2025-10-31", value=f"commune-{c:02d}"
                )
                times.append(time.perf_counter() - started)
                assert one[0]["persons"] == args.persons // 20
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
            rate = counted / took
            print(
                f"persons {counted:,}; whole province by commune {took:.2f} s = {rate:,.0f} persons/s"
            )
            print(f"one commune ({args.persons // 20:,} persons): p50 {statistics.median(times) * 1000:.0f} ms,"
                  f" p95 {p95 * 1000:.0f} ms")  # fmt: skip
            print(f"extrapolated to 1,000,000 persons: {1_000_000 / rate:,.0f} s for the province;"
                  f" a commune of 50,000 ~{50_000 / rate:,.1f} s")  # fmt: skip
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
