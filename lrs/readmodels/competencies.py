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
    Any,
    Literal,
    NotRequired,  # pydantic reads these on 3.11
    cast,
)

from typing_extensions import TypedDict

from lrs.domain.records import Contribution
from lrs.ports import Store
from lrs.readmodels.types import Timestamp

NAME = "competencies"
NOT_STARTED: Literal["not_started"] = "not_started"
IN_PROGRESS: Literal["in_progress"] = "in_progress"
ACHIEVED: Literal["achieved"] = "achieved"
State = Literal["not_started", "in_progress", "achieved"]


class Via(TypedDict):
    """The crosswalk a piece of evidence came through, from which framework's competence."""

    crosswalk: str
    framework: str
    competence: str


class Evidence(TypedDict):
    """What a rule says of one statement (lrs.competency.alignment), and whether it met it."""

    competence: str
    rule: str
    level: str
    rank: int
    needs: int
    met: bool
    via: NotRequired[Via]  # crosswalked evidence (added when status is read, never stored)


class Attained(TypedDict):
    """One rise in level: to which rank, when, by which statement (and crosswalk)."""

    rank: int
    level: str | None
    at: Timestamp | None
    statement: str
    via: NotRequired[Via]


class StateAt(TypedDict):
    state: State
    rank: int


# "from" is a keyword: the functional form
StateChange = TypedDict(
    "StateChange",
    {
        "at": "Timestamp | None",
        "statement": str,
        "competence": str,
        "from": StateAt,
        "to": StateAt,
        "via": NotRequired[Via],
    },
)


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
    # the time-ordered fold's (fold_timeline), never stored:
    via: NotRequired[list[str]]  # the crosswalks evidence came through
    attained: NotRequired[list[Attained]]


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
    attained: list[Attained]  # when each level was reached (level: its code)
    via: list[str]  # the crosswalks evidence came through
    toward: str | None  # the level the evidence works toward (a code), if any


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
    person: NotRequired[str | None]  # in a class: None for a key linked to no person
    keys: NotRequired[list[str]]
    name: NotRequired[str | None]
    confirmation: NotRequired[dict[str, Any]]  # frameworks with a confirmation rule
    as_of: NotRequired[str | None]  # the as_of asked for (learner and person reads)


class GroupStatus(TypedDict):
    group: str
    framework: str
    as_of: str | None
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


def fold_timeline(
    contributions: Iterable[Contribution], until: str | None = None
) -> tuple[CompetencyState | None, list[StateChange]]:
    """The status folded in the order things happened, with what changed and when.

    The stored state is folded in arrival order, which says nothing about *when* a level
    was reached. Folding the live contributions sorted by evidence time (statement id
    breaks ties) gives, per competence, `attained` (each rise in level: rank, level, time,
    statement, and the crosswalk it came through) and the list of state changes. `until`
    (an evidence time in the stored form, exclusive) gives the status as it stood then;
    evidence without a time is left out of such a status, as nobody can place it.
    Voided statements have no live contributions, so they appear nowhere, as if they had
    never been sent: this is the history as known now.
    """
    items = sorted(
        (
            c
            for c in contributions
            if until is None or (c.data.get("at") is not None and c.data["at"] < until)
        ),
        key=lambda c: (c.data.get("at") or "", c.statement_id),
    )
    state: CompetencyState | None = None
    changes: list[StateChange] = []
    for item in items:
        before: dict[str, tuple[State, int]] = (
            {}
            if state is None
            else {cid: (s["state"], s["rank"]) for cid, s in state["competences"].items()}
        )
        state = fold(state, item)
        data = cast("EvidenceFacts", item.data)
        at = data["at"]
        for evidence in data["evidence"]:
            cid = evidence["competence"]
            now = state["competences"][cid]
            if "via" in evidence:
                crossed = now.setdefault("via", [])
                if evidence["via"]["crosswalk"] not in crossed:
                    crossed.append(evidence["via"]["crosswalk"])
            old = before.get(cid, (NOT_STARTED, 0))
            if (now["state"], now["rank"]) == old:
                continue
            before[cid] = (now["state"], now["rank"])
            change: StateChange = {
                "at": at,
                "statement": item.statement_id,
                "competence": cid,
                "from": {"state": old[0], "rank": old[1]},
                "to": {"state": now["state"], "rank": now["rank"]},
            }
            if now["rank"] > old[1]:
                # the evidence of this statement whose rule now gives the new rank
                giver = next(
                    (
                        e
                        for e in data["evidence"]
                        if e["competence"] == cid and e["rank"] == now["rank"]
                    ),
                    None,
                )
                attained: Attained = {
                    "rank": now["rank"],
                    "level": now["level"],
                    "at": at,
                    "statement": item.statement_id,
                }
                if giver is not None and "via" in giver:
                    attained["via"] = giver["via"]
                    change["via"] = giver["via"]
                now.setdefault("attained", []).append(attained)
            changes.append(change)
    return state, changes
