"""A connector run's summary on the inbound topic (lrs.ops.connector_runs): told apart from
statements without becoming a dead letter, and counted once however often it arrives."""

from __future__ import annotations

from pathlib import Path

import orjson

from lrs.adapters.sqlite import SQLiteStore
from lrs.ops.connector_runs import (
    RunSummary,
    connector_runs,
    record_summary,
    run_record,
    split_run_records,
)
from lrs.ops.ingest import triage

STATEMENT = orjson.dumps(
    {"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.org/v"},
     "object": {"id": "http://x.org/o"}}
)


def test_run_summaries_are_taken_out_and_everything_else_is_left_in_order() -> None:
    run = RunSummary("moodle:https://lms.example.org", "refused", {"read": 3, "refused": 1}, "r1")
    malformed = orjson.dumps({"lrsConnectorRun": {"source": "x", "outcome": "exploded"}})
    runs, rest = split_run_records([STATEMENT, run_record(run), b"{not json", malformed])
    assert runs == [run]
    assert rest == [STATEMENT, b"{not json", malformed]
    # what is left is refused with a reason, as any record that is not a statement
    valid, refused = triage(rest)
    assert len(valid) == 1 and len(refused) == 2


def test_a_summary_is_no_statement_for_a_worker_that_does_not_know_it() -> None:
    """A worker from before run summaries refuses one (a dead letter with a reason) rather
    than storing something: the key is no xAPI statement property."""
    valid, refused = triage([run_record(RunSummary("s", "ok"))])
    assert valid == [] and refused[0].reason


def test_a_summary_delivered_twice_counts_one_run(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lrs.db")
    try:
        first = RunSummary("source", "ok", {"read": 2}, "run-1")
        record_summary(store, first)
        record_summary(store, first)  # Kafka redelivered it
        record_summary(store, RunSummary("source", "failed", {"read": 0}, "run-2"))
        [found] = connector_runs(store)
        assert found["runs"] == {"ok": 1, "refused": 0, "failed": 1}
        assert found["last_outcome"] == "failed" and found["last_counts"] == {"read": 0}
    finally:
        store.close()
