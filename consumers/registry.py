"""The processors that run, in every mode: one list, so embedded and Kafka never differ."""

from __future__ import annotations

from consumers.competencies import CompetencyReducer
from consumers.profiles import REDUCER as PROFILES
from consumers.projection import Reducer
from lrs.storage.base import Store


def reducers(store: Store) -> list[Reducer]:
    from lrs.competency.registry import rulesets

    return [PROFILES, CompetencyReducer(lambda: rulesets(store))]
