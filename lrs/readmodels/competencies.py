"""Competency status per learner and framework: the read model and its fold (pure).

A statement that an alignment rule matches is evidence for the rule's competence. It
counts toward the rule's level when it also meets the rule's condition; a rule holds once
enough distinct activities met it. The attained level of a competence is the highest rank
among its rules that hold. Every part is a set union or a max, so the fold is commutative
and a rebuild after voiding equals a fold over what remains; the query API folds a
person's keys with the same `fold`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import (
    Literal,
    NotRequired,  # pydantic reads these on 3.11
    cast,
)

from typing_extensions import TypedDict

from lrs.readmodels.types import Timestamp
from lrs.storage.base import Contribution, Store

NAME = "competencies"
NOT_STARTED: Literal["not_started"] = "not_started"
IN_PROGRESS: Literal["in_progress"] = "in_progress"
ACHIEVED: Literal["achieved"] = "achieved"
State = Literal["not_started", "in_progress", "achieved"]


class Evidence(TypedDict):
    """What a rule says of one statement (lrs.competency.alignment), and whether it met it."""

    competence: str
    rule: str
    level: str
    rank: int
    needs: int
    met: bool


class EvidenceFacts(TypedDict):
    """What one statement contributes to a (framework, learner) status."""

    framework: str
    activity: str | None
    at: Timestamp | None
    evidence: list[Evidence]


class RuleProgress(TypedDict):
    level: str
    rank: int
    needs: int  # distinct activities that must meet the rule
    met_by: list[str]  # activities that met it


class CompetenceProgress(TypedDict):
    state: State
    level: str | None
    rank: int
    evidence: list[str]  # statement ids
    first_evidence: Timestamp | None
    last_evidence: Timestamp | None
    rules: dict[str, RuleProgress]


class CompetencyState(TypedDict):
    """As stored: only the competences with evidence (lrs.competency.status adds the rest)."""

    learner: str
    framework: str
    competences: dict[str, CompetenceProgress]


class CompetenceStatus(TypedDict):
    id: str
    code: str
    name: str
    area: str
    state: State
    level: str | None
    rank: int
    evidence: list[str]
    first_evidence: Timestamp | None
    last_evidence: Timestamp | None


class AreaStatus(TypedDict):
    id: str
    code: str
    name: str
    competences: int
    achieved: int
    in_progress: int
    not_started: int
    level: str | None  # reached once every competence of the area reached it


class StatusSummary(TypedDict):
    competences: int
    not_started: int
    in_progress: int
    achieved: int


class CompetencyStatus(TypedDict):
    """Every competence of a framework for a learner key or a person, rolled up."""

    learner: str  # the learner key, or the person id
    framework: str
    competences: list[CompetenceStatus]
    areas: list[AreaStatus]
    summary: StatusSummary
    person: NotRequired[str]
    keys: NotRequired[list[str]]


class GroupStatus(TypedDict):
    group: str
    framework: str
    learners: list[CompetencyStatus]
    count: int


def state_key(framework: str, learner: str) -> str:
    """One state per (framework, learner): the order makes a framework's states one range."""
    return f"{framework}|{learner}"


def read_state(store: Store, framework: str, learner: str) -> CompetencyState | None:
    """The stored status of a learner key (the store keeps it as a plain JSON object)."""
    return cast("CompetencyState | None", store.get_state(NAME, state_key(framework, learner)))


def split_key(key: str) -> tuple[str, str]:
    framework, _, learner = key.partition("|")
    return framework, learner


def fold(state: CompetencyState | None, item: Contribution) -> CompetencyState:
    """State with one more piece of evidence; updates `state` in place (the caller owns it)."""
    framework, learner = split_key(item.key)
    status: CompetencyState = (
        state
        if state is not None
        else {"learner": learner, "framework": framework, "competences": {}}
    )
    data = cast("EvidenceFacts", item.data)
    at = data["at"]
    for evidence in data["evidence"]:
        competence = status["competences"].setdefault(
            evidence["competence"],
            {
                "state": IN_PROGRESS,
                "level": None,
                "rank": 0,
                "evidence": [],
                "first_evidence": None,
                "last_evidence": None,
                "rules": {},
            },
        )
        if item.statement_id not in competence["evidence"]:
            competence["evidence"] = sorted([*competence["evidence"], item.statement_id])
        if at is not None:
            first, last = competence["first_evidence"], competence["last_evidence"]
            if first is None or at < first:
                competence["first_evidence"] = at
            if last is None or at > last:
                competence["last_evidence"] = at
        rule = competence["rules"].setdefault(
            evidence["rule"],
            {
                "level": evidence["level"],
                "rank": evidence["rank"],
                "needs": evidence["needs"],
                "met_by": [],
            },
        )
        activity = data["activity"]
        if evidence["met"] and activity and activity not in rule["met_by"]:
            rule["met_by"] = sorted([*rule["met_by"], activity])
        if len(rule["met_by"]) >= rule["needs"] and rule["rank"] > competence["rank"]:
            competence["rank"] = rule["rank"]
            competence["level"] = rule["level"]
            competence["state"] = ACHIEVED
    return status


def fold_contributions(contributions: Iterable[Contribution]) -> CompetencyState | None:
    """One status from evidence filed under several keys (a person's linked learner keys)."""
    state: CompetencyState | None = None
    for item in contributions:
        state = fold(state, item)
    return state
