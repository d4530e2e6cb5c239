"""The credentials port: who may call the API, and which organisation each key belongs to."""

from __future__ import annotations

from typing import Protocol

from lrs.domain.records import Credential


class Credentials(Protocol):
    def save_credential(self, credential: Credential) -> None:
        """Create or replace (revoke, rotate): every field as given, `created` set if empty.
        Moves `credentials_version`."""
        ...

    def get_credential(self, key: str) -> Credential | None: ...

    def list_credentials(self) -> list[Credential]:
        """Every credential, ordered by key: which credential keys make up which organisation
        (a statement belongs to the organisation of the credential that stored it)."""
        ...

    def credentials_version(self) -> str:
        """A cheap token that changes whenever a credential is saved (in any process), so a
        reader may keep credentials cached until it does."""
        ...

    def touch_credential(self, key: str, when: str) -> None:
        """Record that the credential was used at `when` (a stored time), if later than the
        last use recorded. Does not move `credentials_version`: it is no change of rights."""
        ...
