"""The Moodle connector against real Moodle-shaped databases (MariaDB and PostgreSQL).

Each test creates the tables the mapping reads (only the columns the fixture rows use) under a
unique table prefix, loads the rows of several plugin fixture cases, appends their log rows to
`<prefix>logstore_standard_log` plus one row no mapping knows, and runs the connector. The
expected statements are `map_event` over the same rows held in memory (ids included), which
test_moodle_fixtures.py checks against the plugin's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Checkpoints, run
from connectors.moodle import Config, map_event, mapping_for
from connectors.moodle.readers import DatabaseReader, SQLLookup, connect
from connectors.sinks import StoreSink
from lrs.storage import open_store
from tests.connectors.test_moodle_fixtures import FIXTURES, FixtureLookup, _load

# Every test needs a database server (asked for by name in a parametrised fixture, which
# conftest's automatic marking cannot see): `./scripts/test --no-servers` leaves them out.
pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[2]
APP = "http://www.example.org"
CASES = [
    "core/course_viewed/viewing_existing_course",
    "mod_quiz/course_module_viewed/existing_module",
    "core/user_loggedin/existing_user_loggedin",
    "core/course_module_completion_update/completing_existing_module",
    "core/user_enrolment_created/existing_user_enrolled",
    "core/course_completed/completing_existing_course",
]
LOG_COLUMNS = [
    "id", "eventname", "component", "action", "target", "objecttable", "objectid",
    "contextinstanceid", "userid", "courseid", "relateduserid", "timecreated", "other",
]
UNKNOWN = "\\core\\event\\something_no_one_maps"
# The plugin's fixtures hold the plugin's data, so the plugin's behaviour (and only the tables
# the fixtures fill: no `config` table for the site's name format).
CONFIG = Config(app_url=APP, plugin_compatible=True)

if not FIXTURES.is_dir():  # pragma: no cover - the shared fixtures live beside the checkout
    pytest.skip(f"no shared Moodle fixtures at {FIXTURES}", allow_module_level=True)


def _rows() -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """The cases' database rows merged by (table, id), and their log rows renumbered 1..n."""
    tables: dict[str, dict[Any, dict[str, Any]]] = {}
    events = []
    for number, case in enumerate(CASES, start=1):
        data = _load(FIXTURES / case, "data.json")
        for table, rows in data.items():
            for row in rows:
                tables.setdefault(table, {}).setdefault(row.get("id"), row)
        events.append({**_load(FIXTURES / case, "event.json"), "id": number})
    events.append({"id": len(events) + 1, "eventname": UNKNOWN, "userid": 1, "timecreated": 1})
    return {t: list(rows.values()) for t, rows in tables.items()}, events


def _column_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "BIGINT"
    return "TEXT"


