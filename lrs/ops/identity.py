"""Identity links: which learner keys make up one person, decided once for API and CLI.

A key belongs to one person at most, so linking moves it (the Identities port keeps that).
Outside administrators, a credential links and unlinks only learners its organisation has
(`access`): moving another organisation's key would change that organisation's persons,
and the refusal looks like an unknown learner, so it tells nothing about the other
organisation. The operator's CLI acts for the whole deployment (`access` None).
"""

from __future__ import annotations

from typing import Protocol

from lrs.ports import Identities
from lrs.xapi.agent_keys import check_key, normalise_key
from lrs.xapi.errors import NotFound


class Visibility(Protocol):
    """What a credential sees of learners (lrs.access.Access)."""

    def sees_learner(self, key: str) -> bool: ...

    def visible_keys(self, keys: list[str]) -> list[str]: ...


def link(
    store: Identities, person: str, keys: list[str], access: Visibility | None = None
) -> list[str]:
    """Link `keys` to `person`; the person's keys the caller sees afterwards."""
    keys = sorted({check_key(key, "keys") for key in keys})
    if access is not None:
        hidden = [key for key in keys if not access.sees_learner(key)]
        if hidden:
            raise NotFound(f"no learner {hidden[0]} in your organisation", "keys")
    store.link_keys(person, keys)
    every = store.keys_of(person)
    return every if access is None else access.visible_keys(every)


def unlink(
    store: Identities, key: str, person: str | None = None, access: Visibility | None = None
) -> str:
    """Unlink `key` (from `person`, when given); the person it belonged to.

    NotFound when it is not linked (to that person) or the caller does not see it.
    """
    key = normalise_key(key)
    current = store.person_of(key)
    if current is None or (person is not None and current != person):
        raise NotFound(f"{key} is not linked to {person or 'anyone'}", "key")
    if access is not None and not access.sees_learner(key):
        raise NotFound(f"{key} is not linked to {person or 'anyone'}", "key")
    store.unlink_key(key)
    return current
