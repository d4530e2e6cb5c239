"""Benchmark the pages' server time (issue 15.9): p50/p95 per page on a seeded store.

    python benchmarks/bench_web.py [--persons N] [--statements-per-person S] [--runs R]
    (default 2,000 persons x 10 statements; the issue's target is 100,000 x 10)

N persons in classes of 30 (rosters with names), 20 communes, 5 schools, the four target
groups of Decision 757; each person has S statements on DigComp-aligned lessons, a third of
them quiz answers with an interaction definition. Stored with the store API and folded with
`catch_up` (set-up, not timed). Then the app (lrs.web.app.create_app, as `lrs serve` runs it) is
driven in this process through Starlette's TestClient, signed in as an admin: each page R
times (different classes and persons), wall time and this process's CPU per request. The
class page's API twin (/api/v1/groups/{class}/competencies) runs in the same run as the
figure to compare with: the page adds the roster, inactivity and item analysis to it.
Pages over the whole province (/areas, /public) are computed on read from
lrs.competency.aggregates, so they grow with the persons counted (see bench_aggregates.py).
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from starlette.testclient import TestClient  # noqa: E402

from benchmarks.harness import percentile  # noqa: E402
from consumers.reducers.enabled import reducers  # noqa: E402
from consumers.runtime.local import catch_up  # noqa: E402
from lrs.auth import create_credential  # noqa: E402
from lrs.competency.aggregates import maintain as maintain_aggregates  # noqa: E402
from lrs.competency.registry import import_rules  # noqa: E402
from lrs.config import load_settings  # noqa: E402
from lrs.rosters import class_definition, person_record, save_class, save_person  # noqa: E402
from lrs.web.app import create_app  # noqa: E402

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CODES = ["1.1", "1.2", "1.3", "2.1", "2.3", "3.1", "4.1", "4.3", "5.1"]
GROUPS = ["pupils_students", "citizens", "public_servants", "enterprise_workers"]
SITE = "https://bench.example.vn"
IDS = uuid.UUID("b0b0b0b0-0000-4000-8000-00000000015a")


def seed(app: object, persons: int, per_person: int) -> list[str]:
    store = app.state.store  # type: ignore[attr-defined]
    import_rules(store, {
        "id": "bench", "framework": DIGCOMP,
        "rules": [{"id": c, "competence": f"{DIGCOMP}/competence/{c}", "level": "2",
                   "match": {"activity": f"{SITE}/lesson/{c}"}} for c in CODES],
    })  # fmt: skip
    classes = []
    batch: list[dict[str, object]] = []
    for start in range(0, persons, 30):
        class_id = f"{SITE}/class/c{start // 30:05d}"
        members = {f"account:{SITE}|p{n}": f"Người học {n}" for n in range(start, min(persons, start + 30))}
        save_class(store, class_definition(class_id, f"Lớp {start // 30}", members,
                                           org=None, school=f"{SITE}/org/s{start // 30 % 5}",
                                           names=members))  # fmt: skip
        classes.append(class_id)
    for n in range(persons):
        key = f"account:{SITE}|p{n}"
        save_person(store, person_record(f"p-{n}", name=f"Người học {n}", commune=f"commune-{n % 20:02d}",
                                         target_group=GROUPS[n % 4]))  # fmt: skip
        store.link_keys(f"p-{n}", [key])
        class_id = f"{SITE}/class/c{n // 30:05d}"
        for i in range(per_person):
            quiz = i % 3 == 2
            code = CODES[(n + i) % len(CODES)]
            activity = f"{SITE}/quiz/q{i % 7}" if quiz else f"{SITE}/lesson/{code}"
            statement: dict[str, object] = {
                "id": str(uuid.uuid5(IDS, f"{n}/{i}")),
                "actor": {"account": {"homePage": SITE, "name": f"p{n}"}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/" + ("answered" if quiz else "completed")},
                "object": {"id": activity, "definition": {"interactionType": "choice"}} if quiz else {"id": activity},
                "result": {"success": (n + i) % 4 != 0} if quiz else {"completion": True},
                "context": {"contextActivities": {"grouping": [{"id": class_id}]}},
                "timestamp": f"2025-{9 + i % 3:02d}-{1 + (n + i) % 28:02d}T02:00:00Z",
            }  # fmt: skip
            batch.append(statement)
        if len(batch) >= 5000:
            store.save_statements(batch, authority={"mbox": "mailto:b@x.vn"}, credential="bench",
                                  version="1.0.3", attachments=[])  # fmt: skip
            batch = []
    if batch:
        store.save_statements(batch, authority={"mbox": "mailto:b@x.vn"}, credential="bench",
                              version="1.0.3", attachments=[])  # fmt: skip
    catch_up(store, reducers(store))
    started = time.perf_counter()
    placed = maintain_aggregates(store)  # what the processors do every 5 s; not a page's work
    print(f"stored aggregates: {placed:,} persons placed in {time.perf_counter() - started:.1f} s "
          "(the processors' work, not timed below)")  # fmt: skip
    return classes


def timed(client: TestClient, paths: list[str]) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for path in paths:
        cpu, wall = time.process_time(), time.perf_counter()
        answer = client.get(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    return walls, cpus


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=2_000)
    parser.add_argument("--statements-per-person", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as folder:
        # no 60 s request timeout: the province-wide pages' cold time is a figure to report
        app = create_app(load_settings(data=folder, processors=False, request_timeout=0))
        started = time.perf_counter()
        classes = seed(app, args.persons, args.statements_per_person)
        total = args.persons * args.statements_per_person
        print(f"seeded {args.persons:,} persons, {total:,} statements, {len(classes):,} classes"
              f" in {time.perf_counter() - started:.0f} s (not timed below)")  # fmt: skip
        new = create_credential(app.state.store, "bench", ["all", "admin"], role="admin")
        client = TestClient(app, base_url="http://127.0.0.1")
        page = client.get("/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        client.post("/signin", data={"key": new.credential.key, "secret": new.secret,
                                     "csrf": token.group(1)})  # fmt: skip
        basic = "Basic " + base64.b64encode(f"{new.credential.key}:{new.secret}".encode()).decode()
        runs = args.runs
        step = max(1, len(classes) // runs)
        pick_classes = [classes[(i * step) % len(classes)] for i in range(runs)]
        pick_persons = [f"p-{(i * 7919) % args.persons}" for i in range(runs)]
        pages: list[tuple[str, Callable[[], list[str]]]] = [
            ("/class", lambda: [f"/class?id={c}&framework={DIGCOMP}" for c in pick_classes]),
            ("API twin /api/v1/groups/{class}/competencies", lambda: []),
            ("/person", lambda: [f"/person?id={p}&framework={DIGCOMP}" for p in pick_persons]),
            ("/audit?person=", lambda: [f"/audit?person={p}" for p in pick_persons]),
            ("/ops", lambda: ["/ops"] * runs),
            ("/public (cached release)", lambda: [f"/public?framework={DIGCOMP}&by=commune"] * runs),
            ("/areas (months=1)", lambda: [f"/areas?framework={DIGCOMP}&by=commune&months=1"] * min(runs, 2)),
        ]
        print(f"load {os.getloadavg()[0]:.2f}; {runs} requests per page; wall p50/p95, CPU per request")
        for name, paths in pages:
            if name.startswith("API twin"):
                client.headers["Authorization"] = basic
                walls, cpus = timed(client, [f"/api/v1/groups/{c}/competencies?framework={DIGCOMP}" for c in pick_classes])
                del client.headers["Authorization"]
            else:
                if name.startswith("/public"):
                    cold, cold_cpu = timed(client, paths()[:1])  # computed once, then cached
                    print(f"{'/public (release computed, cold)':48s} {cold[0] * 1000:10.1f} ms once"
                          f"        CPU {cold_cpu[0] * 1000:8.1f} ms")  # fmt: skip
                walls, cpus = timed(client, paths())
            print(f"{name:48s} p50 {percentile(walls, 50) * 1000:8.1f} ms  p95 {percentile(walls, 95) * 1000:8.1f} ms"
                  f"  CPU {sum(cpus) / len(cpus) * 1000:8.1f} ms/request")  # fmt: skip
        client.close()
        app.state.store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
