"""The erasure port: the primitives lrs.ops.erasure loops over to remove a person's data.

The operation decides (which statements go, what the others become, which documents name
the person, in which order the steps run); an adapter only finds and writes, each
primitive in its own transaction. Crash safety rests on `redact_statements` recording,
in the same transaction as the statements it changes, what it still owes the projections
and the attachments (a `Redaction`): a statement that no longer names the person cannot
be found again, so what was done to it must not be forgotten before it is settled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from lrs.domain.records import ErasureReport
from lrs.ports.forwarding import DeadLetterCopies

# Where adapters keep owed redactions: a definitions kind no API lists (ids are random).
REDACTIONS_OWED = "erasure-owed"


@dataclass
class Redaction:
    """What one batch of an erasure does to statements, and owes afterwards."""

    id: str
    deleted: list[str] = field(default_factory=list)
    rewritten: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> new statement
    untouched: list[str] = field(default_factory=list)  # keep content, lose the keys' terms
    attachments: list[str] = field(default_factory=list)  # sha2s the deleted ones used

    def owed(self) -> dict[str, Any]:
        """The record kept until the projections and attachments are settled."""
        return {
            "id": self.id,
            "deleted": self.deleted,
            "rewritten": self.rewritten,
            "attachments": self.attachments,
        }

    @classmethod
    def from_owed(cls, data: dict[str, Any]) -> Redaction:
        return cls(
            str(data["id"]),
            list(data.get("deleted") or []),
            dict(data.get("rewritten") or {}),
            [],
            list(data.get("attachments") or []),
        )


@dataclass(frozen=True)
class DocumentRef:
    kind: str
    scope: str
    doc_id: str


class Erasure(DeadLetterCopies, Protocol):
    """Forwarding's dead letters are copies of statements: the operation settles them
    with the statements (lrs.ops.forwarding.settle_dead_letters) once those are changed."""

    def statements_naming(self, keys: list[str], limit: int) -> list[dict[str, Any]]:
        """Up to `limit` statements indexed under one of `keys` as agent or related agent
        (lrs.xapi.redaction.FILED_UNDER), oldest first. A statement `redact_statements`
        has handled no longer carries those terms, so the next call returns the rest."""
        ...

    def redact_statements(self, keys: list[str], redaction: Redaction) -> None:
        """In one transaction: delete `deleted`, replace `rewritten`, drop every term of
        `keys` from all of them (`untouched` included), and record `redaction.owed()`
        until `settle_redactions`."""
        ...

    def redactions_owed(self) -> list[Redaction]:
        """Every recorded and not yet settled redaction, this run's or an interrupted one's."""
        ...

    def erase_from_projection(
        self, reducer: Any, deleted: list[str], rewritten: dict[str, dict[str, Any]]
    ) -> ErasureReport:
        """In one transaction on the projection: drop the contributions of `deleted` and
        `rewritten` statements and write what lrs.ops.projections.rebuild_after_erasure
        returns. Counts contributions_deleted, states_deleted, states_rebuilt. Idempotent."""
        ...

    def delete_unused_attachments(self, sha2s: list[str]) -> int:
        """Delete those attachments no stored statement refers to; how many were deleted."""
        ...

    def documents_naming(self, kinds: tuple[str, ...], key: str) -> list[DocumentRef]:
        """Documents of `kinds` whose scope contains `key` (the operation reads the scope)."""
        ...

    def erase_documents(self, documents: list[DocumentRef]) -> int:
        """Delete exactly these documents, leaving no copy of their bytes; how many."""
        ...

    def forget_keys(self, keys: list[str]) -> tuple[int, int]:
        """Delete the keys' agent names and identity links (and any row the adapter keeps
        per key); (names deleted, links deleted)."""
        ...

    def erase_aggregate_rows(self, entries: list[str]) -> int:
        """Remove these persons' (or unlinked keys') stored aggregate rows in every
        framework, taking their figures out of the group counts
        (`put_aggregate_rows(framework, {entry: None})`); how many rows went. Idempotent."""
        ...

    def settle_redactions(self, ids: list[str]) -> None:
        """Forget these redactions: what they owed is done."""
        ...

    def purge_erased(self) -> None:
        """Make sure no freed copy of erased bytes stays in the store's files."""
        ...
