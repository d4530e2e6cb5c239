"""Counts and shares per competence and level, by class, organisation, commune or target
group, at a date: what a school leader or the provincial office follows.

Who counts: every person known to the competency status of the framework (directly or
through a crosswalk) and every member of a class roster, once each (linked keys are one
person). Each person is placed by their attributes: `target_group`, `commune` and `org`
from their person record (lrs.rosters), an organisation's `commune` from its record when
the person has none, classes from the rosters (a person in two classes counts in both),
and the org of the classes they are in when their record names none. A person whose
attribute is unknown is counted under `null`, so no one silently drops out of a total.

Stored, not computed per request (issue 14.6): each person has a row per framework (their
groups, cells and dated cell changes, lrs.ops.aggregates) and the counts per group are
the fold of row changes, kept by the adapters. Rows are refreshed for the persons whose
statements the competencies processor applied (`maintain`, driven by the log after that
processor's offset: the embedded runner calls it after each round, and every read calls
it first so a separate worker's changes are counted too), for those a rule change
recomputed, and for those a roster, person or organisation change re-placed (notes left
by lrs.rosters). `as_of` a date is answered from the dated changes (history); a reader
restricted to their organisation, or an `as_of` with a time of day, is computed from the
evidence as before.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from lrs.access import Access
from lrs.competency.confirmation import CONFIRMED, confirmation, confirmation_rule
from lrs.competency.crosswalk import into
from lrs.competency.framework import Framework
from lrs.competency.reading import directions_into, read_status, status_learners
from lrs.competency.registry import crosswalk_list, frameworks, rulesets
from lrs.competency.status import status_view
from lrs.ops.aggregates import DATED, PERSONS
from lrs.ports import Store
from lrs.readmodels.competencies import (
    ACHIEVED,
    IN_PROGRESS,
    NOT_STARTED,
    CompetencyState,
    CompetencyStatus,
    StateChange,
    split_key,
)
from lrs.rosters import GROUP, PERSON, PLACEMENT_CHANGE, note_placement_change
from lrs.xapi.errors import ValidationError
from lrs.xapi.statements import is_voiding, learner_key

ORGANISATION = "organisation"  # definitions of kind "organisation": {id, name, commune}
DIMENSIONS = ("class", "org", "commune", "target_group")


def _share(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def aggregate(
    framework: Framework, rows: Iterable[tuple[Sequence[str | None], CompetencyStatus]]
) -> list[dict[str, Any]]:
    """Pure: (the values a person has on the dimension, their status view) -> one entry per
    value with the persons counted, per competence the count and share in each state and
    at each level, and (for a framework with a confirmation rule) how many are confirmed."""
    groups: dict[str | None, list[CompetencyStatus]] = {}
    for values, view in rows:
        for value in values or [None]:
            groups.setdefault(value, []).append(view)
    found = []
    for value in sorted(groups, key=lambda v: (v is None, v or "")):
        views = groups[value]
        cells: Counter[str] = Counter()
        for view in views:
            for entry in view["competences"]:
                cells[f"s|{entry['code']}|{entry['state']}"] += 1
                if entry["level"]:
                    cells[f"l|{entry['code']}|{entry['level']}"] += 1
        confirmed = [v["confirmation"] for v in views if "confirmation" in v]
        cells[CONFIRMED] = sum(1 for c in confirmed if c["state"] == CONFIRMED)
        found.append(_group(framework, value, len(views), cells, bool(confirmed)))
    return found


def _group(
    framework: Framework, value: str | None, total: int, cells: Counter[str], confirmed: bool
) -> dict[str, Any]:
    """One group's figures from its persons' cells (lrs.ops.aggregates: `s|<code>|<state>`,
    `l|<code>|<level>`, `confirmed`), computed or stored alike."""
    competences = []
    for competence in framework.competences:
        code = competence.code
        states: dict[str, int] = {s: cells[f"s|{code}|{s}"] for s in (IN_PROGRESS, ACHIEVED)}
        states[NOT_STARTED] = total - states[IN_PROGRESS] - states[ACHIEVED]
        competences.append(
            {
                "code": code,
                "states": {
                    s: {"count": states[s], "share": _share(states[s], total)}
                    for s in (NOT_STARTED, IN_PROGRESS, ACHIEVED)
                },
                "levels": {
                    level.code: {
                        "count": cells[f"l|{code}|{level.code}"],
                        "share": _share(cells[f"l|{code}|{level.code}"], total),
                    }
                    for level in framework.levels
                },
            }
        )
    group: dict[str, Any] = {"value": value, "persons": total, "competences": competences}
    if confirmed:
        group["confirmed"] = {"count": cells[CONFIRMED], "share": _share(cells[CONFIRMED], total)}
    return group


def _population(
    store: Store, framework: Framework, rosters: list[dict[str, Any]], access: Access | None
) -> dict[str, list[str]]:
    """Person (or unlinked key) -> their learner keys the reader sees, from status and
    rosters: a school's reader counts its own learners only."""
    sources = {framework.id} | {d.source for d in into(crosswalk_list(store), framework.id)}
    keys = set(status_learners(store, sorted(sources)))
    for roster in rosters:
        keys.update(m for m in roster.get("members") or [] if isinstance(m, str))
    found: dict[str, list[str]] = {}
    for key in sorted(keys):
        person = store.person_of(key)
        if person is not None and person in found:
            continue
        linked = [key] if person is None else store.keys_of(person)
        visible = linked if access is None else access.visible_keys(linked)
        if visible:
            found[person or key] = visible
    return found


