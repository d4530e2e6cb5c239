"""Learner profiles: the read model, and how one statement's facts fold into it (pure).

Every part of a profile is a commutative fold (sums, counts, min/max, unions, "latest by
(timestamp, id)"), so a profile does not depend on the order statements arrive in, and a
rebuild after voiding equals a fold over what remains. The query API folds a person's keys
with the same `fold`, which is why it lives here and not with the processors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import (
    Any,
    NotRequired,  # pydantic reads these on 3.11
    cast,
)

from typing_extensions import TypedDict

from lrs.domain.records import Contribution
from lrs.readmodels.types import Timestamp

NAME = "profiles"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
FAILED = "http://adlnet.gov/expapi/verbs/failed"


class ProfileFacts(TypedDict):
    """What one statement contributes to its learner's profile (stored with it, as JSON)."""

    verb: str | None
    activity: str | None
    at: Timestamp | None
    score: float | None
    success: bool | None
    completion: bool | None
    duration: float  # seconds, rounded to milliseconds
    courses: list[str]
    registration: str | None
    team: NotRequired[str | None]


class ActivityProgress(TypedDict):
    statements: int
    completed: bool
    passed: bool
    failed: bool
    best_score: float | None
    last_score: float | None
    # [time or "", statement id] of the statement that gave last_score: the latest wins
    last_scored: list[str] | None
    time_spent_seconds: float
    first: Timestamp | None
    last: Timestamp | None


class ProfileBody(TypedDict):
    """What a profile says, whoever it is of (a learner key or a person)."""

    statements: int
    verbs: dict[str, int]
    first_activity: Timestamp | None
    last_activity: Timestamp | None
    time_spent_seconds: float
    activities: dict[str, ActivityProgress]
    courses: list[str]
    registrations: list[str]
    teams: NotRequired[list[str]]  # only once a statement named a context team
    attempted: int
    completed: int
    passed: int
    failed: int


class Profile(ProfileBody):
    """One learner key's profile, as stored and as GET /api/v1/learners/{learner}/profile."""

    learner: str


class PersonProfile(ProfileBody):
    """A person's profile: the facts of all their keys the reader sees, folded together."""

    learner: None
    person: str
    keys: list[str]


class LearnerSummary(TypedDict):
    """A profile's headline figures, as listed by GET /api/v1/learners."""

    learner: str
    statements: int
    first_activity: Timestamp | None
    last_activity: Timestamp | None
    attempted: int
    completed: int
    passed: int
    failed: int
    time_spent_seconds: float


class LearnerPage(TypedDict):
    learners: list[LearnerSummary]
    next: str | None  # the URL of the next page, None on the last


def summary(profile: Profile) -> LearnerSummary:
    """The summary's fields of a profile, in the summary's order."""
    fields: Mapping[str, object] = profile
    return cast("LearnerSummary", {name: fields[name] for name in LearnerSummary.__annotations__})


def normalised_score(score: Any) -> float | None:
    """A 0..1 score: from raw/min/max when all are given, else `scaled`.

    Moodle's logstore plugin writes scaled in [-1, 1] (research notes), so raw/min/max,
    when present, are the trustworthy source.
    """
    if not isinstance(score, dict):
        return None
    raw, low, high = score.get("raw"), score.get("min"), score.get("max")
    if (
        isinstance(raw, int | float)
        and isinstance(low, int | float)
        and isinstance(high, int | float)
        and high > low
    ):
        return round((raw - low) / (high - low), 6)
    scaled = score.get("scaled")
    if isinstance(scaled, int | float):
        return float(scaled)
    return None


def empty(key: str) -> Profile:
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


def fold(state: Profile | None, item: Contribution) -> Profile:
    """The profile with one more statement. Updates `state` in place (callers own it):
    copying a large profile for every statement would cost more than the fold itself."""
    profile = state if state is not None else empty(item.key)
    c = cast("ProfileFacts", item.data)
    verb, at = c["verb"], c["at"]
    profile["statements"] += 1
    if verb is not None:
        profile["verbs"][verb] = profile["verbs"].get(verb, 0) + 1
    profile["first_activity"] = _earliest(profile["first_activity"], at)
    profile["last_activity"] = _latest(profile["last_activity"], at)
    profile["time_spent_seconds"] = round(profile["time_spent_seconds"] + c["duration"], 3)
    profile["courses"] = _union(profile["courses"], c["courses"])
    if c["registration"]:
        profile["registrations"] = _union(profile["registrations"], [c["registration"]])
    team = c.get("team")
    if team:
        profile["teams"] = _union(profile.get("teams", []), [team])
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
        flags: tuple[tuple[str, bool], ...] = (
            ("completed", c["completion"] is True or verb == COMPLETED),
            ("passed", c["success"] is True or verb == PASSED),
            ("failed", c["success"] is False or verb == FAILED),
        )
        counts = cast("dict[str, int]", profile)
        reached_flags = cast("dict[str, bool]", activity)
        for flag, reached in flags:
            if reached and not reached_flags[flag]:
                reached_flags[flag] = True
                counts[flag] += 1
        activity["time_spent_seconds"] = round(activity["time_spent_seconds"] + c["duration"], 3)
        activity["first"] = _earliest(activity["first"], at)
        activity["last"] = _latest(activity["last"], at)
        score = c["score"]
        if score is not None:
            best = activity["best_score"]
            if best is None or score > best:
                activity["best_score"] = score
            scored = [at or "", item.statement_id]
            last_scored = activity["last_scored"]
            if last_scored is None or scored > last_scored:
                activity["last_score"] = score
                activity["last_scored"] = scored
    return profile


def fold_all(contributions: Iterable[Contribution]) -> Profile | None:
    """One profile from facts filed under several keys (a person's linked learner keys)."""
    state: Profile | None = None
    for item in contributions:
        state = fold(state, item)
    return state
