"""The definitions port: imported frameworks and alignment rules, JSON by kind and id."""

from __future__ import annotations

from typing import Any, Protocol


class Definitions(Protocol):
    def put_definition(self, kind: str, definition_id: str, data: dict[str, Any]) -> None: ...

    def get_definition(self, kind: str, definition_id: str) -> dict[str, Any] | None: ...

    def list_definitions(self, kind: str) -> list[dict[str, Any]]:
        """Every definition of a kind, ordered by id."""
        ...

    def delete_definition(self, kind: str, definition_id: str) -> bool: ...
