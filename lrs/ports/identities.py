"""The identities port: learner keys linked into persons (lrs.national_id decides the keys)."""

from __future__ import annotations

from typing import Protocol


class Identities(Protocol):
    def link_keys(self, person: str, keys: list[str]) -> None:
        """Link keys to a person; a key belongs to one person at most, so linking moves it."""
        ...

    def unlink_key(self, key: str) -> str | None:
        """Unlink a key; the person it belonged to, if any."""
        ...

    def person_of(self, key: str) -> str | None: ...

    def keys_of(self, person: str) -> list[str]:
        """The person's keys, sorted; empty for an unknown person."""
        ...
