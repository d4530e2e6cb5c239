"""The log port: stored statements as an ordered event log, the outbox (with its relay's
lease), consumer offsets."""

from __future__ import annotations

from typing import Protocol

from lrs.domain.records import LogRecord


class Log(Protocol):
    def read_log(self, after: int, limit: int) -> list[LogRecord]:
        """Stored statements with offset > after, in stored order (the embedded event log)."""
        ...

    def unpublished(self, limit: int) -> list[LogRecord]:
        """Stored statements not yet confirmed published to the event bus, oldest first."""
        ...

    def mark_published(self, records: list[LogRecord]) -> None:
        """Confirm records returned by `unpublished` (in that order) as published."""
        ...

    def published_count(self) -> int:
        """How many stored statements are marked published (a topic holding fewer lost some)."""
        ...

    def count_after(self, after: int) -> int:
        """How many stored statements `read_log(after, ...)` has yet to return: a consumer's
        backlog (/metrics). One index range count, no statement read."""
        ...

    def unpublished_count(self) -> int:
        """How many stored statements the outbox relay has yet to publish (/metrics)."""
        ...

    def reset_published(self) -> None:
        """Mark every stored statement unpublished: the bus lost its log, publish it all again."""
        ...

    def claim_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew the lease `name` for `owner` until `seconds` from now, if it is free,
        expired or already theirs; False while another owner holds it. One outbox relay per
        store publishes at a time: every API process and worker runs one, and without the
        lease they would all publish (and mark) the same statements. `seconds=0` gives it up.
        """
        ...

    def get_offset(self, consumer: str) -> int:
        """Where a named consumer of the embedded log stands (0 before its first record)."""
        ...

    def set_offset(self, consumer: str, offset: int) -> None: ...
