"""Confirmation of the basic level (Decision 757/QĐ-BKHCN, Annex II) per person (pure).

The decision's Annex II is a guide to assessing and confirming that a person completed
the universal digital skills level, for four target groups. What a person must show is
data (`lrs/competency/confirmation_rules/*.json`: the level, the groups, the skills each group
must reach), so the rule can be corrected against the official text without code changes.
The bundled rule is marked `verify`: see that file's notes for what was checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from typing import Any

from lrs.competency.framework import Framework, LangMap

CONFIRMED, IN_PROGRESS, NOT_STARTED = "confirmed", "in_progress", "not_started"
VIETNAM = timezone(timedelta(hours=7))  # the date on a confirmation is the date in Viet Nam


@dataclass(frozen=True)
class TargetGroup:
    code: str
    annex: str
    name: LangMap
    required: tuple[str, ...] | None  # competence codes; None: every competence


@dataclass(frozen=True)
class ConfirmationRule:
    framework: str
    level: str  # level code
    groups: dict[str, TargetGroup]
    data: dict[str, Any]

    def group(self, code: str | None) -> TargetGroup | None:
        return self.groups.get(code) if code else None


def _rule(data: dict[str, Any]) -> ConfirmationRule:
    groups = {}
    for raw in data["target_groups"]:
        required = raw.get("required", "all")
        groups[raw["code"]] = TargetGroup(
            code=raw["code"],
            annex=raw["annex"],
            name=LangMap(raw["name"]),
            required=None if required == "all" else tuple(required),
        )
    return ConfirmationRule(data["framework"], data["level"], groups, data)


@cache
def _bundled() -> tuple[ConfirmationRule, ...]:
    folder = resources.files("lrs.competency.confirmation_rules")
    return tuple(
        _rule(json.loads(entry.read_text(encoding="utf-8")))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    )


def confirmation_rule(framework_id: str) -> ConfirmationRule | None:
    """The confirmation rule of a framework, if it has one (Decision 757 does)."""
    return next((r for r in _bundled() if r.framework == framework_id), None)


def local_date(at: str) -> str:
    """The date in Viet Nam of a stored UTC time (`2025-10-31T18:30:00.000Z` -> 2025-11-01)."""
    moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    return moment.astimezone(VIETNAM).date().isoformat()


def confirmation(
    framework: Framework,
    rule: ConfirmationRule,
    state: Mapping[str, Any] | None,
    target_group: str | None,
    language: str = "en",
) -> dict[str, Any]:
    """Whether a person is confirmed at the basic level, since when, and on what evidence.

    `state` must come from the time-ordered fold (`fold_timeline`), whose competences say
    when each level was attained. The confirmation date is when the last required skill
    reached the level; the evidence is, per required skill, the statement that did it.
    Without a known target group, every competence of the framework is required.
    """
    level = framework.level(rule.level)
    assert level is not None, f"{rule.level} is not a level of {framework.id}"
    group = rule.group(target_group)
    codes = (
        list(group.required)
        if group is not None and group.required is not None
        else [c.code for c in framework.competences]
    )
    known = (state or {}).get("competences", {})
    reached: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    started = False
    for code in codes:
        competence = framework.competence_by_code(code)
        status = known.get(competence.id) if competence else None
        started = started or status is not None
        first = next(
            (a for a in (status or {}).get("attained", []) if a["rank"] >= level.rank), None
        )
        if first is None or first["at"] is None:
            missing.append(code)
        else:
            reached[code] = {"at": first["at"], "statement": first["statement"]}
    result: dict[str, Any] = {
        "framework": framework.id,
        "level": level.code,
        "level_name": level.name.text(language),
        "target_group": target_group,
        "target_group_name": group.name.text(language) if group else None,
        "required": codes,
        "reached": reached,
        "missing": missing,
    }
    if not missing:
        confirmed_at = max(r["at"] for r in reached.values())
        evidence = sorted({r["statement"] for r in reached.values()})
        return {
            **result,
            "state": CONFIRMED,
            "confirmed_at": confirmed_at,
            "date": local_date(confirmed_at),
            "evidence": evidence,
        }
    return {
        **result,
        "state": IN_PROGRESS if started else NOT_STARTED,
        "confirmed_at": None,
        "date": None,
        "evidence": [],
    }
