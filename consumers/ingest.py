"""The ingest processor: what connectors put on `xapi.inbound` is validated and stored.

Every decision is lrs.ops.ingest's, the same as for HTTP and the connector sinks: this
module only adapts it to the stream. Refused records go to `xapi.dlq` with the reason and
the original payload; nothing a connector sends can stop the stream. The run summary that
`lrs connect --to kafka://` sends after its statements is no record of this module: the
worker takes it out first and counts the run (lrs.ops.connector_runs.split_run_records).

`ingest` is the one call to use; `triage`, `store_all` and `connector_authority` keep the
shape consumers/app.py calls today and are thin wrappers over the same operation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from lrs.ops.ingest import (
    IngestStore,
    Outcome,
    Refusal,
    Writer,
    connector_writer,
    ingest_records,
    record_version,
    store_each,
)
from lrs.ops.ingest import triage as triage_records
from lrs.xapi.errors import XAPIError

__all__ = [
    "Outcome",
    "Rejected",
    "Refusal",
    "Writer",
    "connector_authority",
    "connector_writer",
    "ingest",
    "store_all",
    "triage",
]


@dataclass(frozen=True)
class Rejected:
    payload: bytes
    reason: str
    field: str | None


def ingest(store: IngestStore, payloads: list[bytes], writer: Writer) -> Outcome:
    """Validate, normalise and store inbound records; refusals are returned, not raised."""
    return ingest_records(store, payloads, writer)


def triage(
    payloads: list[bytes], version: str | None = None
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Split raw inbound records into completed statements and refusals (pure).

    Each record is checked against its own xAPI version (lrs.ops.ingest.record_version)
    and 2.0 timestamps are normalised, as over HTTP.
    """
    valid, refused = triage_records(payloads, version)
    return [statement for statement, _ in valid], [
        Rejected(r.payload, r.reason, r.field) for r in refused
    ]


def connector_authority(source: str, base_url: str) -> dict[str, Any]:
    """The authority on statements a connector delivered through Kafka."""
    return connector_writer(source, base_url).authority


def store_all(
    store: IngestStore,
    statements: list[dict[str, Any]],
    authority: dict[str, Any],
    credential: str,
    version: str | None = None,
) -> list[tuple[dict[str, Any], XAPIError]]:
    """Store completed statements (from `triage`); only the refused ones are returned."""
    writer = connector_writer(credential, "http://localhost")
    writer = Writer(writer.credential, authority)
    by_version: dict[str, list[dict[str, Any]]] = {}
    for statement in statements:
        by_version.setdefault(record_version(statement, version), []).append(statement)
    refused: list[tuple[dict[str, Any], XAPIError]] = []
    for checked, batch in by_version.items():
        _, failed = store_each(store, batch, writer, checked)
        refused += [(_statement(r), XAPIError(r.reason, r.field, code=r.code)) for r in failed]
    return refused


def _statement(refusal: Refusal) -> dict[str, Any]:
    found = orjson.loads(refusal.payload)
    return found if isinstance(found, dict) else {}
