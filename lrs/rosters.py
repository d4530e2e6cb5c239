"""Class rosters from a school information system: who is in a class before they do anything.

A class's members come from two places: learners whose statements name the class (the
profiles projection finds those), and the roster the school exported (OneRoster). The roster
is what lets a teacher's class view list every learner, including those without any
statement yet. Each class is one definition of kind "group", keyed by the class IRI, so both
store adapters keep it with no schema of their own; saving a class again replaces it, as a
roster export is a full snapshot of the class.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lrs.ports import Store

GROUP = "group"


def class_definition(
    class_id: str,
    title: str,
    members: Iterable[str],
    *,
    school: str | None = None,
    course: str | None = None,
    teachers: Iterable[str] = (),
    org: str | None = None,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The stored form of a class (pure): member keys sorted and unique, so that saving the
    same roster twice writes the same bytes.

    `org` is the organisation the class belongs to (lrs.access): only its schools, and
    admins and auditors, see the roster; none means the default organisation.
    """
    definition: dict[str, Any] = {
        "id": class_id,
        "title": title,
        "school": school,
        "course": course,
        "members": sorted(set(members)),
        "teachers": sorted(set(teachers)),
    }
    if org is not None:
        definition["org"] = org
    if names:
        # what the school information system calls each member (OneRoster given and
        # family names), so a class view names learners before they send any statement
        definition["names"] = {key: names[key] for key in sorted(names)}
    return definition


def save_class(store: Store, definition: dict[str, Any]) -> None:
    """Store (or replace) one class; `definition` as made by `class_definition`."""
    old = store.get_definition(GROUP, str(definition["id"])) or {}
    store.put_definition(GROUP, str(definition["id"]), definition)
    note_placement_change(store, keys=[*_members(old), *_members(definition)])


# Who is placed where (class, organisation, commune, target group) changed: the stored
# competency aggregates (lrs.competency.aggregates) re-place these persons when next read
# or maintained. A note per change, so that nothing here depends on the aggregates.
PLACEMENT_CHANGE = "placement-change"


def note_placement_change(
    store: Store, *, keys: list[str] | None = None, orgs: list[str] | None = None
) -> None:
    import uuid

    if keys or orgs:
        ident = uuid.uuid4().hex
        note = {"id": ident, "keys": sorted(set(keys or [])), "orgs": sorted(set(orgs or []))}
        store.put_definition(PLACEMENT_CHANGE, ident, note)


def _members(definition: dict[str, Any]) -> list[str]:
    return [m for m in definition.get("members") or [] if isinstance(m, str)]


def get_class(store: Store, group: str) -> dict[str, Any] | None:
    return store.get_definition(GROUP, group)


def delete_class(store: Store, group: str) -> bool:
    """Forget a class the school marked to be deleted."""
    old = store.get_definition(GROUP, group) or {}
    deleted = store.delete_definition(GROUP, group)
    note_placement_change(store, keys=_members(old))
    return deleted


def class_members(store: Store, group: str) -> list[str]:
    """Learner keys on the class's roster; empty when no roster names this group."""
    definition = store.get_definition(GROUP, group)
    if not definition:
        return []
    members = definition.get("members") or []
    return [m for m in members if isinstance(m, str)]


# ------------------------------------------------------------------------------ persons
#
# What a school or the provincial office knows of a person beyond their learner keys: a
# name to show, the target group of Decision 757 they are assessed in, their commune or
# ward. One definition of kind "person" per person id (or learner key, for a learner not
# linked to a person), like classes: both store adapters keep it with no schema of their own.

PERSON = "person"
PERSON_FIELDS = ("name", "target_group", "commune", "org")


def person_record(person: str, **attributes: str | None) -> dict[str, Any]:
    """The stored form of a person's attributes (pure); unknown attributes are refused."""
    unknown = sorted(set(attributes) - set(PERSON_FIELDS))
    if unknown:
        raise ValueError(f"unknown person attributes: {', '.join(unknown)}")
    return {"id": person, **{k: v for k, v in attributes.items() if v is not None}}


def save_person(store: Store, record: dict[str, Any], *, note: bool = True) -> None:
    """Store or update a person's attributes: given fields replace, others are kept.
    `note=False`: an import notes all its persons once (`note_placement_change`)."""
    known = store.get_definition(PERSON, str(record["id"])) or {}
    store.put_definition(PERSON, str(record["id"]), {**known, **record})
    if note:
        note_placement_change(store, keys=[str(record["id"])])


def get_person(store: Store, person: str) -> dict[str, Any] | None:
    return store.get_definition(PERSON, person)