def group_values(
    store: Store, dimension: str, entry: str, keys: list[str], rosters: list[dict[str, Any]]
) -> Sequence[str | None]:
    """The values a person has on a dimension (a person may be in several classes)."""
    record = store.get_definition(PERSON, entry) or {}
    classes = [r for r in rosters if set(keys) & set(r.get("members") or [])]
    if dimension == "class":
        return sorted(str(r["id"]) for r in classes)
    if dimension == "target_group":
        return [record.get("target_group")]
    org = record.get("org")
    orgs = (
        [org]
        if org
        else sorted(
            {
                str(r.get("school") or r.get("org"))
                for r in classes
                if r.get("school") or r.get("org")
            }
        )
    )
    if dimension == "org":
        return list(orgs)
    if record.get("commune"):
        return [record["commune"]]
    communes = sorted(
        {
            str(c)
            for o in orgs
            if (c := (store.get_definition(ORGANISATION, o) or {}).get("commune"))
        }
    )
    return list(communes)


def computed_aggregates(
    store: Store,
    framework: Framework,
    dimension: str,
    until: str | None = None,
    access: Access | None = None,
    value: str | None = None,
) -> list[dict[str, Any]]:
    """Computed from the evidence: the aggregate of every person of the framework's population on one dimension, as
    far as `access` lets the reader see (None: everything); with `value`, that group only
    (one commune's figures cost the status of its own persons, not the province's)."""
    if dimension not in DIMENSIONS:
        raise ValidationError(f"by: one of {', '.join(DIMENSIONS)}", "by")
    rule = confirmation_rule(framework.id)
    rosters = [
        r
        for r in store.list_definitions(GROUP)
        if access is None or access.everything or access.sees_roster(r)
    ]
    rows = []
    directions = directions_into(store, framework)
    for entry, keys in _population(store, framework, rosters, access).items():
        values = group_values(store, dimension, entry, keys, rosters)
        if value is not None and value not in values:
            continue
        state, _ = read_status(store, framework, keys, until, directions)
        view = status_view(framework, entry, state)
        if rule is not None:
            record = store.get_definition(PERSON, entry) or {}
            view["confirmation"] = confirmation(framework, rule, state, record.get("target_group"))
        rows.append(([value] if value is not None else values, view))
    return aggregate(framework, rows)


# ------------------------------------------------------------------------------ stored form

