"""The credentials port: who may call the API, and which organisation each key belongs to."""

from __future__ import annotations

from typing import Protocol

from lrs.domain.records import Credential


class Credentials(Protocol):
    def save_credential(self, credential: Credential) -> None: ...

    def get_credential(self, key: str) -> Credential | None: ...

    def list_credentials(self) -> list[Credential]:
        """Every credential, ordered by key: which credential keys make up which organisation
        (a statement belongs to the organisation of the credential that stored it)."""
        ...

    def credentials_version(self) -> str:
        """A cheap token that changes whenever a credential is saved (in any process), so a
        reader may keep `list_credentials` cached until it does."""
        ...
