"""Learner profiles: one per learner key, folded from that learner's statements.

Pure functions only (no store, no Kafka): the runner and the faust app feed statements in,
the store keeps the result. Every part of a profile is a commutative fold (sums, counts,
min/max, unions, "latest by (timestamp, id)"), so the profile does not depend on the order
statements arrive in, and a rebuild after voiding equals a fold over what remains.
"""

from __future__ import annotations

from typing import Any

from consumers.projection import FoldingReducer, statement_time
from lrs.storage.base import Contribution
from lrs.xapi.identity import agent_key
from lrs.xapi.statements import learner_key
from lrs.xapi.time import duration_seconds

NAME = "profiles"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
FAILED = "http://adlnet.gov/expapi/verbs/failed"


def normalised_score(score: Any) -> float | None:
    """A 0..1 score: from raw/min/max when all are given, else `scaled`.

    Moodle's logstore plugin writes scaled in [-1, 1] (research notes), so raw/min/max,
    when present, are the trustworthy source.
    """
    if not isinstance(score, dict):
        return None
    raw, low, high = score.get("raw"), score.get("min"), score.get("max")
    if all(isinstance(v, int | float) for v in (raw, low, high)) and high > low:
        return round((raw - low) / (high - low), 6)
    scaled = score.get("scaled")
    if isinstance(scaled, int | float):
        return float(scaled)
    return None


def contribution(statement: dict[str, Any]) -> Contribution:
    """The facts of one statement that a profile folds (JSON-able, so they can be stored)."""
    obj = statement.get("object") or {}
    result = statement.get("result") or {}
    context = statement.get("context") or {}
    activities = context.get("contextActivities") or {}
    courses = sorted(
        {
            a["id"]
            for group in ("parent", "grouping")
            for a in (activities.get(group) or [])
            if isinstance(a, dict) and "id" in a
        }
    )
    duration = result.get("duration")
    data = {
        "verb": (statement.get("verb") or {}).get("id"),
        "activity": obj.get("id") if obj.get("objectType", "Activity") == "Activity" else None,
        "at": statement_time(statement),
        "score": normalised_score(result.get("score")),
        "success": result.get("success"),
        "completion": result.get("completion"),
        # Milliseconds, like the sums: adding sub-millisecond values (TinCanPython writes
        # microseconds) and rounding each sum would make the total depend on the order.
        "duration": round(duration_seconds(duration), 3) if isinstance(duration, str) else 0.0,
        "courses": courses,
        "registration": context.get("registration"),
        "team": agent_key(context.get("team")),
    }
    return Contribution(statement["id"], learner_key(statement), data)


def _empty(key: str) -> dict[str, Any]:
    return {
        "learner": key,
        "statements": 0,
        "verbs": {},
        "first_activity": None,
        "last_activity": None,
        "time_spent_seconds": 0.0,
        "activities": {},
        "courses": [],
        "registrations": [],
        "attempted": 0,
        "completed": 0,
        "passed": 0,
        "failed": 0,
    }


def _earliest(a: str | None, b: str | None) -> str | None:
    return b if a is None or (b is not None and b < a) else a


def _latest(a: str | None, b: str | None) -> str | None:
    return b if a is None or (b is not None and b > a) else a


def _union(values: list[str], more: list[str]) -> list[str]:
    for value in more:
        if value not in values:
            return sorted(set(values).union(more))
    return values  # the usual case: a course or registration seen before


def fold(state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
    """The profile with one more statement. Updates `state` in place (callers own it):
    copying a large profile for every statement would cost more than the fold itself."""
    profile = state if state is not None else _empty(item.key)
    c = item.data
    verb, at = c["verb"], c["at"]
    profile["statements"] += 1
    profile["verbs"][verb] = profile["verbs"].get(verb, 0) + 1
    profile["first_activity"] = _earliest(profile["first_activity"], at)
    profile["last_activity"] = _latest(profile["last_activity"], at)
    profile["time_spent_seconds"] = round(profile["time_spent_seconds"] + c["duration"], 3)
    profile["courses"] = _union(profile["courses"], c["courses"])
    if c["registration"]:
        profile["registrations"] = _union(profile["registrations"], [c["registration"]])
    if c.get("team"):
        profile["teams"] = _union(profile.get("teams", []), [c["team"]])
    if c["activity"]:
        activity = profile["activities"].setdefault(
            c["activity"],
            {
                "statements": 0,
                "completed": False,
                "passed": False,
                "failed": False,
                "best_score": None,
                "last_score": None,
                "last_scored": None,
                "time_spent_seconds": 0.0,
                "first": None,
                "last": None,
            },
        )
        if activity["statements"] == 0:
            profile["attempted"] += 1
        activity["statements"] += 1
        for flag, reached in (
            ("completed", c["completion"] is True or verb == COMPLETED),
            ("passed", c["success"] is True or verb == PASSED),
            ("failed", c["success"] is False or verb == FAILED),
        ):
            if reached and not activity[flag]:
                activity[flag] = True
                profile[flag] += 1
        activity["time_spent_seconds"] = round(activity["time_spent_seconds"] + c["duration"], 3)
        activity["first"] = _earliest(activity["first"], at)
        activity["last"] = _latest(activity["last"], at)
        score = c["score"]
        if score is not None:
            if activity["best_score"] is None or score > activity["best_score"]:
                activity["best_score"] = score
            scored = [at or "", item.statement_id]
            if activity["last_scored"] is None or scored > activity["last_scored"]:
                activity["last_score"] = score
                activity["last_scored"] = scored
    return profile


class ProfileReducer(FoldingReducer):
    """The profiles projection: key = learner key."""

    name = NAME

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        return [contribution(statement)]

    def fold(self, state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
        return fold(state, item)

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {
            "course": state["courses"],
            "last_active": [state["last_activity"]] if state["last_activity"] else [],
            "completed": [state["completed"]],
            "team": state.get("teams", []),
        }


REDUCER = ProfileReducer()
