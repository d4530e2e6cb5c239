"""Competency status as users read it: every competence of a framework, rolled up (pure).

The stored state holds only competences with evidence; this view adds the ones not started
and the roll-ups per area and for the framework, which depend on the framework's tree and
so are computed when read rather than stored with each learner.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from lrs.competency.framework import Framework, Level
from lrs.readmodels.competencies import (
    ACHIEVED,
    IN_PROGRESS,
    NOT_STARTED,
    AreaStatus,
    CompetenceProgress,
    CompetenceStatus,
    CompetencyState,
    CompetencyStatus,
    State,
    StateChange,
)


def status_view(
    framework: Framework, learner: str, state: CompetencyState | None, language: str = "en"
) -> CompetencyStatus:
    known = state["competences"] if state else {}
    competences: list[CompetenceStatus] = []
    areas: list[AreaStatus] = []
    counts: dict[State, int] = {NOT_STARTED: 0, IN_PROGRESS: 0, ACHIEVED: 0}
    for area in framework.areas:
        area_counts: dict[State, int] = {NOT_STARTED: 0, IN_PROGRESS: 0, ACHIEVED: 0}
        ranks: list[int] = []
        for competence in area.competences:
            status = known.get(competence.id)
            rank = status["rank"] if status else 0
            level = framework.levels_by_rank.get(rank)
            entry: CompetenceStatus = {
                "id": competence.id,
                "code": competence.code,
                "name": competence.name.text(language),
                "area": area.code,
                "state": status["state"] if status else NOT_STARTED,
                "level": level.code if level else None,
                "rank": rank,
                "evidence": status["evidence"] if status else [],
                "first_evidence": status["first_evidence"] if status else None,
                "last_evidence": status["last_evidence"] if status else None,
                # when each level was reached, by which statement (read-time fold only)
                "attained": [
                    {**a, "level": _level_code(framework, a["rank"])}
                    for a in (status.get("attained", []) if status else [])
                ],
                "via": status.get("via", []) if status else [],
                "toward": _toward(framework, status),
            }
            competences.append(entry)
            area_counts[entry["state"]] += 1
            ranks.append(rank)
        floor = min(ranks) if ranks else 0
        area_level = framework.levels_by_rank.get(floor)
        areas.append(
            {
                "id": area.id,
                "code": area.code,
                "name": area.name.text(language),
                "competences": len(area.competences),
                "achieved": area_counts[ACHIEVED],
                "in_progress": area_counts[IN_PROGRESS],
                "not_started": area_counts[NOT_STARTED],
                # the area is at a level once every one of its competences reached it
                "level": area_level.code if area_level else None,
            }
        )
        for name, value in area_counts.items():
            counts[name] += value
    return {
        "learner": learner,
        "framework": framework.id,
        "competences": competences,
        "areas": areas,
        "summary": {
            "competences": len(competences),
            "not_started": counts[NOT_STARTED],
            "in_progress": counts[IN_PROGRESS],
            "achieved": counts[ACHIEVED],
        },
    }


def _level_code(framework: Framework, rank: int) -> str | None:
    level = framework.levels_by_rank.get(rank)
    return level.code if level else None


def _toward(framework: Framework, status: CompetenceProgress | None) -> str | None:
    """The next level the evidence is working toward: the lowest level above the attained
    one of a rule that has evidence but does not hold yet (None if there is none)."""
    if not status:
        return None
    ranks = [
        rule["rank"]
        for rule in status["rules"].values()
        if rule["rank"] > status["rank"] and len(rule["met_by"]) < rule["needs"]
    ]
    return _level_code(framework, min(ranks)) if ranks else None


def _legend(level: Level, language: str) -> str:
    band = f" ({level.band.name.text(language)})" if level.band else ""
    return f"{level.code}={level.name.text(language)}{band}"


def cell(competence: CompetenceStatus) -> str:
    """A matrix cell: the state and its level, so an empty cell never hides work in
    progress: `achieved:3` (level 3 reached), `in_progress:2` (evidence, working toward
    level 2), `in_progress` (evidence toward no known level), `not_started`."""
    state = competence["state"]
    if state == ACHIEVED and competence["level"]:
        return f"achieved:{competence['level']}"
    if state == IN_PROGRESS and competence["toward"]:
        return f"in_progress:{competence['toward']}"
    return state


def class_matrix_csv(
    framework: Framework, views: Iterable[CompetencyStatus], language: str = "en"
) -> str:
    """One row per person, one column per competence (`state:level`); a last row, `legend`,
    names the levels (`3=Level 3 (Intermediate)`) in the reader's language."""
    out = io.StringIO()
    writer = csv.writer(out)
    codes = [c.code for c in framework.competences]
    writer.writerow(["learner", "name", *codes, "achieved", "in_progress", "not_started"])
    for view in views:
        by_code = {c["code"]: c for c in view["competences"]}
        summary = view["summary"]
        writer.writerow(
            [
                view.get("person") or view["learner"],
                view.get("name") or "",
                *[cell(by_code[code]) for code in codes],
                summary[ACHIEVED],
                summary[IN_PROGRESS],
                summary[NOT_STARTED],
            ]
        )
    writer.writerow(["legend", "", *[_legend(level, language) for level in framework.levels]])
    return out.getvalue()


def changes_view(
    framework: Framework, changes: list[StateChange], language: str = "en"
) -> list[dict[str, Any]]:
    """State changes with competence and level codes, as a reader wants them."""
    found = []
    for change in changes:
        competence = framework.competence(change["competence"])
        found.append(
            {
                **change,
                "code": competence.code if competence else None,
                "name": competence.name.text(language) if competence else None,
                "from": {**change["from"], "level": _level_code(framework, change["from"]["rank"])},
                "to": {**change["to"], "level": _level_code(framework, change["to"]["rank"])},
            }
        )
    return found
