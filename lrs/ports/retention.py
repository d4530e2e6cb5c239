"""The retention port: what lrs.ops.retention needs from a store to apply retention policies.

The operation decides (which organisation a statement belongs to, whether a legal hold
covers it, delete or anonymise, what a statement becomes); an adapter only finds and
writes. Every primitive is idempotent, so a run interrupted anywhere is finished by the
next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lrs.domain.records import ErasureReport


@dataclass(frozen=True)
class StoredStatement:
    """A statement as retention sees it: where it is in the log, who stored it, when."""

    seq: int
    id: str
    credential: str  # the key of the credential that stored it (its organisation's)
    stored: str
    statement: dict[str, Any]


@dataclass(frozen=True)
class StoredDocument:
    kind: str  # state, activity_profile or agent_profile
    scope: str  # with its organisation's namespace (lrs.access.document_namespace)
    doc_id: str
    updated: str


class Retention(Protocol):
    def statements_stored_before(
        self, before: str, after_seq: int, limit: int
    ) -> list[StoredStatement]:
        """Up to `limit` statements stored before `before` with seq > `after_seq`, in seq
        order (so a caller pages through them with the last seq it saw)."""
        ...

    def retire_statements(
        self, deleted: list[str], rewritten: dict[str, dict[str, Any]], reducers: list[Any] | None
    ) -> ErasureReport:
        """Delete `deleted`, replace `rewritten` (id -> the statement to keep, re-indexed),
        delete the attachments only deleted statements used. With `reducers`, both kinds
        leave every projection (contributions removed, states rebuilt, retractions kept so
        a replay cannot bring them back); None keeps the projections as they are (facts).
        Ids no longer stored are ignored."""
        ...

    def delete_statement_attachments(self, ids: list[str]) -> int:
        """Delete the attachment contents these statements use and no other statement
        does (the statements keep their attachment metadata); how many were deleted."""
        ...

    def documents_updated_before(self, before: str) -> list[StoredDocument]:
        """The documents (every kind and organisation) last changed before `before`."""
        ...

    def delete_expired_documents(self, documents: list[StoredDocument]) -> int:
        """Delete these documents unless changed since (`updated` must still match)."""
        ...

    def prune_access(self, through: int) -> int:
        """Delete the access-log entries with seq <= `through` (never the head record);
        how many. The caller has already appended the entry that records the cut."""
        ...
