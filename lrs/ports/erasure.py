"""The erasure port: the primitives that remove or rewrite stored data, for erasure and retention.

lrs.ops.erasure loops over them to remove a person's data; lrs.ops.retention carries out
its runs with the same ones (it finds what is old through lrs.ports.retention). The
operations decide (which statements go, what the others become, which documents go, in
which order the steps run); an adapter only finds and writes, each primitive in its own
transaction. Crash safety rests on `redact_statements` recording, in the same transaction
as the statements it changes, what it still owes the projections, the attachments and the
agent names (a `Redaction`): a statement that was deleted or no longer names the person
cannot be found again, so what was done to it must not be forgotten before it is settled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lrs.domain.records import ErasureReport
from lrs.ports.forwarding import DeadLetterCopies

# Where adapters keep owed redactions: a definitions kind no API lists (ids are random).
REDACTIONS_OWED = "erasure-owed"
# What the projections do with a redaction's statements (`Redaction.projections`):
REFOLD = "refold"  # erasure: deleted ones retracted, rewritten ones folded again as they are now
RETRACT = "retract"  # retention's anonymise: rewritten ones name nobody, so retracted as well
KEEP = "keep"  # retention with `projections: keep`: the states stay as established facts


@dataclass
class Redaction:
    """What one batch of an erasure or a retention run does to statements, and owes
    afterwards. Whichever operation runs next settles every owed record as the record
    says (lrs.ops.erasure.settle_owed), so a record must say everything its settling needs."""

    id: str
    deleted: list[str] = field(default_factory=list)
    rewritten: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> new statement
    untouched: list[str] = field(default_factory=list)  # keep content, lose the keys' terms
    attachments: list[str] = field(default_factory=list)  # sha2s the deleted ones used
    projections: str = REFOLD
    # agent keys whose names go once no stored statement names them (retention: a learner's
    # last statements went). Erasure leaves it empty: its keys are forgotten by `forget_keys`,
    # and its records hold no identifier of the person.
    names: list[str] = field(default_factory=list)

    def owed(self) -> dict[str, Any]:
        """The record kept until the projections, attachments and names are settled."""
        return {
            "id": self.id,
            "deleted": self.deleted,
            "rewritten": self.rewritten,
            "attachments": self.attachments,
            "projections": self.projections,
            "names": self.names,
        }

    @classmethod
    def from_owed(cls, data: dict[str, Any]) -> Redaction:
        return cls(
            str(data["id"]),
            list(data.get("deleted") or []),
            dict(data.get("rewritten") or {}),
            [],
            list(data.get("attachments") or []),
            str(data.get("projections") or REFOLD),  # records written before retention's
            list(data.get("names") or []),
        )


@dataclass(frozen=True)
class DocumentRef:
    kind: str
    scope: str
    doc_id: str
    updated: str | None = None  # when found (retention): deleted only if unchanged since


class Erasure(DeadLetterCopies, Protocol):
    """Forwarding's dead letters are copies of statements: the operation settles them
    with the statements (lrs.ops.forwarding.settle_dead_letters) once those are changed."""

    def statements_naming(self, keys: list[str], limit: int) -> list[dict[str, Any]]:
        """Up to `limit` statements indexed under one of `keys` as agent or related agent
        (lrs.xapi.redaction.FILED_UNDER), oldest first. A statement `redact_statements`
        has handled no longer carries those terms, so the next call returns the rest."""
        ...

    def redact_statements(self, keys: list[str], redaction: Redaction) -> tuple[int, int]:
        """In one transaction: delete `deleted`, replace `rewritten` (re-indexed: the new
        statement's terms, and the old ones but those of `keys`), drop every term of `keys`
        from the `untouched`, and record `redaction.owed()` until `settle_redactions`.
        Ids no longer stored are passed over; (statements deleted, statements rewritten)."""
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

    def delete_unused_attachments(self, sha2s: list[str], besides: Iterable[str] = ()) -> int:
        """Delete those attachments no stored statement refers to, the statements with ids
        in `besides` aside (retention's attachments policy: they keep only the metadata);
        how many were deleted."""
        ...

    def documents_naming(self, kinds: tuple[str, ...], key: str) -> list[DocumentRef]:
        """Documents of `kinds` whose scope contains `key` (the operation reads the scope)."""
        ...

    def erase_documents(self, documents: list[DocumentRef]) -> int:
        """Delete exactly these documents (one with `updated` only if not changed since),
        leaving no copy of their bytes; how many."""
        ...

    def forget_keys(self, keys: list[str], *, unless_named: bool = False) -> tuple[int, int]:
        """Delete the keys' agent names and identity links (and any row the adapter keeps
        per key); (names deleted, links deleted). With `unless_named` (retention: the
        person stays, only old statements went), only the names of the keys no stored
        statement is filed under any more (FILED_UNDER) go: the links, and any row the
        adapter keeps per key, stay."""
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