OFFSET = "aggregates:competencies"  # how far in the log the rows were refreshed
PROCESSOR_OFFSET = "processor:competencies"  # the competencies processor's (consumers.runtime)
_REFRESH_CHUNK = 2000  # persons per transaction
_lock = threading.Lock()
_rosters: dict[int, dict[str, list[dict[str, Any]]]] = {}  # store -> key -> its classes


def save_organisation(store: Store, record: dict[str, Any], *, note: bool = True) -> None:
    """Store or update an organisation's attributes (name, commune); the persons placed
    through it are re-placed in the stored aggregates (`note=False`: the caller notes a
    whole import once)."""
    ident = str(record["id"])
    known = store.get_definition(ORGANISATION, ident) or {}
    store.put_definition(ORGANISATION, ident, {**known, **record})
    if note:
        note_placement_change(store, orgs=[ident])


class Placements:
    """Where persons are placed, read once for a refresh: rosters by member, organisations'
    communes; person records are read per person."""

    def __init__(self, store: Store) -> None:
        self.store = store
        cached = _rosters.get(id(store))
        if cached is None:
            cached = {}
            for roster in store.list_definitions(GROUP):
                for member in roster.get("members") or []:
                    if isinstance(member, str):
                        cached.setdefault(member, []).append(roster)
            _rosters[id(store)] = cached
        self.classes_of = cached
        self._communes: dict[str, str | None] = {}

    def record(self, entry: str) -> dict[str, Any]:
        return self.store.get_definition(PERSON, entry) or {}

    def places(self, record: dict[str, Any], keys: list[str]) -> dict[str, list[str]]:
        """The same placement as `group_values`, every dimension at once ("" = unknown)."""
        seen: dict[str, dict[str, Any]] = {}
        for key in keys:
            for roster in self.classes_of.get(key, ()):
                seen[str(roster["id"])] = roster
        classes = [seen[c] for c in sorted(seen)]
        orgs = (
            [str(record["org"])]
            if record.get("org")
            else sorted(
                {
                    str(r.get("school") or r.get("org"))
                    for r in classes
                    if r.get("school") or r.get("org")
                }
            )
        )
        if record.get("commune"):
            communes = [str(record["commune"])]
        else:
            communes = sorted({c for o in orgs if (c := self._commune(o))})
        return {
            "class": sorted(seen) or [""],
            "org": orgs or [""],
            "commune": communes or [""],
            "target_group": [str(record.get("target_group") or "")],
        }

    def _commune(self, org: str) -> str | None:
        if org not in self._communes:
            found = (self.store.get_definition(ORGANISATION, org) or {}).get("commune")
            self._communes[org] = str(found) if found else None
        return self._communes[org]


def person_row(
    framework: Framework,
    state: CompetencyState | None,
    changes: list[StateChange],
    places: dict[str, list[str]],
    target_group: str | None,
) -> dict[str, Any]:
    """Pure: a person's stored row (lrs.ops.aggregates): groups, cells now, dated changes.
    Cells: `s|<code>|<state>`, `l|<code>|<level>`, `confirmed`; days are UTC dates."""
    known = state["competences"] if state else {}
    cells: list[str] = []
    for competence in framework.competences:
        progress = known.get(competence.id)
        cells.append(f"s|{competence.code}|{progress['state'] if progress else NOT_STARTED}")
        level = framework.levels_by_rank.get(progress["rank"]) if progress else None
        if level is not None:
            cells.append(f"l|{competence.code}|{level.code}")
    history: Counter[tuple[str, str]] = Counter()
    for change in changes:
        if change["at"] is None:
            continue  # nobody can place it in time: not in any as-of answer
        changed = framework.competence(change["competence"])
        if changed is None:
            continue
        day, code = str(change["at"])[:10], changed.code
        for side, sign in (("from", -1), ("to", 1)):
            point = change[side]  # type: ignore[literal-required]
            if point["state"] != NOT_STARTED:
                history[(day, f"s|{code}|{point['state']}")] += sign
            level = framework.levels_by_rank.get(point["rank"])
            if point["rank"] and level is not None:
                history[(day, f"l|{code}|{level.code}")] += sign
    rule = confirmation_rule(framework.id)
    if rule is not None:
        confirmed = confirmation(framework, rule, state, target_group)
        if confirmed["state"] == CONFIRMED:
            cells.append(CONFIRMED)
            history[(str(confirmed["confirmed_at"])[:10], CONFIRMED)] += 1
    return {
        "places": places,
        "cells": cells,
        "history": [[day, cell, n] for (day, cell), n in sorted(history.items()) if n],
    }


