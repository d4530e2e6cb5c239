"""The log port: stored statements as an ordered event log, the outbox, consumer offsets."""

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

    def get_offset(self, consumer: str) -> int:
        """Where a named consumer of the embedded log stands (0 before its first record)."""
        ...

    def set_offset(self, consumer: str, offset: int) -> None: ...
