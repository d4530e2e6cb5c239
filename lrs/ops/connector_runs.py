"""Connector runs, kept in the store so that every LRS process can report them (/metrics):
`lrs connect` is a process of its own that ends, so its figures would otherwise be lost.

Where a run is counted depends on where it sent its statements (connectors.command):
into the store, it counts there itself; to Kafka, it ends with a run summary on the inbound
topic (`run_record`), which the `lrs process` worker that reads it counts in the store
(`split_run_records`, never a dead letter); to another LRS, it counts in the local store
when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from lrs.domain.times import format_stored
from lrs.ports import Definitions

CONNECTOR_RUN = "connector-run"
OUTCOMES = ("ok", "refused", "failed")  # exit 0, 3 (some records refused), 1 (destination)
# The one key of a run summary on the inbound topic: no xAPI statement may have it (the
# statement schema allows no unknown property), so it never passes for a statement.
RUN_RECORD = "lrsConnectorRun"
_RUN_PREFIX = b'{"' + RUN_RECORD.encode() + b'"'


@dataclass(frozen=True)
class RunSummary:
    source: str
    outcome: str
    counts: dict[str, int] = field(default_factory=dict)
    run: str | None = None  # the run's id: a summary delivered twice is counted once


def record_run(
    store: Definitions, source: str, outcome: str, counts: dict[str, int], run: str | None = None
) -> None:
    """Count one run of `source` under its outcome and keep the last run's figures.

    Read, then written: two runs of one source ending at the same instant may count once,
    which a run counter can afford (the statements themselves are stored exactly once).
    A run whose id is the last one counted is not counted again (Kafka delivers a summary
    at least once)."""
    known = store.get_definition(CONNECTOR_RUN, source) or {}
    if run is not None and known.get("last_run_id") == run:
        return
    runs = {name: int(known.get("runs", {}).get(name, 0)) for name in OUTCOMES}
    runs[outcome] = runs.get(outcome, 0) + 1
    record: dict[str, Any] = {
        "id": source,
        "runs": runs,
        "last_run": format_stored(datetime.now(UTC)),
        "last_outcome": outcome,
        "last_counts": dict(counts),
    }
    if run is not None:
        record["last_run_id"] = run
    store.put_definition(CONNECTOR_RUN, source, record)


def connector_runs(store: Definitions) -> list[dict[str, Any]]:
    return store.list_definitions(CONNECTOR_RUN)


def run_record(summary: RunSummary) -> bytes:
    """A run's summary as a record of the inbound topic (pure)."""
    body = {"source": summary.source, "outcome": summary.outcome, "counts": summary.counts}
    if summary.run is not None:
        body["run"] = summary.run
    return orjson.dumps({RUN_RECORD: body})


def split_run_records(payloads: list[bytes]) -> tuple[list[RunSummary], list[bytes]]:
    """Run summaries apart from the other records (pure). A record that starts like a
    summary but is not a well-formed one stays with the others, to be refused with a reason
    like any record that is not a statement."""
    runs: list[RunSummary] = []
    rest: list[bytes] = []
    for payload in payloads:
        summary = _summary(payload) if payload.startswith(_RUN_PREFIX) else None
        if summary is None:
            rest.append(payload)
        else:
            runs.append(summary)
    return runs, rest


def _summary(payload: bytes) -> RunSummary | None:
    try:
        found = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    body = found.get(RUN_RECORD) if isinstance(found, dict) and len(found) == 1 else None
    if not isinstance(body, dict):
        return None
    source, outcome, counts, run = (body.get(k) for k in ("source", "outcome", "counts", "run"))
    if not (isinstance(source, str) and source and outcome in OUTCOMES):
        return None
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in counts.items()
    ):
        return None
    if run is not None and not isinstance(run, str):
        return None
    return RunSummary(source, outcome, counts, run)


def record_summary(store: Definitions, summary: RunSummary) -> None:
    record_run(store, summary.source, summary.outcome, summary.counts, summary.run)
