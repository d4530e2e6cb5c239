"""Next steps: the activities that close the largest gaps toward a target level (pure
ranking over a catalogue built from the alignment rules in force).

The catalogue is what the rules name: every rule that matches one activity id says which
competence, at which level, that activity shows (directly, or through a crosswalk into the
framework read). Rules that match by prefix, type or tag name no single activity and give
no recommendation. A person's gap on a competence is target rank - attained rank; an
activity helps when one of its rules has a higher rank than attained and the person has
not met that rule with it yet. Activities are ranked by the levels they would raise in
all (capped at the target), then by how many competences they would bring to the target,
then by id, so the same status always gives the same list, each with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from lrs.competency.alignment import RuleSet
from lrs.competency.crosswalk import Crosswalk, into
from lrs.competency.framework import Framework
from lrs.xapi.errors import ValidationError


@dataclass(frozen=True)
class CatalogueEntry:
    activity: str
    competence: str  # IRI in the framework read
    rank: int
    needs: int  # distinct activities the rule needs
    rule: str  # the key the status keeps the rule under (met_by)
    via: str | None  # crosswalk id


@cache
def _targets() -> dict[str, Any]:
    text = resources.files("lrs.competency").joinpath("targets.json").read_text("utf-8")
    return dict(json.loads(text))


def target_level(framework: Framework, target_group: str | None, asked: str | None) -> int:
    """The target rank: `?target=` if given, else the configured one for the person's
    target group, else the framework's default (lrs/competency/targets.json)."""
    if asked:
        level = framework.level(asked)
        if level is None:
            codes = ", ".join(lv.code for lv in framework.levels)
            raise ValidationError(f"target: one of {codes}", "target")
        return level.rank
    configured = _targets().get(framework.id, {})
    code = configured.get(target_group or "", configured.get("default"))
    level = framework.level(code) if isinstance(code, str) else None
    return level.rank if level else framework.lowest_level.rank


def catalogue(
    framework: Framework, rulesets: list[RuleSet], crosswalks: list[Crosswalk]
) -> list[CatalogueEntry]:
    """Every (activity, competence, level) the rules in force name, in the framework read."""
    directions = {d.source: d for d in into(crosswalks, framework.id)}
    found: list[CatalogueEntry] = []
    for ruleset in rulesets:
        direction = directions.get(ruleset.framework)
        if ruleset.framework != framework.id and direction is None:
            continue
        for rule in ruleset.rules:
            activity = rule.match.get("activity")
            if not activity or set(rule.match) - {"activity", "verb"}:
                continue
            key = f"{ruleset.id}#{rule.id}"
            if direction is None:
                found.append(CatalogueEntry(activity, rule.competence, rule.rank,
                                            rule.distinct_activities, key, None))  # fmt: skip
                continue
            rank = direction.rank(rule.rank)
            for source, target in direction.pairs:
                if source == rule.competence and rank > 0:
                    found.append(CatalogueEntry(activity, target, rank, rule.distinct_activities,
                                                f"{direction.walk.id}:{key}", direction.walk.id))  # fmt: skip
    return found


def _level(framework: Framework, rank: int) -> str:
    level = framework.levels_by_rank.get(rank)
    return f"level {level.code}" if level else "no level"


def recommend(
    framework: Framework,
    entries: list[CatalogueEntry],
    states: Sequence[Mapping[str, Any] | None],
    target: int,
    names: dict[str, str] | None = None,
    limit: int = 10,
    language: str = "en",
) -> list[dict[str, Any]]:
    """Ranked next steps for one person (`states` of one) or a class (one state each)."""
    by_activity: dict[str, list[CatalogueEntry]] = {}
    for entry in entries:
        by_activity.setdefault(entry.activity, []).append(entry)
    ranked: list[dict[str, Any]] = []
    for activity, options in by_activity.items():
        raises: dict[str, tuple[int, int, int]] = {}  # competence -> (persons, from, to) sums
        gain = closes = helped = 0
        for state in states:
            competences = (state or {}).get("competences", {})
            helps = False
            best: dict[str, int] = {}
            for option in options:
                status = competences.get(option.competence) or {}
                now = int(status.get("rank", 0))
                met = (status.get("rules") or {}).get(option.rule, {}).get("met_by", [])
                if now >= target or option.rank <= now or activity in met:
                    continue
                best[option.competence] = max(best.get(option.competence, 0), option.rank)
            for competence, rank in best.items():
                now = int((competences.get(competence) or {}).get("rank", 0))
                to = min(rank, target)
                gain += to - now
                closes += to >= target
                persons, low, high = raises.get(competence, (0, now, to))
                raises[competence] = (persons + 1, min(low, now), max(high, to))
                helps = True
            helped += helps
        if not raises:
            continue
        reasons = []
        for competence, (persons, low, high) in sorted(raises.items()):
            found = framework.competence(competence)
            code = found.code if found else competence
            text = f"raises {code} from {_level(framework, low)} to {_level(framework, high)}"
            if len(states) > 1:
                text += f" for {persons} of {len(states)}"
            reasons.append(text)
        ranked.append(
            {
                "activity": activity,
                "name": (names or {}).get(activity),
                "gain": gain,
                "reaches_target": closes,
                "persons": helped,
                "competences": sorted(
                    (framework.competence(c).code if framework.competence(c) else c)  # type: ignore[union-attr]
                    for c in raises
                ),
                "via": sorted({o.via for o in options if o.via}),
                "reason": "; ".join(reasons),
            }
        )
    ranked.sort(key=lambda r: (-r["gain"], -r["reaches_target"], r["activity"]))
    return ranked[:limit]
