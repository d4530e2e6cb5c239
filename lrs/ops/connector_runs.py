"""Connector runs, kept in the store so that every LRS process can report them (/metrics):
`lrs connect` is a process of its own that ends, so its figures would otherwise be lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lrs.domain.times import format_stored
from lrs.ports import Definitions

CONNECTOR_RUN = "connector-run"
OUTCOMES = ("ok", "refused", "failed")  # exit 0, 3 (some records refused), 1 (destination)


def record_run(store: Definitions, source: str, outcome: str, counts: dict[str, int]) -> None:
    """Count one run of `source` under its outcome and keep the last run's figures.

    Read, then written: two runs of one source ending at the same instant may count once,
    which a run counter can afford (the statements themselves are stored exactly once)."""
    known = store.get_definition(CONNECTOR_RUN, source) or {}
    runs = {name: int(known.get("runs", {}).get(name, 0)) for name in OUTCOMES}
    runs[outcome] = runs.get(outcome, 0) + 1
    store.put_definition(
        CONNECTOR_RUN,
        source,
        {
            "id": source,
            "runs": runs,
            "last_run": format_stored(datetime.now(UTC)),
            "last_outcome": outcome,
            "last_counts": dict(counts),
        },
    )


def connector_runs(store: Definitions) -> list[dict[str, Any]]:
    return store.list_definitions(CONNECTOR_RUN)
