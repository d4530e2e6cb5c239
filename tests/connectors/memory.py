"""A sink that keeps what it is sent, for tests that look at a run's statements."""

from __future__ import annotations

from typing import Any

from connectors.base import Skipped


class ListSink:
    """Accepts everything (nothing is refused or already stored): `statements` in order."""

    def __init__(self) -> None:
        self.statements: list[dict[str, Any]] = []
        self.rejected: list[Skipped] = []
        self.already: list[str] = []

    def send(self, statements: list[dict[str, Any]]) -> None:
        self.statements.extend(statements)

    def close(self) -> None:
        pass
