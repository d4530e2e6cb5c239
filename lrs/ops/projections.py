"""Projection changes (learner profiles, competency status): idempotence and retraction.

Kept out of the adapters so that neither can decide differently: an adapter supplies a
`ProjectionTransaction` (lrs.ports.projections) bound to its own transaction and writes the
states these functions return.
"""

from __future__ import annotations

from typing import Any

from lrs.domain.records import Contribution, Retraction
from lrs.ports.projections import ProjectionTransaction
from lrs.xapi.statements import is_voiding


def rebuild_after_erasure(
    reducer: Any,
    tx: ProjectionTransaction,
    deleted: list[str],
    rewritten: dict[str, dict[str, Any]],
    affected: set[str],
) -> dict[str, dict[str, Any] | None]:
    """The states an erasure leaves, whatever the store (None: delete the key).

    The adapter has already removed every contribution of `deleted` and `rewritten`
    statements (`affected`: the keys they were filed under). Deleted statements become
    retractions (tombstones: a replay or a processor's late batch cannot bring them back);
    rewritten (pseudonymised) ones contribute again from their new content.
    """
    for statement_id in deleted:
        tx.add_retraction(statement_id)
    for statement in rewritten.values():
        if is_voiding(statement) or tx.is_retracted(statement["id"]):
            continue  # a voiding statement contributes nothing; a voided one stays taken back
        for contribution in reducer.contributions(statement):
            if tx.add_contribution(contribution):
                affected.add(contribution.key)
    return {key: reducer.rebuild(key, tx.live_contributions(key)) for key in sorted(affected)}


def apply_projection_changes(
    reducer: Any, changes: list[Contribution | Retraction], tx: ProjectionTransaction
) -> dict[str, dict[str, Any] | None]:
    """Which states a run of changes produces (None: delete the key), whatever the store.

    Kept out of the adapters so that idempotence and retraction-by-rebuild cannot differ
    between them; each adapter only supplies `tx` and writes the returned states.
    """
    states: dict[str, dict[str, Any] | None] = {}

    def state_of(key: str) -> dict[str, Any] | None:
        if key not in states:
            states[key] = tx.load_state(key)
        return states[key]

    for change in changes:
        if isinstance(change, Contribution):
            if tx.is_retracted(change.statement_id):
                continue
            if tx.add_contribution(change):
                states[change.key] = reducer.fold(state_of(change.key), change)
            continue
        tx.add_retraction(change.statement_id)
        if not tx.is_retracted(change.statement_id):
            continue  # the statement store kept it: the voiding came from another organisation
        for key in tx.retract_contributions(change.statement_id):
            states[key] = reducer.rebuild(key, tx.live_contributions(key))
    return states