def refresh(store: Store, keys: Iterable[str]) -> int:
    """Recompute the rows of the persons of these learner keys in every framework (a key's
    evidence counts in the frameworks crosswalked from its own); how many rows changed."""
    entries: dict[str, list[str]] = {}
    for key in sorted(set(keys)):
        person = store.person_of(key)
        entry = person or key
        if entry not in entries:
            entries[entry] = store.keys_of(person) if person else [key]
    if not entries:
        return 0
    placements = Placements(store)
    records = {entry: placements.record(entry) for entry in entries}
    changed = 0
    for framework in frameworks(store).values():
        directions = directions_into(store, framework)
        rows: dict[str, dict[str, Any] | None] = {}
        for entry, linked in entries.items():
            for key in linked:
                if key != entry:
                    rows[key] = None  # a key now linked to a person counts as that person
            state, changes = read_status(store, framework, linked, None, directions)
            on_roster = any(k in placements.classes_of for k in linked)
            if state is None and not on_roster:
                rows[entry] = None
                continue
            record = records[entry]
            rows[entry] = person_row(
                framework,
                state,
                changes,
                placements.places(record, linked),
                record.get("target_group"),
            )
        names = sorted(rows)
        for start in range(0, len(names), _REFRESH_CHUNK):
            part = {n: rows[n] for n in names[start : start + _REFRESH_CHUNK]}
            changed += store.put_aggregate_rows(framework.id, part)
    return changed


def maintain(store: Store, batch: int = 5000) -> int:
    """Bring the stored rows up to the competencies processor: re-place the persons of
    every statement it applied since the last call, and those noted as re-placed."""
    with _lock:
        position, target = store.get_offset(OFFSET), store.get_offset(PROCESSOR_OFFSET)
        notes = store.list_definitions(PLACEMENT_CHANGE)
        if position >= target and not notes:
            return 0
        keys: set[str] = set()
        if notes:
            _rosters.pop(id(store), None)
            for note in notes:
                keys.update(note.get("keys") or [])
                for org in note.get("orgs") or []:
                    keys |= _org_members(store, str(org))
        sets = rulesets(store) if position < target else []
        while position < target:
            records = [r for r in store.read_log(position, batch) if r.offset <= target]
            if not records:
                break
            for record in records:
                if VOIDED_VERB in record.value:
                    keys |= _voided_learner(store, record.value)
                    continue
                if record.key in keys:
                    continue
                statement = orjson.loads(record.value)  # evidence for no rule changes no row
                if any(ruleset.matching_positions(statement) for ruleset in sets):
                    keys.add(record.key)
            position = records[-1].offset
        changed = refresh(store, keys)
        store.set_offset(OFFSET, position)
        for note in notes:
            store.delete_definition(PLACEMENT_CHANGE, str(note["id"]))
        return changed


VOIDED_VERB = b"http://adlnet.gov/expapi/verbs/voided"


def _voided_learner(store: Store, value: bytes) -> set[str]:
    statement = orjson.loads(value)
    if not is_voiding(statement):
        return set()
    raw = store.get_statement(str(statement["object"]["id"]), voided=True)
    return {learner_key(orjson.loads(raw))} if raw is not None else set()


def refresh_changes(store: Store, changes: Iterable[Any]) -> int:
    """The Kafka worker's way (it has no position in the store's log to follow): re-place
    the persons of a batch of competencies changes just applied. A batch the worker
    retries after a crash is delivered again, so nothing is missed."""
    return refresh(store, changed_learners(store, changes))


