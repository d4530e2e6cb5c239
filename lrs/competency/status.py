"""Competency status as users read it: every competence of a framework, rolled up (pure).

The stored state holds only competences with evidence; this view adds the ones not started
and the roll-ups per area and for the framework, which depend on the framework's tree and
so are computed when read rather than stored with each learner.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from lrs.competency.framework import Framework
from lrs.readmodels.competencies import (
    ACHIEVED,
    IN_PROGRESS,
    NOT_STARTED,
    AreaStatus,
    CompetenceStatus,
    CompetencyState,
    CompetencyStatus,
    State,
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


def class_matrix_csv(framework: Framework, views: Iterable[CompetencyStatus]) -> str:
    """One row per learner, one column per competence (its attained level code, or empty)."""
    out = io.StringIO()
    writer = csv.writer(out)
    codes = [c.code for c in framework.competences]
    writer.writerow(["learner", *codes, "achieved", "in_progress", "not_started"])
    for view in views:
        by_code = {c["code"]: c for c in view["competences"]}
        summary = view["summary"]
        writer.writerow(
            [
                view["learner"],
                *[by_code[code]["level"] or "" for code in codes],
                summary[ACHIEVED],
                summary[IN_PROGRESS],
                summary[NOT_STARTED],
            ]
        )
    return out.getvalue()
