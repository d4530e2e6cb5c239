"""Alignment rules: from a statement to evidence for a competence at a level (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import jsonschema

from lrs.xapi.errors import ValidationError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "alignment-rules.schema.json"


class LevelLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def rank(self) -> int: ...


class FrameworkLike(Protocol):
    @property
    def id(self) -> str: ...

    def competence(self, iri: str) -> Any: ...

    def level(self, id_or_code: str) -> LevelLike | None: ...


@dataclass(frozen=True)
class Rule:
    id: str
    competence: str
    level: str  # the framework level's id
    rank: int
    match: dict[str, str]
    when: dict[str, Any]
    distinct_activities: int


@dataclass(frozen=True)
class RuleIndex:
    """Which rules can match a statement, found from its activity id without trying each.

    A province's rule sets hold hundreds of rules (two per course is common); trying every
    one on every statement made the competencies processor the slowest step of the pipeline.
    """

    exact: dict[str, tuple[int, ...]]  # activity id -> rule positions
    prefixes: dict[int, dict[str, tuple[int, ...]]]  # prefix length -> prefix -> positions
    rest: tuple[int, ...]  # rules that name no activity nor tag: tried on every statement
    # competency IRI -> positions of rules that match by that tag alone (the shipped
    # example rules: one per competence, so a statement tries only the tags it carries)
    tags: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: tuple[Rule, ...]) -> RuleIndex:
        exact: dict[str, list[int]] = {}
        prefixes: dict[int, dict[str, list[int]]] = {}
        tags: dict[str, list[int]] = {}
        rest: list[int] = []
        for position, rule in enumerate(rules):
            if "activity" in rule.match:
                exact.setdefault(rule.match["activity"], []).append(position)
            elif "activity_prefix" in rule.match:
                prefix = rule.match["activity_prefix"]
                prefixes.setdefault(len(prefix), {}).setdefault(prefix, []).append(position)
            elif "competency" in rule.match:
                tags.setdefault(rule.match["competency"], []).append(position)
            else:
                rest.append(position)
        return cls(
            {k: tuple(v) for k, v in exact.items()},
            {n: {k: tuple(v) for k, v in d.items()} for n, d in prefixes.items()},
            tuple(rest),
            {k: tuple(v) for k, v in tags.items()},
        )

    def candidates(self, activity: str, tags: Iterable[str] = ()) -> list[int]:
        """Positions of the rules worth trying, in rule order."""
        found = list(self.rest)
        if activity:
            found += self.exact.get(activity, ())
            for length, by_prefix in self.prefixes.items():
                found += by_prefix.get(activity[:length], ())
        for tag in tags:
            found += self.tags.get(tag, ())
        found.sort()
        return found


@dataclass(frozen=True)
class RuleSet:
    id: str
    framework: str
    rules: tuple[Rule, ...]
    source: dict[str, Any]  # the file as given, to store and show back
    index: RuleIndex = field(init=False, repr=False, compare=False)
    # per rule, what its evidence always says (the competencies processor adds whether it is met)
    evidence: tuple[dict[str, Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", RuleIndex.of(self.rules))
        object.__setattr__(
            self,
            "evidence",
            tuple(
                {
                    "rule": f"{self.id}#{rule.id}",
                    "competence": rule.competence,
                    "level": rule.level,
                    "rank": rule.rank,
                    "needs": rule.distinct_activities,
                }
                for rule in self.rules
            ),
        )

    def matching(self, statement: dict[str, Any]) -> list[Rule]:
        """The rules whose `match` the statement meets, in rule order."""
        rules = self.rules
        return [rules[i] for i in self.matching_positions(statement)]

    def matching_positions(self, statement: dict[str, Any]) -> list[int]:
        """Positions in `rules` of the rules whose `match` the statement meets, in order."""
        obj = statement.get("object") or {}
        activity = obj.get("id", "") if obj.get("objectType", "Activity") == "Activity" else ""
        rules = self.rules
        tags = _context_iris(statement) if self.index.tags else ()
        return [i for i in self.index.candidates(activity, tags) if matches(rules[i], statement)]


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def load_rules(data: Any, frameworks: Mapping[str, FrameworkLike]) -> RuleSet:
    """Check a rule set against its schema and against the framework it names."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = list(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            # name the missing property itself, not the object that lacks it
            path += [next(k for k in error.validator_value if k not in error.instance)]
        field = ".".join(str(p) for p in path) or None
        raise ValidationError(f"{field or 'rules'}: {error.message}", field)
    framework = frameworks.get(data["framework"])
    if framework is None:
        known = ", ".join(sorted(frameworks)) or "none"
        raise ValidationError(
            f"unknown framework {data['framework']!r} (known: {known})", "framework"
        )
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["rules"]):
        field = f"rules.{index}"
        if raw["id"] in seen:
            raise ValidationError(f"{field}.id: rule id {raw['id']!r} is used twice", f"{field}.id")
        seen.add(raw["id"])
        if framework.competence(raw["competence"]) is None:
            raise ValidationError(
                f"{field}.competence: {raw['competence']!r} is not in {framework.id}",
                f"{field}.competence",
            )
        level = framework.level(raw["level"])
        if level is None:
            raise ValidationError(
                f"{field}.level: {raw['level']!r} is not a level of {framework.id}",
                f"{field}.level",
            )
        rules.append(
            Rule(
                id=raw["id"],
                competence=raw["competence"],
                level=level.id,
                rank=level.rank,
                match=dict(raw["match"]),
                when=dict(raw.get("when") or {}),
                distinct_activities=int(raw.get("distinct_activities", 1)),
            )
        )
    return RuleSet(data["id"], data["framework"], tuple(rules), data)


def _context_iris(statement: dict[str, Any]) -> set[str]:
    context = statement.get("context") or {}
    activities = context.get("contextActivities") or {}
    return {
        a["id"]
        for group in ("category", "other")
        for a in (activities.get(group) or [])
        if isinstance(a, dict) and "id" in a
    }


def matches(rule: Rule, statement: dict[str, Any]) -> bool:
    """Is the statement about what the rule aligns (whatever its outcome)?"""
    obj = statement.get("object") or {}
    activity = obj.get("id", "") if obj.get("objectType", "Activity") == "Activity" else ""
    for prop, value in rule.match.items():
        if prop == "activity" and activity != value:
            return False
        if prop == "activity_prefix" and not (activity and activity.startswith(value)):
            return False
        if prop == "activity_type" and ((obj.get("definition") or {}).get("type") != value):
            return False
        if prop == "competency" and value not in _context_iris(statement):
            return False
        if prop == "verb" and (statement.get("verb") or {}).get("id") != value:
            return False
    return True


def meets(rule: Rule, statement: dict[str, Any], score: float | None) -> bool:
    """Does the statement show what the rule asks (completed, success, a score)?"""
    result = statement.get("result") or {}
    verb = (statement.get("verb") or {}).get("id", "")
    completed = result.get("completion") is True or verb.endswith("/completed")
    success = result.get("success") is True or verb.endswith("/passed")
    if not rule.when:
        return completed or success
    if rule.when.get("completed") and not completed:
        return False
    if rule.when.get("success") and not success:
        return False
    minimum = rule.when.get("min_score")
    return not (minimum is not None and (score is None or score < minimum))
