"""The access-log port: an append-only, hash-chained log of reads and erasures."""

from __future__ import annotations

from typing import Any, Protocol

from lrs.domain.records import AccessEntry, AccessHead, AccessQuery


class AccessLog(Protocol):
    def append_access(self, record: dict[str, Any]) -> AccessEntry:
        """Seal `record` after the current head (lrs.ops.access_log.seal_access) and append
        it atomically: the head is read and moved in one transaction, so concurrent
        requests never fork the chain."""
        ...

    def read_access(self, query: AccessQuery) -> list[AccessEntry]:
        """Entries matching the query, in seq order."""
        ...

    def access_head(self) -> AccessHead | None:
        """The head record (None before the first append)."""
        ...
