"""The processors that run, in every mode: one list, so embedded and Kafka never differ."""

from __future__ import annotations

from consumers.reducers.base import Reducer
from consumers.reducers.competencies import CompetencyReducer
from consumers.reducers.memberships import MembershipReducer
from consumers.reducers.profiles import REDUCER as PROFILES
from lrs.access import org_resolver
from lrs.competency.registry import rulesets
from lrs.ports import Store


def reducers(store: Store) -> list[Reducer]:
    # Memberships first: the embedded runner folds it before the others in every round, so
    # a learner's profile never shows up before the learner's organisations are known.
    return [
        MembershipReducer(org_resolver(store)),
        PROFILES,
        CompetencyReducer(lambda: rulesets(store)),
    ]
