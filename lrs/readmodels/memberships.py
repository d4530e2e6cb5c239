"""Which organisations a learner belongs to: the memberships read model (pure).

A learner belongs to an organisation once a credential of that organisation stored a
statement about them; the access policy (lrs.access) reads this to decide whose learners
an organisation sees, and the processors (consumers/) write it.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict  # pydantic reads these on 3.11

from lrs.domain.records import Contribution

NAME = "memberships"


class Membership(TypedDict):
    """State per learner key; listed by organisation (index `org`)."""

    learner: str
    orgs: list[str]


def authority_key(statement: dict[str, Any]) -> str | None:
    """The credential key (or connector source) the LRS put in the statement's authority."""
    authority = statement.get("authority") or {}
    account = authority.get("account") if isinstance(authority, dict) else None
    name = account.get("name") if isinstance(account, dict) else None
    return name if isinstance(name, str) else None


def membership(org: str, learner: str) -> Contribution:
    """The contribution that says `learner` belongs to `org` (one per pair, ever)."""
    return Contribution(f"member:{org}\x1f{learner}", learner, {"org": org})


def fold(state: Membership | None, item: Contribution) -> Membership:
    current: Membership = state if state is not None else {"learner": item.key, "orgs": []}
    current["orgs"] = sorted({*current["orgs"], item.data["org"]})
    return current
