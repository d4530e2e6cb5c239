"""The profiles processor: what a statement tells about its learner (pure).

The profile's shape and its fold are core (lrs.readmodels.profiles), shared with the query
API; this module picks the facts out of a statement and says what profiles are listed by.
"""

from __future__ import annotations

from typing import Any, cast

from consumers.reducers.base import FoldingReducer, statement_time
from lrs.domain.records import Contribution
from lrs.readmodels.profiles import NAME, Profile, ProfileFacts, fold, normalised_score
from lrs.xapi.agent_keys import agent_key
from lrs.xapi.statements import learner_key
from lrs.xapi.time import duration_seconds


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
    data: ProfileFacts = {
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
    return Contribution(statement["id"], learner_key(statement), dict(data))


class ProfileReducer(FoldingReducer):
    """The profiles projection: key = learner key."""

    name = NAME

    def contributions(self, statement: dict[str, Any]) -> list[Contribution]:
        return [contribution(statement)]

    def fold(self, state: dict[str, Any] | None, item: Contribution) -> dict[str, Any]:
        # The runtimes keep every projection's state as a JSON object. The casts name their
        # types as strings: built at run time, `Profile | None` and `dict[str, Any]` cost more
        # than the fold itself (benchmarks/MEASUREMENTS.md).
        return cast("dict[str, Any]", fold(cast("Profile | None", state), item))

    def index(self, state: dict[str, Any]) -> dict[str, list[Any]]:
        return {
            "course": state["courses"],
            "last_active": [state["last_activity"]] if state["last_activity"] else [],
            "completed": [state["completed"]],
            "team": state.get("teams", []),
        }


REDUCER = ProfileReducer()
