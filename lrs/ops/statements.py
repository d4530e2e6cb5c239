"""Which statements of a batch are written: re-sends, conflicts, refusals, decided once.

Every store runs the same two steps inside its write transaction: `prepare_batch` (the LRS
properties: id, stored, authority, version; a statement twice in one batch kept once) and
`new_statements` (a statement stored already with the same content is not stored again;
with different content, or voiding a voiding statement, the whole batch is refused with
the same error in every store). What the new statements void and inherit is
lrs.ops.references' decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lrs.ports.statements import StatementGraph
from lrs.xapi import statements as xs


@dataclass(frozen=True)
class PreparedBatch:
    ids: list[str]  # answered to the client in order, repeats included
    prepared: list[dict[str, Any]]  # each id once, as the LRS stores it
    incoming: list[dict[str, Any]]  # the same statements as the client sent them


def prepare_batch(
    statements: list[dict[str, Any]], *, stored: str, authority: dict[str, Any], version: str
) -> PreparedBatch:
    """The batch with the LRS's properties set; Conflict if an id repeats with other content."""
    every = [xs.prepare(s, stored=stored, authority=authority, version=version) for s in statements]
    prepared, incoming = xs.unique_in_batch(every, statements)
    return PreparedBatch([s["id"] for s in every], prepared, incoming)


def new_statements(batch: PreparedBatch, graph: StatementGraph) -> list[dict[str, Any]]:
    """The statements not stored yet, after refusing the batch if it must be (Conflict,
    ValidationError): reads what is stored under its ids and its voiding targets."""
    existing = graph.contents([s["id"] for s in batch.prepared])
    voided = xs.voiding_targets(batch.prepared)
    stored_voiding = (
        {t for t, node in graph.stored(voided).items() if node.voiding} if voided else set()
    )
    xs.check_batch(batch.prepared, batch.incoming, existing, stored_voiding)
    return [s for s in batch.prepared if s["id"] not in existing]