def changed_learners(store: Store, changes: Iterable[Any]) -> set[str]:
    """The learner keys whose rows a run of competencies changes may move (`refresh` them;
    the worker gathers several batches' before it does)."""
    keys: set[str] = set()
    for change in changes:
        key = getattr(change, "key", None)
        if key:
            keys.add(split_key(key)[1])
            continue
        raw = store.get_statement(str(change.statement_id), voided=True)  # a retraction
        if raw is not None:
            keys.add(learner_key(orjson.loads(raw)))
    return keys


def _org_members(store: Store, org: str) -> set[str]:
    keys: set[str] = set()
    for roster in store.list_definitions(GROUP):
        if org in (roster.get("school"), roster.get("org")):
            keys.update(m for m in roster.get("members") or [] if isinstance(m, str))
    keys.update(str(p["id"]) for p in store.list_definitions(PERSON) if p.get("org") == org)
    return keys


def rebuild_aggregates(store: Store, progress: Callable[[int], None] | None = None) -> int:
    """Every row again from the evidence and the rosters (an existing store, or a check):
    the persons of every key with a competency status, and every roster member."""
    with _lock:
        target = store.get_offset(PROCESSOR_OFFSET)
        notes = store.list_definitions(PLACEMENT_CHANGE)
        _rosters.pop(id(store), None)
        known = frameworks(store)
        for framework_id in known:
            store.clear_aggregates(framework_id)
        keys = set(status_learners(store, sorted(known)))
        for roster in store.list_definitions(GROUP):
            keys.update(m for m in roster.get("members") or [] if isinstance(m, str))
        ordered = sorted(keys)
        done = 0
        for start in range(0, len(ordered), _REFRESH_CHUNK):
            part = ordered[start : start + _REFRESH_CHUNK]
            refresh(store, part)
            done += len(part)
            if progress is not None:
                progress(len(part))
        store.set_offset(OFFSET, target)
        for note in notes:
            store.delete_definition(PLACEMENT_CHANGE, str(note["id"]))
        return done


def day_bound(until: str | None) -> str | None:
    """The date an exclusive `until` bound starts (`2025-10-02T00:00:00.000Z` ->
    2025-10-02) when it falls on midnight UTC (an as_of date); else None."""
    if until is not None and until[10:] in ("T00:00:00.000Z", "T00:00:00Z"):
        return until[:10]
    return None


def stored_aggregates(
    store: Store,
    framework: Framework,
    dimension: str,
    until: str | None = None,
    value: str | None = None,
) -> list[dict[str, Any]]:
    """The stored counts in the shape `aggregate` gives (`until`: a day bound)."""
    stored_value = None if value is None else value
    now = store.aggregate_counts(framework.id, dimension, stored_value)
    persons = {v: n for v, cell, n in now if cell == PERSONS}
    before = day_bound(until)
    rows = (
        now
        if before is None
        else store.aggregate_counts(framework.id, dimension, stored_value, before)
    )
    counts: dict[str, Counter[str]] = {v: Counter() for v in persons}
    for v, cell, n in rows:
        if v in counts:
            counts[v][cell] += n
    rule = confirmation_rule(framework.id)
    return [
        _group(framework, v or None, persons[v], counts[v], rule is not None)
        for v in sorted(persons, key=lambda x: (x == "", x))
    ]


def aggregates(
    store: Store,
    framework: Framework,
    dimension: str,
    until: str | None = None,
    access: Access | None = None,
    value: str | None = None,
) -> list[dict[str, Any]]:
    """The aggregate of every person of the framework's population on one dimension, as
    far as `access` lets the reader see (None: everything); with `value`, that group only.
    Read from the stored counts (brought up to date first) unless the reader sees part of
    the population or `until` is not a day bound: then computed from the evidence."""
    if dimension not in DIMENSIONS:
        raise ValidationError(f"by: one of {', '.join(DIMENSIONS)}", "by")
    restricted = access is not None and not access.everything
    undated = until is not None and (day_bound(until) is None or dimension not in DATED)
    if restricted or undated:
        return computed_aggregates(store, framework, dimension, until, access, value)
    maintain(store)
    return stored_aggregates(store, framework, dimension, until, value)
