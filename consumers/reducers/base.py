"""What every stream processor is: statements in, contributions and retractions out.

A processor never writes state itself. It turns each statement into changes (pure), and a
reducer folds contributions into per-key state (pure). The store applies them idempotently:
a contribution is folded once however often it is delivered, and a retraction (voiding)
rebuilds the key's state from the contributions that remain. That makes every effect
exactly-once and a replay from offset zero give the same state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import orjson

from lrs.domain.records import Contribution, Retraction
from lrs.domain.times import format_stored
from lrs.xapi.errors import ValidationError
from lrs.xapi.statements import is_voiding, statement_ref_target
from lrs.xapi.time import is_normal_form, parse_timestamp

Change = Contribution | Retraction
log = logging.getLogger("lrs.processors")


class Reducer(Protocol):
    """Pure state logic of one projection (profiles, competencies, ...)."""

    name: str

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        """What a (non-voiding) statement adds to the projection; often one, maybe none."""
        ...

    def fold(self, state: dict[str, Any] | None, contribution: Contribution) -> dict[str, Any]:
        """State after one more contribution; may update `state` in place (the caller owns it).

        The result must not depend on the order of contributions.
        """
        ...

    def rebuild(self, key: str, contributions: list[Contribution]) -> dict[str, Any] | None:
        """State from scratch; None when nothing remains."""
        ...

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        """Values the state can be listed by (field -> values), for the query API."""
        ...


def statement_time(statement: dict[str, Any]) -> str | None:
    """When a statement happened, in the stored form (UTC, milliseconds): its timestamp, or
    when it was stored if the timestamp is missing or unreadable. Times in that form already
    (every 2.0 statement, and `stored`) are taken as they are, without parsing."""
    for prop in ("timestamp", "stored"):
        value = statement.get(prop)
        if is_normal_form(value):
            return str(value)
        if isinstance(value, str):
            try:
                return format_stored(parse_timestamp(value, "1.0.3"))
            except ValidationError:
                continue
    return None


def changes_for(reducer: Reducer, statements: Iterable[dict[str, Any]]) -> list[Change]:
    """The changes a run of statements makes to one projection, in log order."""
    changes: list[Change] = []
    for statement in statements:
        _add_changes(changes, reducer, statement)
    return changes


def changes_of_records(reducers: Sequence[Reducer], values: Iterable[bytes]) -> list[list[Change]]:
    """The changes a run of log records makes to each projection, in log order.

    Each record is decoded once for every projection, and its parsed statement is dropped
    as soon as they have taken their changes: parsed statements weigh far more than their
    changes, so a processor's memory follows its changes (benchmarks/MEASUREMENTS.md).
    """
    changes: list[list[Change]] = [[] for _ in reducers]
    for value in values:
        statement = _decode_record(value)
        for reducer, into in zip(reducers, changes, strict=True):
            _add_changes(into, reducer, statement)
    return changes


def key_parts(changes: list[Change], keys_per_part: int) -> list[list[Change]]:
    """A batch's changes split so that applying each part holds at most `keys_per_part`
    states in memory; always at least one part (an empty batch still moves the offset).

    A state grows with its learner's history (an entry per activity, course, registration),
    so one transaction for a whole batch holds more states the longer the store runs
    (benchmarks/MEASUREMENTS.md). A key's
    changes stay in one part, in log order, so its state is still read and written once per
    batch. Retractions go in the last part: the store's apply gives the same state in either
    order (a contribution of a retracted statement is skipped or taken back).
    """
    parts: list[list[Change]] = []
    part_of: dict[str, int] = {}
    retractions: list[Change] = []
    for change in changes:
        if isinstance(change, Retraction):
            retractions.append(change)
            continue
        index = part_of.get(change.key)
        if index is None:
            index = part_of[change.key] = len(part_of) // keys_per_part
            if index == len(parts):
                parts.append([])
        parts[index].append(change)
    if not parts:
        parts.append([])
    parts[-1].extend(retractions)
    return parts


def _decode_record(value: bytes) -> Any:
    """A log record's statement; None (skipped, with a warning) when it is not JSON."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _add_changes(changes: list[Change], reducer: Reducer, statement: Any) -> None:
    if not isinstance(statement, dict) or not isinstance(statement.get("id"), str):
        # Only the store publishes to the statements topic; anything else is noise that
        # must not stop the stream (a poison record would otherwise crash every retry).
        log.warning("skipping a record that is not a stored statement: %.200r", statement)
        return
    if is_voiding(statement):
        target = statement_ref_target(statement)
        if target:
            changes.append(Retraction(target))
    else:
        changes.extend(reducer.contributions(statement))


class FoldingReducer:
    """For reducers whose fold is order-independent: a rebuild is a fold from nothing."""

    def fold(self, state: dict[str, Any] | None, contribution: Contribution) -> dict[str, Any]:
        raise NotImplementedError

    def rebuild(self, key: str, contributions: list[Contribution]) -> dict[str, Any] | None:
        return rebuild_by_folding(self, contributions)  # type: ignore[arg-type]


def rebuild_by_folding(
    reducer: Reducer, contributions: list[Contribution]
) -> dict[str, Any] | None:
    """`rebuild` for any reducer whose fold is order-independent."""
    state: dict[str, Any] | None = None
    for contribution in contributions:
        state = reducer.fold(state, contribution)
    return state


def replay(reducer: Reducer, statements: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The projection's states from a statement log, computed in memory.

    Same semantics as the stores' `apply_changes` (each statement counted once, retractions
    win whichever comes first): the reference that live state is checked against.
    """
    contributions: dict[str, list[Contribution]] = {}
    retracted: set[str] = set()
    seen: set[tuple[str, str]] = set()
    for change in changes_for(reducer, statements):
        if isinstance(change, Retraction):
            retracted.add(change.statement_id)
        elif (change.statement_id, change.key) not in seen:
            seen.add((change.statement_id, change.key))
            contributions.setdefault(change.key, []).append(change)
    states: dict[str, dict[str, Any]] = {}
    for key, items in contributions.items():
        state = reducer.rebuild(key, [c for c in items if c.statement_id not in retracted])
        if state is not None:
            states[key] = state
    return states
