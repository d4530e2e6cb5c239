"""The embedded processors' process hands over to a fresh one when its memory outgrows
`processor_max_growth_mib` (consumers/runtime/local.py): nothing is lost or counted twice."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from consumers.reducers.base import replay
from consumers.reducers.enabled import reducers
from consumers.reducers.profiles import REDUCER
from consumers.runtime.local import LocalRunner, ProcessRunner, offset_name
from lrs.adapters.sqlite import SQLiteStore
from lrs.domain.records import StateQuery
from tests.integration.test_embedded_pipeline import statement
from tests.processes import wait_until

AUTHORITY = {"objectType": "Agent", "account": {"homePage": "https://lrs.example", "name": "k"}}


def caught_up(store: SQLiteStore, last: int) -> bool:
    return all(store.get_offset(offset_name(r)) == last for r in reducers(store))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_processors_that_outgrow_their_memory_hand_over_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lrs.db"
    store = SQLiteStore(path)
    try:
        for start in range(0, 6000, 500):
            batch = [statement(i % 40, i) for i in range(start, start + 500)]
            store.save_statements(
                batch, authority=AUTHORITY, credential="k", version="1.0.3", attachments=[]
            )
        last = store.read_log(0, 100_000)[-1].offset
        # A limit no process can stay under: each child hands over after its second large
        # round (the first sets its baseline), so 6,000 statements take several children.
        runner = ProcessRunner(f"sqlite://{path}", batch=1000, max_growth_mib=-1e9)
        runner.start()
        try:
            wait_until(lambda: caught_up(store, last), 120, "the processors to catch up")
        finally:
            runner.stop()
        assert runner.handovers >= 2, runner.handovers
        assert runner.restarts == 0  # handovers are not crashes
        log = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
        states = dict(store.list_states(REDUCER.name, StateQuery(limit=10_000)))
        assert states == replay(REDUCER, log)
        assert sum(s["statements"] for s in states.values()) == 6000  # each counted once
    finally:
        store.close()


def test_the_runner_stops_once_grown_past_its_limit_and_not_before(tmp_path: Path) -> None:
    readings = iter([200.0, 250.0, 328.0, 329.0])
    store = SQLiteStore(tmp_path / "lrs.db")
    try:
        runner = LocalRunner(store, [], max_growth_mib=128, resident=lambda: next(readings))
        runner.check_growth()  # the first large round: its baseline
        assert runner.baseline_mib == 200.0
        runner.check_growth()  # +50
        runner.check_growth()  # +128: at the limit, not past it
        assert not runner.outgrown.is_set()
        runner.check_growth()  # +129
        assert runner.outgrown.is_set()
        unlimited = LocalRunner(store, [], resident=lambda: 10_000.0)
        unlimited.check_growth()
        unlimited.check_growth()
        assert not unlimited.outgrown.is_set()
    finally:
        store.close()
