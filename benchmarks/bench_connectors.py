"""Connector throughput: records/s for every connector on N records (default 1,000,000), with
`--dry-run` (read + map + serialise to stdout, sent to /dev/null) and into the embedded store
(read + map + validate + store into a fresh data directory), each through the real command
`python -m lrs.cli connect SOURCE ...` in a child process, as an operator runs it.

Inputs are generated (deterministically: fixed seeds) from the public fixtures in
../shared/fixtures, replicated with varied ids, learners and times so that every record is
distinct; where no public fixture exists (OneRoster, CSV/JSON lines with a mapping file) they
are shaped like the project's own test data. Templates the mapping refuses are left out (the
numbers are about mapping, not about skipping), and the table says how many records each run
skipped anyway.

    python benchmarks/bench_connectors.py                         # 1,000,000 records each
    python benchmarks/bench_connectors.py --quick                 # 20,000 records each
    python benchmarks/bench_connectors.py --only openedx,caliper --records 200000
    python benchmarks/bench_connectors.py --store-records moodle-db=300000,oneroster=500000

`--store-records NAME=N` runs the store leg of NAME on the first N records only (the dry run
stays at --records): for a connector whose store leg would not fit in the time at hand.
`--store-timeout S` (default 900) stops a store leg that runs longer; the table says so.
Moodle from a database needs MariaDB at 127.0.0.1:3306 (as tests/connectors/ do); the tables
are created under a unique prefix in database `test` and dropped afterwards.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
FIXTURES = REPO.parent / "shared" / "fixtures"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine_cpu_seconds  # noqa: E402

console = Console(stderr=True)
START = datetime(2026, 9, 1, tzinfo=UTC)
LEARNERS = 20_000
MARIADB = "mysql://root:@127.0.0.1:3306/test"


def _moment(i: int) -> datetime:
    return START + timedelta(seconds=i * 7)


def _iso(i: int) -> str:
    return _moment(i).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# inputs


@dataclass
class Source:
    """A generated input: the `lrs connect` arguments, and how to cut it to its first n records."""

    args: list[str]
    cut: Callable[[int, Path], list[str]]  # (n, folder) -> args for the first n records
    notes: str = ""
    cleanup: Callable[[], None] = lambda: None


def _ticker(progress: Progress, label: str, total: int) -> Callable[[int], None]:
    task = progress.add_task(f"generate {label}", total=total)

    def tick(i: int) -> None:
        if i % 10_000 == 0 or i == total:
            progress.update(task, completed=i)

    return tick


def _cut_lines(path: Path, header: bool) -> Callable[[int, Path], Path]:
    """The first n records of a file of one record per line (CSV without line breaks in
    fields, JSON lines), plus the header line when there is one."""

    def cut(n: int, folder: Path) -> Path:
        target = folder / f"first-{n}-{path.name}"
        with open(path, "rb") as source, open(target, "wb") as out:
            for number, line in enumerate(source):
                if number >= n + (1 if header else 0):
                    break
                out.write(line)
        return target

    return cut


def _lines_source(
    path: Path, make_args: Callable[[Path], list[str]], header: bool = False, notes: str = ""
) -> Source:
    cutter = _cut_lines(path, header)
    return Source(make_args(path), lambda n, folder: make_args(cutter(n, folder)), notes)


def _check(mapping: Callable[[Any], list[dict[str, Any]]], record: Any) -> bool:
    from connectors.base import MappingError

    try:
        return bool(mapping(record))
    except (MappingError, KeyError, TypeError, ValueError):
        return False


def xapi_lines(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """Statements from event-routing-backends' expected xAPI output (openedx/xapi-expected),
    each with a new id, learner and timestamp."""
    folder = FIXTURES / "openedx" / "xapi-expected"
    import orjson

    from consumers.ingest import triage

    every = []
    for p in sorted(folder.glob("*.json")):
        value = json.loads(p.read_text())
        every.extend(value if isinstance(value, list) else [value])
    # some of event-routing-backends' statements are not valid xAPI for this LRS (a parent
    # with objectType "course", score.min == score.max...): left out, or the store leg
    # would time skipping
    templates = [t for t in every if triage([orjson.dumps(t)])[0]]
    rng = random.Random(11)
    path = work / "statements.jsonl"
    with open(path, "w") as out:
        for i in range(count):
            statement = copy.deepcopy(rng.choice(templates))
            statement["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            statement["timestamp"] = _iso(i)
            actor = statement.get("actor")
            if isinstance(actor, dict) and isinstance(actor.get("account"), dict):
                actor["account"]["name"] = f"learner-{i % LEARNERS}"
            out.write(json.dumps(statement) + "\n")
            tick(i + 1)
    return _lines_source(
        path,
        lambda p: ["xapi", "--input", str(p)],
        notes=f"{len(templates)} of {len(every)} statement shapes valid",
    )


def _openedx_templates() -> list[dict[str, Any]]:
    from connectors.base import MappingError
    from connectors.openedx import mapping_for
    from connectors.openedx.mapping import parse_log_line

    folder = FIXTURES / "openedx"
    templates = [json.loads(p.read_text()) for p in sorted((folder / "input").glob("*.json"))]
    for line in (folder / "tracking.log").read_bytes().splitlines():
        try:
            templates.append(parse_log_line(line))
        except MappingError:  # 2 of tracking.log's 12 lines are not whole JSON
            continue
    mapping = mapping_for("https://lms.example.org", {}, {})
    return [t for t in templates if _check(mapping, json.dumps(_vary_openedx(t, 1)).encode())]


def _vary_openedx(template: dict[str, Any], i: int) -> dict[str, Any]:
    """A new learner (every user id and username, at any depth) and a new time (`time` and
    `timestamp`: the statement id is derived from actor, verb and this text)."""
    user = i % LEARNERS

    def vary(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "user_id" and item not in (None, ""):
                    out[key] = str(1000 + user) if isinstance(item, str) else 1000 + user
                elif key == "username" and item:
                    out[key] = f"learner{user}"
                else:
                    out[key] = vary(item)
            return out
        if isinstance(value, list):
            return [vary(item) for item in value]
        return value

    event = vary(template)
    moment = _moment(i).isoformat()
    event["time"] = moment
    if "timestamp" in event:
        event["timestamp"] = moment
    return event


def openedx_lines(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """Tracking-log lines (the logger's prefix on half of them, as in tracking.log) from the 81
    event-routing-backends inputs and the 12 events of tracking.log."""
    templates = _openedx_templates()
    rng = random.Random(1)
    path = work / "tracking.log"
    with open(path, "w") as out:
        for i in range(count):
            event = _vary_openedx(rng.choice(templates), i)
            prefix = (
                f"{_moment(i):%Y-%m-%d %H:%M:%S},{i % 1000:03d} INFO 20 [tracking] "
                "[user None] [ip None] logger.py:41 - "
                if i % 2
                else ""
            )
            out.write(prefix + json.dumps(event) + "\n")
            tick(i + 1)
    return _lines_source(
        path,
        lambda p: ["openedx", "--input", str(p), "--lms-url", "https://lms.example.org"],
        notes=f"{len(templates)} event shapes",
    )


def caliper_lines(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """Caliper 1.1 events from event-routing-backends (openedx/caliper-expected): half the lines
    bare events, half envelopes of 1-3 events (so statements > records)."""
    from connectors.caliper import mapping_for

    folder = FIXTURES / "openedx" / "caliper-expected"
    every = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    mapping = mapping_for("https://lms.example.org")
    templates = [t for t in every if _check(mapping, json.dumps(t).encode())]
    rng = random.Random(2)

    def event(i: int, k: int) -> dict[str, Any]:
        value = copy.deepcopy(rng.choice(templates))
        value["id"] = f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        value["eventTime"] = (_moment(i) + timedelta(seconds=k)).isoformat().replace("+00:00", "Z")
        actor = value.get("actor")
        if isinstance(actor, dict) and isinstance(actor.get("id"), str):
            actor["id"] = actor["id"].rsplit("/", 1)[0] + f"/learner{i % LEARNERS}"
        return value

    path = work / "caliper.jsonl"
    with open(path, "w") as out:
        for i in range(count):
            if i % 2:
                envelope = {
                    "sensor": "https://lms.example.org",
                    "sendTime": _iso(i),
                    "dataVersion": "http://purl.imsglobal.org/ctx/caliper/v1p1",
                    "data": [event(i, k) for k in range(1 + i % 3)],
                }
                out.write(json.dumps(envelope) + "\n")
            else:
                out.write(json.dumps(event(i, 0)) + "\n")
            tick(i + 1)
    return _lines_source(
        path,
        lambda p: ["caliper", "--input", str(p), "--sensor", "https://lms.example.org"],
        notes=f"{len(templates)} of {len(every)} event shapes map",
    )


# Moodle ----------------------------------------------------------------------------------------
LOG_COLUMNS = [
    "id",
    "eventname",
    "component",
    "action",
    "target",
    "objecttable",
    "objectid",
    "crud",
    "edulevel",
    "contextid",
    "contextlevel",
    "contextinstanceid",
    "userid",
    "courseid",
    "relateduserid",
    "anonymous",
    "other",
    "timecreated",
    "origin",
    "ip",
    "realuserid",
]


def _moodle_cases() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(case, log row, database rows) for every plugin test case, deep-merged over common/."""
    sys.path.insert(0, str(REPO))
    from tests.connectors.test_moodle_fixtures import _load

    folder = FIXTURES / "moodle"
    found = []
    for event_file in sorted(folder.rglob("event.json")):
        case = event_file.parent
        if case.name == "common":
            continue
        found.append(
            (str(case.relative_to(folder)), _load(case, "event.json"), _load(case, "data.json"))
        )
    return found


def _log_row(event: dict[str, Any], i: int, user: int) -> dict[str, Any]:
    """A full logstore_standard_log row: the fixture's columns, the rest as Moodle fills them."""
    eventname = str(event.get("eventname", ""))
    parts = eventname.strip("\\").split("\\")
    row: dict[str, Any] = {
        "crud": "r",
        "edulevel": 2,
        "contextid": 100 + int(event.get("contextinstanceid") or 0),
        "contextlevel": 70,
        "anonymous": 0,
        "origin": "web",
        "ip": f"10.{(user >> 8) & 255}.{user & 255}.{i % 250 + 1}",
        "realuserid": None,
        "target": parts[-1].rsplit("_", 1)[0] if parts else None,
        "component": parts[0] if parts else None,
    }
    row.update({k: v for k, v in event.items()})
    row["id"] = i + 1
    row["userid"] = user
    row["timecreated"] = int(_moment(i).timestamp())
    return row


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def moodle_csv(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """A CSV export of logstore_standard_log: the plugin test cases whose event maps from the
    log row alone (a CSV export holds no other table), learners varied over 20,000 user ids."""
    from connectors.moodle import Config, mapping_for
    from connectors.moodle.readers import RowOnlyLookup

    mapping = mapping_for(
        RowOnlyLookup(), Config(app_url="http://www.example.org", send_name=False)
    )
    cases = _moodle_cases()
    events = [e for _, e, _ in cases if _check(mapping, _log_row(e, 7, 4242))]
    rng = random.Random(3)
    path = work / "logstore_standard_log.csv"
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for i in range(count):
            row = _log_row(rng.choice(events), i, 2 + i % LEARNERS)
            writer.writerow({k: _cell(v) for k, v in row.items()})
            tick(i + 1)
    return _lines_source(
        path,
        lambda p: ["moodle", "--csv", str(p), "--app-url", "http://www.example.org"],
        header=True,
        notes=f"{len(events)} of {len(cases)} plugin cases map from the row alone",
    )


def moodle_db(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """A Moodle database in MariaDB: every table the plugin test cases read (their data.json
    rows merged by table and id), 20,000 users, and `count` log rows (id primary key, as in
    Moodle) replicating the cases whose events map against the merged tables."""
    from connectors.moodle import Config, mapping_for
    from connectors.moodle.readers import connect
    from tests.connectors.test_moodle_fixtures import FixtureLookup

    cases = _moodle_cases()
    tables: dict[str, dict[Any, dict[str, Any]]] = {}
    for _, _, data in cases:
        for table, rows in data.items():
            for row in rows:
                tables.setdefault(table, {}).setdefault(row.get("id"), row)
    users = tables.setdefault("user", {})
    shape = dict(users.get(1) or {"id": 1})
    for n in range(1, LEARNERS + 2):
        users.setdefault(
            n, {**shape, "id": n, "firstname": f"Learner {n}", "email": f"learner{n}@example.org"}
        )
    merged = {t: list(rows.values()) for t, rows in tables.items()}
    config = Config(app_url="http://www.example.org", plugin_compatible=True)
    mapping = mapping_for(FixtureLookup(merged), config)
    events = [e for _, e, _ in cases if _check(mapping, _log_row(e, 7, 4242))]

    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    connection, _ = connect(MARIADB)
    created: list[str] = []

    def column_type(values: list[Any]) -> str:
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            return "BIGINT"
        return "LONGTEXT"

    def create(table: str, columns: list[str], rows: list[dict[str, Any]]) -> None:
        types = {c: column_type([r.get(c) for r in rows]) for c in columns}
        ids = [r.get("id") for r in rows]
        primary = types.get("id") == "BIGINT" and None not in ids and len(set(ids)) == len(ids)
        spec = ", ".join(
            f"`{c}` {types[c]}" + (" PRIMARY KEY" if c == "id" and primary else "") for c in columns
        )
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE `{prefix}{table}` ({spec})")
        created.append(table)

    def insert(table: str, columns: list[str], rows: Iterator[list[Any]]) -> None:
        sql = (
            f"INSERT INTO `{prefix}{table}` ({', '.join(f'`{c}`' for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))})"
        )
        batch: list[list[Any]] = []
        with connection.cursor() as cursor:
            for values in rows:
                batch.append(values)
                if len(batch) == 5000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)

    try:
        for table, rows in merged.items():
            columns = sorted({c for row in rows for c in row})
            create(table, columns, rows)
            insert(table, columns, ([_cell(r.get(c)) for c in columns] for r in rows))
        rng = random.Random(4)
        # the column types the log needs (id and timecreated are integers, other is text)
        sample = [_log_row(e, 0, 2) for e in events]
        create("logstore_standard_log", LOG_COLUMNS, sample)

        def log_rows() -> Iterator[list[Any]]:
            for i in range(count):
                row = _log_row(rng.choice(events), i, 2 + i % LEARNERS)
                tick(i + 1)
                yield [_cell(row.get(c)) for c in LOG_COLUMNS]

        insert("logstore_standard_log", LOG_COLUMNS, log_rows())
    except BaseException:
        _drop(connection, prefix, created)
        raise

    def cut(n: int, folder: Path) -> list[str]:
        """Views `<prefix>N_<table>` over the same tables, the log limited to ids <= n."""
        view = f"{prefix}{n}_"
        with connection.cursor() as cursor:
            for table in created:
                limit = f" WHERE id <= {n:d}" if table == "logstore_standard_log" else ""
                cursor.execute(
                    f"CREATE VIEW `{view}{table}` AS SELECT * FROM `{prefix}{table}`{limit}"
                )
                views.append(f"{view}{table}")
        return _moodle_db_args(view)

    views: list[str] = []

    def cleanup() -> None:
        with connection.cursor() as cursor:
            for name in views:
                cursor.execute(f"DROP VIEW IF EXISTS `{name}`")
        _drop(connection, prefix, created)
        connection.close()

    return Source(
        _moodle_db_args(prefix),
        cut,
        f"MariaDB; {len(events)} of {len(cases)} plugin cases map against the merged tables",
        cleanup,
    )


def _moodle_db_args(prefix: str) -> list[str]:
    # The plugin's own test cases hold the plugin's data (and no mdl_config for the site's
    # name format): replayed as the plugin maps them.
    return [
        "moodle", "--dsn", MARIADB, "--prefix", prefix, "--app-url", "http://www.example.org",
        "--plugin-compatible",
    ]


def _drop(connection: Any, prefix: str, tables: list[str]) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DROP TABLE IF EXISTS `{prefix}{table}`")


# OneRoster ---------------------------------------------------------------------------------------
def oneroster_export(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """A OneRoster 1.1 CSV export of a school district shaped like tests/connectors/
    test_oneroster.py (no public gradebook sample exists): 20,000 students, 400 classes of 50,
    each student in 10 classes, `count` results over each class's line items."""
    folder = work / "oneroster"
    folder.mkdir()
    sis = "https://sis.example.edu.vn"
    students, classes, per_student = LEARNERS, 400, 10
    items_per_class = max(1, -(-count // (students * per_student)))  # results cover `count`
    stamp = "2025-08-01T00:00:00Z"

    def write(name: str, header: str, rows: Iterator[str]) -> None:
        with open(folder / name, "w", encoding="utf-8") as out:
            out.write(header + "\n")
            for row in rows:
                out.write(row + "\n")

    write(
        "orgs.csv",
        "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
        iter(
            [
                f"org-hn,active,{stamp},Sở GD&ĐT Hà Nội,district,,",
                f"org-lqd,active,{stamp},THPT Lê Quý Đôn,school,LQD,org-hn",
            ]
        ),
    )
    write(
        "academicSessions.csv",
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
        iter(
            [
                f"as-2025,active,{stamp},Năm học 2025-2026,schoolYear,2025-09-05,2026-05-31,,2026",
                f"as-hk1,active,{stamp},Học kỳ I,term,2025-09-05,2026-01-15,as-2025,2026",
            ]
        ),
    )
    subjects = [
        "Toán",
        "Ngữ văn",
        "Tin học",
        "Vật lý",
        "Hóa học",
        "Sinh học",
        "Lịch sử",
        "Địa lý",
        "Tiếng Anh",
        "GDCD",
    ]
    write(
        "courses.csv",
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
        "orgSourcedId,subjects,subjectCodes",
        (
            f"crs-{k},active,{stamp},as-2025,{s} 10,C{k},10,org-lqd,{s},S{k}"
            for k, s in enumerate(subjects)
        ),
    )
    write(
        "classes.csv",
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
        "location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
        (
            f"cls-{c},active,{stamp},{subjects[c % 10]} {c},10,crs-{c % 10},K{c},scheduled,"
            f"P.{c},org-lqd,as-hk1,{subjects[c % 10]},S{c % 10},{c % 8 + 1}"
            for c in range(classes)
        ),
    )
    teachers = classes // 4
    write(
        "users.csv",
        "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,"
        "givenName,familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password",
        iter(
            [
                f"usr-t{t},active,{stamp},true,org-lqd,teacher,gv{t},,Lan,Trần,Thị,GV{t:04d},"
                f"gv{t}@lqd.edu.vn,,,,,"
                for t in range(teachers)
            ]
            + [
                f"usr-s{s},active,{stamp},true,org-lqd,student,hs{s},,An,Nguyễn,Văn,HS{s:05d},"
                f"hs{s}@lqd.edu.vn,,,,10,"
                for s in range(students)
            ]
        ),
    )

    def class_of(s: int, k: int) -> int:  # student s's k-th class: 50 students per class
        return (s // 50 + k * (students // 50 // per_student + 1)) % classes

    def enrollments() -> Iterator[str]:
        n = 0
        for c in range(classes):
            n += 1
            yield (
                f"enr-{n},active,{stamp},cls-{c},org-lqd,usr-t{c % teachers},teacher,true,"
                "2025-09-05,2026-01-15"
            )
        for s in range(students):
            for k in range(per_student):
                n += 1
                yield (
                    f"enr-{n},active,{stamp},cls-{class_of(s, k)},org-lqd,usr-s{s},student,"
                    "false,2025-09-05,2026-01-15"
                )

    write(
        "enrollments.csv",
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role,"
        "primary,beginDate,endDate",
        enrollments(),
    )
    write(
        "lineItems.csv",
        "sourcedId,status,dateLastModified,title,description,assignDate,dueDate,classSourcedId,"
        "categorySourcedId,gradingPeriodSourcedId,resultValueMin,resultValueMax",
        (
            f"li-{c}-{j},active,{stamp},Kiểm tra 15 phút số {j + 1},,2025-09-15,2025-09-19,cls-{c},"
            f"cat-15p,as-hk1,0,10"
            for c in range(classes)
            for j in range(items_per_class)
        ),
    )
    rng = random.Random(5)

    def results() -> Iterator[str]:
        n = 0
        for j in range(items_per_class):
            for k in range(per_student):
                for s in range(students):
                    if n == count:
                        return
                    n += 1
                    score = f"{rng.randint(0, 40) / 4:g}"
                    day = 1 + n % 28
                    yield (
                        f"res-{n},active,2025-10-{day:02d}T08:00:00Z,li-{class_of(s, k)}-{j},"
                        f"usr-s{s},fully graded,{score},2025-10-{day:02d},"
                    )
                    tick(n)

    write(
        "results.csv",
        "sourcedId,status,dateLastModified,lineItemSourcedId,studentSourcedId,scoreStatus,"
        "score,scoreDate,comment",
        results(),
    )

    def make_args(path: Path) -> list[str]:
        return ["oneroster", "--input", str(path), "--sis-url", sis]

    def cut(n: int, target: Path) -> list[str]:
        copy_of = target / f"oneroster-first-{n}"
        shutil.copytree(folder, copy_of, ignore=shutil.ignore_patterns("results.csv"))
        _cut_lines(folder / "results.csv", header=True)(n, copy_of).rename(copy_of / "results.csv")
        return make_args(copy_of)

    return Source(
        make_args(folder),
        cut,
        f"records = results.csv rows; the roster ({classes} classes, "
        f"{students * per_student + classes:,} enrollments) is read and saved in the same run",
    )


# CSV / JSON lines with a mapping file -------------------------------------------------------------
TABULAR_MAPPING: dict[str, Any] = {
    "source": "quiz-tool-2025",
    "id": "{attempt_id}",
    "timezone": "Asia/Ho_Chi_Minh",
    "statement": {
        "actor": {
            "name": "{full_name}",
            "account": {"homePage": "https://sis.example.edu.vn", "name": "{student}"},
        },
        "verb": {"id": "http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": "{verb}"}},
        "object": {
            "id": "https://quiz.example.edu.vn/quizzes/{quiz}",
            "definition": {
                "name": {"vi-VN": "{quiz_title}"},
                "type": "http://adlnet.gov/expapi/activities/assessment",
            },
        },
        "result": {
            "score": {"raw": "{score:number}", "min": 0, "max": "{max:number}"},
            "success": "{passed:boolean}",
            "completion": True,
            "duration": "{duration}",
        },
        "context": {
            "registration": "{registration}",
            "contextActivities": {
                "parent": [{"id": "https://quiz.example.edu.vn/classes/{class}"}]
            },
            "platform": "Quiz tool",
            "language": "vi-VN",
        },
        "timestamp": "{finished:timestamp}",
    },
}


def _tabular_rows(count: int, tick: Callable[[int], None]) -> Iterator[dict[str, Any]]:
    rng = random.Random(6)
    verbs = ["passed", "failed", "completed", "scored"]
    for i in range(count):
        student = i % LEARNERS
        score = rng.randint(0, 100) / 10
        yield {
            "attempt_id": f"att-{i + 1}",
            "student": f"HS{student:05d}",
            "full_name": f"Học sinh {student}",
            "verb": rng.choice(verbs),
            "quiz": f"q{i % 2000}",
            "quiz_title": f"Kiểm tra số {i % 2000}",
            "score": f"{score:g}",
            "max": "10",
            "passed": "yes" if score >= 5 else "no",
            "duration": f"PT{rng.randint(60, 2700)}S",
            "registration": str(uuid.UUID(int=(student << 16) + i % 7, version=4)),
            "class": f"10A{student % 400}",
            "finished": f"{_moment(i) + timedelta(hours=7):%Y-%m-%d %H:%M:%S}",
        }
        tick(i + 1)


def tabular_csv(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """A quiz tool's CSV export (no public fixture: shaped like tests/connectors/
    test_tabular.py) with a mapping file of 13 typed placeholders, local times in Asia/Ho_Chi_Minh."""
    mapping = work / "mapping.json"
    mapping.write_text(json.dumps(TABULAR_MAPPING))
    path = work / "attempts.csv"
    rows = _tabular_rows(count, tick)
    first = next(rows)
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(first))
        writer.writeheader()
        writer.writerow(first)
        writer.writerows(rows)
    return _lines_source(
        path, lambda p: ["csv", "--mapping", str(mapping), "--input", str(p)], header=True
    )


def tabular_jsonl(count: int, work: Path, tick: Callable[[int], None]) -> Source:
    """The same rows as JSON lines, the same mapping file."""
    mapping = work / "mapping-jsonl.json"
    mapping.write_text(json.dumps(TABULAR_MAPPING))
    path = work / "attempts.jsonl"
    with open(path, "w") as out:
        for row in _tabular_rows(count, tick):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return _lines_source(path, lambda p: ["jsonl", "--mapping", str(mapping), "--input", str(p)])


GENERATORS: dict[str, tuple[str, Callable[[int, Path, Callable[[int], None]], Source]]] = {
    "moodle-csv": ("moodle", moodle_csv),
    "moodle-db": ("moodle", moodle_db),
    "openedx": ("openedx", openedx_lines),
    "caliper": ("caliper", caliper_lines),
    "oneroster": ("oneroster", oneroster_export),
    "csv": ("csv", tabular_csv),
    "jsonl": ("jsonl", tabular_jsonl),
    "xapi": ("xapi", xapi_lines),
}


# ---------------------------------------------------------------------------------------------
# running


@dataclass
class Result:
    connector: str
    mode: str
    records: int  # records read, as lrs connect reported them
    statements: int  # emitted (dry run: printed; store: sent to the store)
    stored: int | None  # rows in the store's statements table afterwards (store leg)
    skipped: int
    seconds: float
    cpu: float  # CPU seconds of the lrs connect process
    others: float  # cores used by every other process on the machine during the run
    iowait: float  # cores
    exit_status: int
    note: str = ""
    summary: str = ""

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def statement_rate(self) -> float:
        return self.statements / self.seconds if self.seconds else 0.0


# The last line of every `lrs connect` run (connectors/command.py).
_SUMMARY = re.compile(
    r"read ([\d,]+), stored ([\d,]+), already stored ([\d,]+), unmapped ([\d,]+), "
    r"refused ([\d,]+)"
)


def _input_files(args: list[str]) -> list[Path]:
    files = []
    for option in ("--input", "--csv"):
        if option in args:
            path = Path(args[args.index(option) + 1])
            files.extend(sorted(path.glob("*.csv")) if path.is_dir() else [path])
    return files


def _watch(
    pid: int, files: list[Path], progress: Progress, task: Any, stop: threading.Event
) -> None:
    """Progress from the child's read position in its input (/proc/PID/fdinfo): the bytes of
    the input files it has read, of all of them."""
    sizes = {str(p.resolve()): p.stat().st_size for p in files}
    total = sum(sizes.values()) or 1
    done: dict[str, int] = {}
    while not stop.wait(0.5):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target in sizes:
                        with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                            position = int(info.readline().split()[1])
                        done[target] = max(done.get(target, 0), position)
                except (OSError, ValueError, IndexError):
                    continue
        except OSError:
            return
        progress.update(task, completed=100 * sum(done.values()) / total)


def run_connect(
    name: str,
    mode: str,
    args: list[str],
    data: Path,
    progress: Progress,
    timeout: float,
    note: str = "",
) -> Result:
    command = [sys.executable, "-m", "lrs.cli", "connect", *args, "--data", str(data)]
    if mode == "dry-run":
        command.append("--dry-run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    files = _input_files(args)
    label = f"{name} {mode}" + (" (input: bytes read)" if files else " (elapsed)")
    task = progress.add_task(label, total=100 if files else None)
    errors = data.parent / f"{name}-{mode}.stderr"
    busy0, iowait0 = machine_cpu_seconds()
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink, open(errors, "wb") as err:
        child = subprocess.Popen(
            command,
            stdout=sink,
            stderr=err,
            cwd=REPO,
            env=env,
            start_new_session=True,
            # a shell's background job ignores SIGINT, and so would the child: restore it, so
            # that the timeout's SIGINT stops lrs connect as Ctrl-C does
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        stop = threading.Event()
        watcher = threading.Thread(
            target=_watch, args=(child.pid, files, progress, task, stop), daemon=True
        )
        watcher.start()
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    os.killpg(child.pid, signal.SIGINT)
                    _, status, usage = os.wait4(child.pid, 0)
                    break
                time.sleep(0.2)
        except BaseException:
            os.killpg(child.pid, signal.SIGTERM)
            os.wait4(child.pid, 0)
            raise
        finally:
            stop.set()
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    busy1, iowait1 = machine_cpu_seconds()
    cpu = usage.ru_utime + usage.ru_stime
    progress.update(task, completed=100, total=100)
    text = errors.read_text(errors="replace")
    errors.unlink()
    found = _SUMMARY.search(text)
    summary = next((line for line in reversed(text.splitlines()) if _SUMMARY.search(line)), "")
    if not found:
        summary = "\n".join(text.strip().splitlines()[-5:])
    read, new, again, unmapped, refused = (
        (int(g.replace(",", "")) for g in found.groups()) if found else (0, 0, 0, 0, 0)
    )
    emitted, skipped = new + again, unmapped + refused
    stored = None
    if mode == "store":
        database = data / "lrs.db"
        if database.exists():
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
                stored = int(db.execute("SELECT COUNT(*) FROM statements").fetchone()[0])
        if timed_out:
            # stopped mid-run: records = rows read to the last delivered batch (checkpoint)
            note = (note + "; " if note else "") + f"stopped after {timeout:.0f} s"
            emitted = stored or 0
    if mode == "dry-run" and timed_out:
        note = (note + "; " if note else "") + f"stopped after {timeout:.0f} s"
    if mode == "dry-run" and read == 0 and found is None:
        note = (note + "; " if note else "") + "no summary"
    return Result(
        name,
        mode,
        read,
        emitted,
        stored,
        skipped,
        seconds,
        cpu,
        max(0.0, (busy1 - busy0) - cpu) / seconds,
        (iowait1 - iowait0) / seconds,
        child.returncode,
        note,
        summary,
    )


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def report(results: list[Result], count: int, started: datetime, load: list[float]) -> None:
    table = Table(
        title="Connector throughput (lrs connect in a child process; CPU and others in cores)"
    )
    for column, justify in (
        ("connector", "left"),
        ("mode", "left"),
        ("records", "right"),
        ("statements", "right"),
        ("skipped", "right"),
        ("seconds", "right"),
        ("records/s", "right"),
        ("statements/s", "right"),
        ("CPU", "right"),
        ("others", "right"),
        ("iowait", "right"),
        ("exit", "right"),
        ("note", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in results:
        table.add_row(
            r.connector,
            r.mode,
            f"{r.records:,}",
            f"{r.statements:,}",
            f"{r.skipped:,}",
            f"{r.seconds:,.1f}",
            f"{r.rate:,.0f}",
            f"{r.statement_rate:,.0f}",
            f"{r.cpu / r.seconds if r.seconds else 0:.2f}",
            f"{r.others:.2f}",
            f"{r.iowait:.2f}",
            str(r.exit_status),
            r.note,
        )
    out = Console(width=200)
    out.print(table)
    dirty = (
        " plus uncommitted changes"
        if _git("status", "--porcelain", "--", "lrs", "connectors", "consumers")
        else ""
    )
    out.print(
        f"lrs at {_git('rev-parse', '--short', 'HEAD')}{dirty}; started {started:%Y-%m-%d %H:%M} "
        f"UTC, {(datetime.now(UTC) - started).total_seconds() / 60:.1f} min in all; "
        f"{os.cpu_count()} cores; load average at start {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f}, at end {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    out.print(
        "CPU = cores used by lrs connect (its CPU seconds / wall seconds); others = cores used "
        "by every other process on the machine meanwhile (includes this benchmark's own polling "
        "and, for moodle-db, MariaDB); exit 3 = some records skipped (lrs connect reported them)"
    )
    for r in results:
        if r.exit_status not in (0, 3) or "no summary" in r.note:
            out.print(f"[red]{r.connector} {r.mode}: exit {r.exit_status}:[/red] {r.summary}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 records")
    parser.add_argument(
        "--only", help=f"comma-separated, run in this order, of: {', '.join(GENERATORS)}"
    )
    parser.add_argument(
        "--store-records", default="", help="NAME=N,...: the store leg on the first N records"
    )
    parser.add_argument(
        "--records-for", default="", help="NAME=N,...: N records for NAME instead of --records"
    )
    parser.add_argument("--store-timeout", type=float, default=900.0)
    parser.add_argument("--dry-run-timeout", type=float, default=3600.0)
    parser.add_argument("--skip", default="", help="comma-separated legs to skip: dry-run,store")
    parser.add_argument("--workdir", help="where inputs and stores go (default: a new /tmp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the inputs and stores")
    parser.add_argument("--json", help="write the results here (after every leg)")
    args = parser.parse_args()
    count = 20_000 if args.quick else args.records
    from connectors import available

    present = available()
    names = [n for n, (source, _) in GENERATORS.items() if source in present]
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(GENERATORS)
        if unknown:
            parser.error(f"unknown connectors: {', '.join(sorted(unknown))}")
        names = [n for n in wanted if n in names]  # in the order given
    caps = {
        k: int(v) for k, v in (item.split("=") for item in args.store_records.split(",") if item)
    }
    counts = {
        k: int(v) for k, v in (item.split("=") for item in args.records_for.split(",") if item)
    }
    legs = [m for m in ("dry-run", "store") if m not in args.skip.split(",")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lrs-bench-connectors-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    started = datetime.now(UTC)
    load = list(os.getloadavg())
    plan = ", ".join(
        f"{name} {counts.get(name, count):,}"
        + (
            f" (store {caps[name]:,})"
            if caps.get(name, counts.get(name, count)) < counts.get(name, count)
            else ""
        )
        for name in names
    )
    console.print(
        f"records: {plan}; work in {work}; "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    try:
        with Progress(*columns, console=console) as progress:
            overall = progress.add_task("connectors", total=len(names))
            for name in names:
                folder = work / name
                folder.mkdir(exist_ok=True)
                t0 = time.perf_counter()
                n = counts.get(name, count)
                source = GENERATORS[name][1](n, folder, _ticker(progress, name, n))
                console.print(
                    f"{name}: generated {n:,} records in {time.perf_counter() - t0:.0f} s"
                    + (f" ({source.notes})" if source.notes else "")
                )
                try:
                    for mode in legs:
                        connect_args, note = source.args, ""
                        if mode == "store" and caps.get(name, n) < n:
                            connect_args = source.cut(caps[name], folder)
                            note = f"store leg on the first {caps[name]:,} records"
                        data = folder / f"data-{mode}"
                        result = run_connect(
                            name,
                            mode,
                            connect_args,
                            data,
                            progress,
                            args.store_timeout if mode == "store" else args.dry_run_timeout,
                            note,
                        )
                        results.append(result)
                        console.print(
                            f"{name} {mode}: {result.records:,} records, {result.statements:,} "
                            f"statements in {result.seconds:,.1f} s = {result.rate:,.0f} records/s, "
                            f"{result.statement_rate:,.0f} statements/s (exit {result.exit_status})"
                        )
                        if args.json:
                            Path(args.json).write_text(
                                json.dumps(
                                    {
                                        "records": count,
                                        "started": started.isoformat(),
                                        "commit": _git("rev-parse", "HEAD"),
                                        "results": [asdict(r) | {"rate": r.rate} for r in results],
                                    },
                                    indent=2,
                                )
                            )
                        if not args.keep:
                            shutil.rmtree(data, ignore_errors=True)
                finally:
                    source.cleanup()
                    if not args.keep:
                        for child in folder.iterdir():
                            if child.is_dir():
                                shutil.rmtree(child, ignore_errors=True)
                            else:
                                child.unlink()
                progress.advance(overall)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(results, count, started, load)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
