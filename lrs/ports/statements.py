"""The statements port: what the operations and the API need from a statement store.

Two parts: the calls the API makes (save a decided batch, read, query), and the few
primitive reads the operations layer needs to decide links between statements
(`StatementGraph`, read inside the adapter's write transaction).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from lrs.domain.records import (
    Attachment,
    HistoryPage,
    HistoryQuery,
    StatementPage,
    StatementQuery,
)


@dataclass(frozen=True)
class LinkNode:
    """A stored statement as the StatementRef graph sees it (lrs.ops.references).

    `terms` are opaque to the operations layer: each adapter encodes an index term its own
    way (SQLite: (kind, term id) pairs; MongoDB: "kind:value" strings). The rule only
    takes unions of them.
    """

    id: str
    terms: frozenset[Any]
    target: str | None  # the statement this one references (StatementRef), if any
    voiding: bool
    credential: str  # the credential key that stored it: its organisation decides
    seq: int  # its position in the log (adapters use it to write index rows)


class StatementGraph(Protocol):
    """The primitive reads behind re-sends, voiding and term inheritance, in one write
    transaction (lrs.ops.statements, lrs.ops.references)."""

    def stored(self, ids: Collection[str]) -> dict[str, LinkNode]:
        """The stored statements among `ids` (placeholders and absent ids left out)."""
        ...

    def referrers(self, ids: Collection[str]) -> list[LinkNode]:
        """Stored statements whose StatementRef targets one of `ids`."""
        ...

    def contents(self, ids: Collection[str]) -> dict[str, dict[str, Any]]:
        """The stored JSON of the statements among `ids` (re-sends and conflicts)."""
        ...


class Statements(Protocol):
    def save_statements(
        self,
        statements: list[dict[str, Any]],
        *,
        authority: dict[str, Any],
        credential: str,
        version: str,
        attachments: list[Attachment],
    ) -> list[str]:
        """Store a validated batch atomically; return the ids in order.

        A statement whose id is stored already with the same content is not stored again;
        with different content the whole batch fails with Conflict. Voiding and inherited
        terms follow lrs.ops.references, whatever the adapter.
        """
        ...

    def get_statement(self, statement_id: str, *, voided: bool) -> bytes | None: ...

    def query_statements(self, query: StatementQuery) -> StatementPage: ...

    def statement_history(self, query: HistoryQuery) -> HistoryPage:
        """A page of the statements filed under `query.learners` (actor or object), voided
        and voiding ones included, in stored order (`seq`), after `query.after`.

        Reads only below what is settled (as `query_statements` does), so a cursor never
        skips a statement that commits later.
        """
        ...

    def get_attachments(self, sha2s: list[str]) -> list[Attachment]: ...

    def consistent_through(self) -> str: ...

    def get_activity(self, activity_id: str) -> dict[str, Any] | None: ...

    def get_agent_names(self, key: str) -> list[str]: ...
