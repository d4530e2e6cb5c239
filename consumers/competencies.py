"""Competency status: per learner and framework, folded from aligned evidence (pure).

A statement that an alignment rule matches is evidence for the rule's competence. It
counts toward the rule's level when it also meets the rule's condition; a rule holds once
enough distinct activities met it. The attained level of a competence is the highest rank
among its rules that hold. Every part is a set union or a max, so the fold is commutative
and a rebuild after voiding equals a fold over what remains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from consumers.profiles import normalised_score
from consumers.projection import FoldingReducer, statement_time
from lrs.competency.alignment import RuleSet, meets
from lrs.storage.base import Contribution
from lrs.xapi.statements import learner_key

NAME = "competencies"
NOT_STARTED, IN_PROGRESS, ACHIEVED = "not_started", "in_progress", "achieved"


def state_key(framework: str, learner: str) -> str:
    """One state per (framework, learner): the order makes a framework's states one range."""
    return f"{framework}|{learner}"


def split_key(key: str) -> tuple[str, str]:
    framework, _, learner = key.partition("|")
    return framework, learner


class CompetencyReducer(FoldingReducer):
    """The competencies projection for a fixed set of alignment rule sets."""

    name = NAME

    def __init__(
        self, rulesets: Iterable[RuleSet] | Callable[[], list[RuleSet]], refresh: float = 2.0
    ) -> None:
        """`rulesets` is fixed, or a provider asked again every `refresh` seconds, so that
        running processors pick up imported rules (older evidence needs `lrs rebuild`)."""
        self._provider = rulesets if callable(rulesets) else None
        self._rulesets: list[RuleSet] = [] if callable(rulesets) else list(rulesets)
        self._refresh = refresh
        self._loaded = -float("inf")

    @property
    def rulesets(self) -> list[RuleSet]:
        if self._provider is not None and time.monotonic() - self._loaded > self._refresh:
            self._rulesets = self._provider()
            self._loaded = time.monotonic()
        return self._rulesets

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        found: list[Contribution] = []
        facts: tuple[str, float | None, str | None, str | None] | None = None
        for ruleset in self.rulesets:
            positions = ruleset.matching_positions(statement)
            if not positions:
                continue
            if facts is None:  # most statements match no rule: work these out once, if needed
                obj = statement.get("object") or {}
                facts = (
                    learner_key(statement),
                    normalised_score((statement.get("result") or {}).get("score")),
                    obj.get("id") if obj.get("objectType", "Activity") == "Activity" else None,
                    statement_time(statement),
                )
            learner, score, activity, at = facts
            rules, always = ruleset.rules, ruleset.evidence
            evidence = [{**always[i], "met": meets(rules[i], statement, score)} for i in positions]
            data = {
                "framework": ruleset.framework,
                "activity": activity,
                "at": at,
                "evidence": evidence,
            }
            key = state_key(ruleset.framework, learner)
            found.append(Contribution(statement["id"], key, data))
        return found

    def fold(self, state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
        return fold(state, item)

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {
            "framework": [state["framework"]],
            "achieved": sorted(
                c for c, s in state["competences"].items() if s["state"] == ACHIEVED
            ),
        }


def fold(state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
    """State with one more piece of evidence; updates `state` in place (the caller owns it)."""
    framework, learner = split_key(item.key)
    status = (
        state
        if state is not None
        else {
            "learner": learner,
            "framework": framework,
            "competences": {},
        }
    )
    data = item.data
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
            if competence["first_evidence"] is None or at < competence["first_evidence"]:
                competence["first_evidence"] = at
            if competence["last_evidence"] is None or at > competence["last_evidence"]:
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
        if evidence["met"] and data["activity"] and data["activity"] not in rule["met_by"]:
            rule["met_by"] = sorted([*rule["met_by"], data["activity"]])
        if len(rule["met_by"]) >= rule["needs"] and rule["rank"] > competence["rank"]:
            competence["rank"] = rule["rank"]
            competence["level"] = rule["level"]
            competence["state"] = ACHIEVED
    return status


def fold_contributions(contributions: Iterable[Contribution]) -> dict[str, Any] | None:
    """One status from evidence filed under several keys (a person's linked learner keys)."""
    state: dict[str, Any] | None = None
    for item in contributions:
        state = fold(state, item)
    return state


def fold_timeline(
    contributions: Iterable[Contribution], until: str | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
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
    state: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = []
    for item in items:
        before = (
            {}
            if state is None
            else {cid: (s["state"], s["rank"]) for cid, s in state["competences"].items()}
        )
        state = fold(state, item)
        at = item.data.get("at")
        for evidence in item.data["evidence"]:
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
            change: dict[str, Any] = {
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
                        for e in item.data["evidence"]
                        if e["competence"] == cid and e["rank"] == now["rank"]
                    ),
                    None,
                )
                attained = {"rank": now["rank"], "level": now["level"], "at": at}
                attained["statement"] = item.statement_id
                if giver is not None and "via" in giver:
                    attained["via"] = giver["via"]
                    change["via"] = giver["via"]
                now.setdefault("attained", []).append(attained)
            changes.append(change)
    return state, changes
