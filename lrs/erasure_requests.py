"""Erasure requests: whom a request reaches, the rosters and person attributes, the log.

Whom: a person (every learner key linked to them) or a learner key (with the other keys of
the person it is linked to, if any: the request is about a human, not one of their
accounts). Erasing the keys from every capability of the store is `lrs.ops.erasure`'s
(what each statement becomes: `lrs.xapi.redaction`); class rosters, which only this layer
knows to be lists of learners, are edited here. The access log records the erasure with
pseudonyms only (`lrs.ops.audit.record_erasure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lrs.domain.records import Credential, ErasureReport
from lrs.ops.audit import pseudonym, record_erasure
from lrs.ops.erasure import erase_keys
from lrs.ports import Store
from lrs.rosters import GROUP, PERSON
from lrs.xapi.errors import NotFound, ValidationError
from lrs.xapi.redaction import erasure_keys


@dataclass(frozen=True)
class Erasure:
    subject: str  # pseudonym of the person (or key) erased, as the access log names it
    keys: int  # how many learner keys were erased
    report: ErasureReport
    log_seq: int  # the access log entry that records it

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "keys": self.keys,
            "erased": self.report.counts(),
            "access_log_entry": self.log_seq,
        }


def keys_to_erase(
    store: Store, person: str | None = None, keys: list[str] | tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """(subject, learner keys): the person's keys, or the given keys and their persons'."""
    if person is not None:
        found = store.keys_of(person)
        if not found:
            raise NotFound(f"no person {person!r} (no learner key is linked to it)", "person")
        return person, found
    if not keys:
        raise ValidationError("name a person, or give learner keys or agents", "body")
    every = set(keys)
    persons = {p for key in keys if (p := store.person_of(key)) is not None}
    for linked in persons:
        every.update(store.keys_of(linked))
    subject = sorted(persons)[0] if len(persons) == 1 else sorted(keys)[0]
    return subject, sorted(every)


def _erase_from_rosters(store: Store, erased: set[str]) -> int:
    updated = 0
    for definition in store.list_definitions(GROUP):
        members = [m for m in definition.get("members") or [] if m not in erased]
        teachers = [t for t in definition.get("teachers") or [] if t not in erased]
        names = definition.get("names") or {}
        kept = {k: v for k, v in names.items() if k not in erased}
        if (
            members != definition.get("members")
            or teachers != definition.get("teachers")
            or kept != names
        ):
            changed = {**definition, "members": members, "teachers": teachers}
            if "names" in definition:
                changed["names"] = kept
            store.put_definition(GROUP, str(definition["id"]), changed)
            updated += 1
    return updated


def erase(
    store: Store,
    credential: Credential,
    *,
    person: str | None = None,
    keys: list[str] | tuple[str, ...] = (),
    reducers: list[Any],
) -> Erasure:
    """Erase a person everywhere and record it in the access log. Blocking. `reducers`:
    the projections to rebuild (the caller composes them: consumers.reducers.enabled)."""
    subject, found = keys_to_erase(store, person, keys)
    every = erasure_keys(found)
    persons = {p for key in found if (p := store.person_of(key)) is not None}
    # rosters first: a stored aggregate row is kept for anyone on a roster, so a refresh
    # between the two steps would otherwise file a new row under an erased key
    rosters_updated = _erase_from_rosters(store, set(every))
    report = erase_keys(store, every, reducers, persons)
    report.rosters_updated = rosters_updated
    # a person's attributes (name, target group, commune: lrs.rosters) go with them
    for erased in sorted(persons | set(every)):
        store.delete_definition(PERSON, erased)
    entry = record_erasure(store, credential, subject, found, report)
    return Erasure(pseudonym(store, subject), len(found), report, entry.seq)