@pytest.fixture(params=["mysql", "postgresql"])
def moodle(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(dsn, prefix, expected statements) with the tables loaded; dropped afterwards. The
    servers come from tests/conftest.py's fixtures, which fail (never skip) when one is down."""
    dsn = request.getfixturevalue(f"{request.param}_url")
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    tables, events = _rows()
    tables["logstore_standard_log"] = [
        {column: event.get(column) for column in LOG_COLUMNS} for event in events
    ]
    connection, _ = connect(dsn)
    created = []
    try:
        with connection.cursor() as cursor:
            for table, rows in tables.items():
                columns = sorted({c for row in rows for c in row})
                if table == "logstore_standard_log":
                    columns = LOG_COLUMNS
                spec = ", ".join(
                    f"{c} {_column_type([r.get(c) for r in rows])}" for c in columns
                )
                cursor.execute(f"CREATE TABLE {prefix}{table} ({spec})")
                created.append(table)
                marks = ", ".join(["%s"] * len(columns))
                for row in rows:
                    values = [
                        json.dumps(v) if isinstance(v, (dict, list)) else row.get(c)
                        for c, v in ((c, row.get(c)) for c in columns)
                    ]
                    cursor.execute(
                        f"INSERT INTO {prefix}{table} ({', '.join(columns)}) VALUES ({marks})",
                        values,
                    )
        lookup = FixtureLookup({t: r for t, r in tables.items()})
        expected = [
            s
            for event in events
            if event["eventname"] != UNKNOWN
            for s in map_event(event, lookup, CONFIG)
        ]
        yield dsn, prefix, expected
    finally:
        with connection.cursor() as cursor:
            for table in created:
                cursor.execute(f"DROP TABLE {prefix}{table}")
        connection.close()


def _reader(dsn: str, prefix: str) -> tuple[DatabaseReader, Any]:
    connection, _ = connect(dsn)
    config = CONFIG
    reader = DatabaseReader(connection, f"moodle:{APP}", prefix)
    return reader, mapping_for(SQLLookup(connection, prefix), config)


def test_dry_run_prints_the_statements_and_counts_the_unmapped_row(
    moodle: tuple[str, str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    dsn, prefix, expected = moodle
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    result = subprocess.run(
        [
            sys.executable, "-m", "lrs.cli", "connect", "moodle", "--data", str(tmp_path),
            "--dsn", dsn, "--prefix", prefix, "--app-url", APP, "--dry-run",
            "--plugin-compatible",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert printed == expected
    assert len(expected) == len(CASES)
    assert result.returncode == 0, result.stderr  # an unmapped event is not an error
    assert result.stderr.splitlines()[-1] == (
        f"read {len(CASES) + 1}, stored {len(CASES)}, already stored 0, unmapped 1, refused 0"
        " (a dry run: nothing stored)"
    )
    assert [line.split()[:2] for line in result.stderr.splitlines() if UNKNOWN in line] == [
        [UNKNOWN, "1"]
    ]


def _stored(data: Path) -> list[str]:
    store = open_store(f"sqlite:///{data / 'lrs.db'}")
    try:
        return [json.loads(r.value)["id"] for r in store.read_log(0, 10_000)]
    finally:
        store.close()


def test_running_twice_stores_nothing_twice(
    moodle: tuple[str, str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    dsn, prefix, expected = moodle
    for first in (True, False):  # no checkpoint: the second run reads every row again
        reader, mapping = _reader(dsn, prefix)
        sink = StoreSink(open_store(f"sqlite:///{tmp_path / 'lrs.db'}"), reader.name)
        summary = run(reader, mapping, sink)
        sink.close()
        assert summary.read == len(CASES) + 1
        assert [s.label for s in summary.unmapped] == [f"log id {len(CASES) + 1}"]
        assert summary.skipped == [] and sink.rejected == []
        assert (summary.stored, summary.already) == (
            (len(expected), 0) if first else (0, len(expected))
        )
    assert sorted(_stored(tmp_path)) == sorted(s["id"] for s in expected)


class Crash(Exception):
    pass


class CrashingSink(StoreSink):
    """Delivers `good` batches, then dies as a killed process would (before the checkpoint)."""

    def __init__(self, store: Any, source: str, good: int) -> None:
        super().__init__(store, source)
        self.good = good

    def send(self, statements: list[dict[str, Any]]) -> None:
        if self.good == 0:
            raise Crash("killed")
        self.good -= 1
        super().send(statements)


def test_killed_mid_run_resumes_from_its_checkpoint(
    moodle: tuple[str, str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    dsn, prefix, expected = moodle
    checkpoints = Checkpoints(tmp_path / "checkpoints.json")
    reader, mapping = _reader(dsn, prefix)
    sink = CrashingSink(open_store(f"sqlite:///{tmp_path / 'lrs.db'}"), reader.name, good=2)
    with pytest.raises(Crash):
        run(reader, mapping, sink, checkpoints=checkpoints, batch=2)
    sink.close()
    assert checkpoints.get(reader.name) == "4"  # two batches of two rows delivered
    assert len(_stored(tmp_path)) == 4

    reader, mapping = _reader(dsn, prefix)
    sink = StoreSink(open_store(f"sqlite:///{tmp_path / 'lrs.db'}"), reader.name)
    summary = run(reader, mapping, sink, checkpoints=checkpoints, batch=2)
    sink.close()
    # The 4 delivered rows are read again (the fixtures' rows share one timecreated, so all
    # are within the overlap window): counted already stored, not stored twice.
    assert summary.read == len(CASES) + 1
    assert (summary.already, summary.stored) == (4, len(expected) - 4)
    assert checkpoints.get(reader.name) == str(len(CASES) + 1)
    stored = _stored(tmp_path)
    assert sorted(stored) == sorted(s["id"] for s in expected)
    assert len(stored) == len(set(stored))
