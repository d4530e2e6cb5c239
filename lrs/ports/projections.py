"""The projections port: derived state (learner profiles, competency status) and its inputs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from lrs.domain.records import Contribution, Retraction, StateQuery


class Projections(Protocol):
    def apply_changes(
        self,
        reducer: Any,
        changes: list[Contribution | Retraction],
        offset: tuple[str, int] | None = None,
    ) -> None:
        """Apply a projection's changes atomically and idempotently, as
        lrs.ops.projections.apply_projection_changes decides.

        `offset` (consumer, position): move that consumer's offset in the same transaction,
        so a processor never re-reads a batch it applied (its retries stay harmless anyway).
        """
        ...

    def get_state(self, projection: str, key: str) -> dict[str, Any] | None: ...

    def list_states(self, projection: str, query: StateQuery) -> list[tuple[str, dict[str, Any]]]:
        """(key, state) pairs in key order, after `query.after`."""
        ...

    def clear_projection(self, projection: str) -> None:
        """Forget a projection's state and contributions (before a replay)."""
        ...

    def get_contributions(self, projection: str, keys: list[str]) -> list[Contribution]:
        """Live (not retracted) contributions filed under any of `keys`, in recorded order."""
        ...


class ProjectionTransaction(Protocol):
    """What `apply_projection_changes` reads and writes, inside one adapter transaction."""

    def load_state(self, key: str) -> dict[str, Any] | None: ...

    def is_retracted(self, statement_id: str) -> bool:
        """Whether the statement's contributions must not count: a retraction is recorded
        and the statement store does not hold it unvoided. The store is the judge of
        voiding (a voiding statement of another organisation voids nothing there), so the
        projections agree with what `GET /xapi/statements` answers.
        """
        ...

    def add_contribution(self, contribution: Contribution) -> bool:
        """Record a contribution; False when it was recorded already (nothing to fold)."""
        ...

    def add_retraction(self, statement_id: str) -> bool:
        """Record a retraction; False when it was recorded already (nothing to rebuild)."""
        ...

    def retract_contributions(self, statement_id: str) -> Iterable[str]:
        """Mark the statement's contributions retracted; the keys that had live ones."""
        ...

    def live_contributions(self, key: str) -> list[Contribution]:
        """The key's contributions that are not retracted, in the order they were recorded."""
        ...
