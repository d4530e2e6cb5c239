"""Counts and shares per competence and level, by class, organisation, commune or target
group, at a date: what a school leader or the provincial office follows.

Who counts: every person known to the competency status of the framework (directly or
through a crosswalk) and every member of a class roster, once each (linked keys are one
person). Each person is placed by their attributes: `target_group`, `commune` and `org`
from their person record (lrs.rosters), an organisation's `commune` from its record when
the person has none, classes from the rosters (a person in two classes counts in both),
and the org of the classes they are in when their record names none. A person whose
attribute is unknown is counted under `null`, so no one silently drops out of a total.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from lrs.access import Access
from lrs.competency.confirmation import CONFIRMED, confirmation, confirmation_rule
from lrs.competency.crosswalk import into
from lrs.competency.framework import Framework
from lrs.competency.reading import directions_into, read_status, status_learners
from lrs.competency.registry import crosswalk_list
from lrs.competency.status import status_view
from lrs.readmodels.competencies import CompetencyStatus
from lrs.rosters import GROUP, PERSON
from lrs.storage.base import Store
from lrs.xapi.errors import ValidationError

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
        total = len(views)
        competences = []
        for competence in framework.competences:
            states: Counter[str] = Counter()
            levels: Counter[str] = Counter()
            for view in views:
                entry = next(c for c in view["competences"] if c["id"] == competence.id)
                states[entry["state"]] += 1
                if entry["level"]:
                    levels[entry["level"]] += 1
            competences.append(
                {
                    "code": competence.code,
                    "states": {
                        state: {"count": states[state], "share": _share(states[state], total)}
                        for state in ("not_started", "in_progress", "achieved")
                    },
                    "levels": {
                        level.code: {
                            "count": levels[level.code],
                            "share": _share(levels[level.code], total),
                        }
                        for level in framework.levels
                    },
                }
            )
        group: dict[str, Any] = {"value": value, "persons": total, "competences": competences}
        confirmed = [v["confirmation"] for v in views if "confirmation" in v]
        if confirmed:
            count = sum(1 for c in confirmed if c["state"] == CONFIRMED)
            group["confirmed"] = {"count": count, "share": _share(count, total)}
        found.append(group)
    return found


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


def aggregates(
    store: Store,
    framework: Framework,
    dimension: str,
    until: str | None = None,
    access: Access | None = None,
    value: str | None = None,
) -> list[dict[str, Any]]:
    """The aggregate of every person of the framework's population on one dimension, as
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
