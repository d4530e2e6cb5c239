"""The competencies processor: which alignment rules a statement is evidence for (pure).

The status's shape and its fold are core (lrs.readmodels.competencies), shared with the
query API; this module matches statements against the imported rule sets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, cast

from consumers.reducers.base import FoldingReducer, statement_time
from lrs.competency.alignment import RuleSet, meets
from lrs.domain.records import Contribution
from lrs.readmodels.competencies import ACHIEVED, NAME, CompetencyState, fold, state_key
from lrs.readmodels.profiles import normalised_score
from lrs.xapi.statements import learner_key


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
        return cast("dict[str, Any]", fold(cast("CompetencyState | None", state), item))

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {
            "framework": [state["framework"]],
            "achieved": sorted(
                c for c, s in state["competences"].items() if s["state"] == ACHIEVED
            ),
        }
