"""The retention port: what lrs.ops.retention needs from a store, besides the erasure port.

The operation decides (which organisation a statement belongs to, whether a legal hold
covers it, delete or anonymise, what a statement becomes) and carries its decisions out
with the erasure port's primitives (lrs.ports.erasure), the one way a store deletes or
rewrites statements, documents, attachments and names. What is left here finds what is
old, and cuts the access log. Every primitive is idempotent, so a run interrupted
anywhere is finished by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lrs.ports.erasure import DocumentRef


@dataclass(frozen=True)
class StoredStatement:
    """A statement as retention sees it: where it is in the log, who stored it, when."""

    seq: int
    id: str
    credential: str  # the key of the credential that stored it (its organisation's)
    stored: str
    statement: dict[str, Any]


class Retention(Protocol):
    def statements_stored_before(
        self, before: str, after_seq: int, limit: int
    ) -> list[StoredStatement]:
        """Up to `limit` statements stored before `before` with seq > `after_seq`, in seq
        order (so a caller pages through them with the last seq it saw)."""
        ...

    def documents_updated_before(self, before: str) -> list[DocumentRef]:
        """The documents (every kind and organisation) last changed before `before`, with
        that time in `updated` (the scope with its organisation's namespace,
        lrs.access.document_namespace)."""
        ...

    def prune_access(self, through: int) -> int:
        """Delete the access-log entries with seq <= `through` (never the head record);
        how many. The caller has already appended the entry that records the cut."""
        ...
