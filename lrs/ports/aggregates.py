"""The aggregates port: stored competency aggregates per group, and recomputing the
evidence of chosen statements after alignment rules changed (issue 14, points 4 and 6)."""

from __future__ import annotations

from typing import Any, Protocol


class Aggregates(Protocol):
    def recontribute(self, reducer: Any, statements: dict[str, dict[str, Any]]) -> list[str]:
        """Take back what these statements contributed to `reducer`'s projection and let
        them contribute again from their content under the reducer's current rules (a
        retracted statement stays taken back); the keys whose state was rebuilt. One
        transaction; every other key's state is left as it is."""
        ...

    def put_aggregate_rows(self, framework: str, rows: dict[str, dict[str, Any] | None]) -> int:
        """Replace persons' rows (None: remove) and fold the difference into the counts
        (lrs.ops.aggregates.row_deltas), in one transaction; how many rows changed."""
        ...

    def get_aggregate_rows(
        self, framework: str, entries: list[str]
    ) -> dict[str, dict[str, Any]]: ...

    def aggregate_counts(
        self, framework: str, dimension: str, value: str | None, before_day: str | None = None
    ) -> list[tuple[str, str, int]]:
        """(value, cell, count) of a dimension (one value, or all). `before_day` (a date):
        the sum of the dated changes of the days before it instead of the current count."""
        ...

    def clear_aggregates(self, framework: str) -> None: ...
