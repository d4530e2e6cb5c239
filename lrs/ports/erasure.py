"""The erasure port: remove a person's data across every capability, in the adapter's
transactions (lrs.erasure decides whose keys; lrs.xapi.erasure what happens per statement;
lrs.ops.projections.rebuild_after_erasure what the projections become)."""

from __future__ import annotations

from typing import Any, Protocol

from lrs.domain.records import ErasureReport


class Erasure(Protocol):
    def erase(self, keys: list[str], reducers: list[Any]) -> ErasureReport:
        """Statements filed under `keys` are deleted, others naming them pseudonymised;
        attachments only deleted statements used, their documents, agent names, identity
        links, and projection contributions and states (rebuilt with `reducers`) go too.
        Deleted statements are recorded as retracted in every projection, so a replay or a
        late batch of a processor cannot bring them back. Idempotent: run it again to
        finish an interrupted erasure.
        """
        ...
