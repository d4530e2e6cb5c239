"""The memberships processor: each statement makes its learner a member of the organisation
of the credential that stored it (pure; the read model is lrs.readmodels.memberships).

Membership is a fact about the record, not about the learning: a voided statement stays in
the learner's history, so voiding does not end a membership. Each (organisation, learner)
pair is therefore one contribution, whatever number of statements makes it, with an id of
its own that no voiding targets: the second statement of a pair changes nothing, so the
projection costs the processors one ignored insert per statement, and ingest nothing.
Checking a profile read against it costs one key lookup, where asking the statement store
"has this organisation any statement about this learner?" could scan a long history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from consumers.reducers.base import FoldingReducer
from lrs.domain.records import Contribution
from lrs.readmodels.memberships import NAME, Membership, authority_key, fold, membership
from lrs.xapi.statements import learner_key


class MembershipReducer(FoldingReducer):
    """key = learner key; state = {"learner", "orgs"}; listed by organisation."""

    name = NAME

    def __init__(self, org_of: Callable[[str | None], str]) -> None:
        """`org_of` maps a credential key (None: unknown) to its organisation."""
        self.org_of = org_of

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        return [membership(self.org_of(authority_key(statement)), learner_key(statement))]

    def fold(self, state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
        return cast("dict[str, Any]", fold(cast("Membership | None", state), item))

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {"org": list(state["orgs"])}
