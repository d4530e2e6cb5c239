"""Which organisations each learner belongs to, folded from the statement log (pure).

A learner belongs to an organisation once a credential of that organisation stored a
statement about them (the statement's authority names the credential). Schools see their
organisation's learners and classes through this projection; checking a profile read
against it costs one key lookup, where asking the statement store "has this organisation
any statement about this learner?" could scan a long history.

Membership is a fact about the record, not about the learning: a voided statement stays in
the learner's history, so voiding does not end a membership. Each (organisation, learner)
pair is therefore one contribution, whatever number of statements makes it, with an id of
its own that no voiding targets: the second statement of a pair changes nothing, so the
projection costs the processors one ignored insert per statement, and ingest nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers.projection import FoldingReducer
from lrs.storage.base import Contribution
from lrs.xapi.statements import learner_key

NAME = "memberships"


def authority_key(statement: dict[str, Any]) -> str | None:
    """The credential key (or connector source) the LRS put in the statement's authority."""
    authority = statement.get("authority") or {}
    account = authority.get("account") if isinstance(authority, dict) else None
    name = account.get("name") if isinstance(account, dict) else None
    return name if isinstance(name, str) else None


def membership(org: str, learner: str) -> Contribution:
    """The contribution that says `learner` belongs to `org` (one per pair, ever)."""
    return Contribution(f"member:{org}\x1f{learner}", learner, {"org": org})


class MembershipReducer(FoldingReducer):
    """key = learner key; state = {"learner", "orgs"}; listed by organisation."""

    name = NAME

    def __init__(self, org_of: Callable[[str | None], str]) -> None:
        """`org_of` maps a credential key (None: unknown) to its organisation."""
        self.org_of = org_of

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        return [membership(self.org_of(authority_key(statement)), learner_key(statement))]

    def fold(self, state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
        current = state if state is not None else {"learner": item.key, "orgs": []}
        current["orgs"] = sorted({*current["orgs"], item.data["org"]})
        return current

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {"org": list(state["orgs"])}
