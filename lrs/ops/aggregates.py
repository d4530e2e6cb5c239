"""Stored competency aggregates: a person's row, and what replacing it does to the counts.

An aggregate counts persons per group (class, organisation, commune, target group) and
per *cell* (a competence in a state, a competence at a level, confirmed). Each person has
one stored row per framework: the groups they are placed in, the cells they hold now, and
their history as dated cell changes. Replacing a row adds the new row's figures and takes
the old row's away, so the counts are a fold of row changes (commutative: replaying a
change that was already applied is a no-op because the stored row is the old one). Kept
out of the adapters so that SQLite and MongoDB cannot count differently; each adapter
reads the old rows and applies the deltas in the same transaction.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lrs.domain.records import Contribution
from lrs.ports.projections import ProjectionTransaction

# a count key: (dimension, value, day, cell); day "" is the current count, a date
# (YYYY-MM-DD, UTC) a change on that day (as-of answers sum the days before a bound)
CountKey = tuple[str, str, str, str]
NOW = ""
PERSONS = "*"  # the cell every person holds: the group's total
# Dated changes are kept for the province's views only (communes or wards, target groups):
# per class or school they would be most of the stored rows (25,000 classes and 1,000
# schools in a province of a million: ~37 cells x ~100 days each), and a class of 40 or a
# school of ~1,000 as of a date is computed from its evidence instead
# (lrs.competency.aggregates; benchmarks/AGGREGATES.md has the sizes).
DATED = frozenset({"commune", "target_group"})


def row_figures(row: dict[str, Any] | None) -> Counter[CountKey]:
    """What one person's row adds to the counts, on every group it is placed in."""
    found: Counter[CountKey] = Counter()
    if not row:
        return found
    places: dict[str, list[str]] = row.get("places") or {}
    cells: list[str] = row.get("cells") or []
    history: list[list[Any]] = row.get("history") or []
    for dimension, values in places.items():
        for value in values:
            found[(dimension, value, NOW, PERSONS)] += 1
            for cell in cells:
                found[(dimension, value, NOW, cell)] += 1
            if dimension not in DATED:
                continue
            for day, cell, delta in history:
                found[(dimension, value, str(day), str(cell))] += int(delta)
    return found


def row_deltas(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[CountKey, int]:
    """The count changes of replacing `old` by `new` (either may be None); zeros dropped."""
    delta = row_figures(new)
    delta.subtract(row_figures(old))
    return {key: n for key, n in delta.items() if n}



def replaced_rows(
    old: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any] | None]
) -> tuple[dict[str, dict[str, Any] | None], dict[CountKey, int]]:
    """What storing `rows` over `old` changes, whatever the store: the entries whose row
    differs (in entry order; None: delete it) and the counts' summed changes, zeros dropped."""
    changed: dict[str, dict[str, Any] | None] = {}
    totals: dict[CountKey, int] = {}
    for entry in sorted(rows):
        new = rows[entry]
        if new == old.get(entry):
            continue
        changed[entry] = new
        for key, n in row_deltas(old.get(entry), new).items():
            totals[key] = totals.get(key, 0) + n
    return changed, {key: n for key, n in totals.items() if n}

def recontributed_states(
    reducer: Any,
    tx: ProjectionTransaction,
    fresh: list[Contribution],
    keys: set[str],
) -> dict[str, dict[str, Any] | None]:
    """The states after statements contribute again under new rules (their old
    contributions already taken back by the adapter; `keys`: the keys they had): a
    retracted statement stays out, and every key touched, before or now, is rebuilt from
    its live contributions (None: delete the key). Whatever the store, as erasure does."""
    touched = set(keys)
    for contribution in fresh:
        if tx.is_retracted(contribution.statement_id):
            continue
        tx.add_contribution(contribution)
        touched.add(contribution.key)
    return {key: reducer.rebuild(key, tx.live_contributions(key)) for key in sorted(touched)}
