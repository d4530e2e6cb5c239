"""The profile fold, on its own: statement -> contribution -> profile, with no store."""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any, cast

import orjson
import pytest

from consumers.reducers import profiles
from consumers.reducers.profiles import REDUCER, contribution
from lrs.domain.records import Contribution
from lrs.readmodels import profiles as profile_model
from lrs.readmodels.profiles import fold, normalised_score

VERBS = "http://adlnet.gov/expapi/verbs/"
LEARNER = "mbox:mailto:ana@example.org"
ACTIVITY = "http://example.org/act/1"


def statement(
    verb: str = "experienced",
    activity: str | None = ACTIVITY,
    *,
    timestamp: str | None = "2024-03-01T10:00:00.000Z",
    sid: str | None = None,
    result: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": sid or str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:ana@example.org", "name": "Ana"},
        "verb": {"id": VERBS + verb},
        "object": {"objectType": "Activity", "id": activity},
        **extra,
    }
    if timestamp is not None:
        value["timestamp"] = timestamp
    if result is not None:
        value["result"] = result
    if context is not None:
        value["context"] = context
    return value


def fold_all(statements: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] | None = None
    for s in statements:
        state = fold(state, contribution(s))
    assert state is not None
    return state


def canonical(state: dict[str, Any] | None) -> bytes:
    """Byte-identical when equal, whatever order the dicts' keys were inserted in."""
    return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


# contributions --------------------------------------------------------------------------------


def test_contribution_carries_id_key_verb_and_activity() -> None:
    s = statement(
        "completed",
        "http://example.org/course/1/unit/2",
        sid="0b7c2a5e-0000-4000-8000-000000000001",
    )
    c = contribution(s)
    assert c.statement_id == "0b7c2a5e-0000-4000-8000-000000000001"
    assert c.key == LEARNER
    assert c.data["verb"] == VERBS + "completed"
    assert c.data["activity"] == "http://example.org/course/1/unit/2"


def test_contribution_key_is_the_canonical_learner_key() -> None:
    s = statement()
    s["actor"] = {"account": {"homePage": "https://lms.example.org", "name": "42"}}
    assert contribution(s).key == "account:https://lms.example.org|42"
    s["actor"] = {"mbox": "mailto:Ana@Example.ORG"}
    assert contribution(s).key == LEARNER


def test_contribution_has_no_activity_when_the_object_is_not_an_activity() -> None:
    s = statement()
    s["object"] = {"objectType": "Agent", "mbox": "mailto:bo@example.org"}
    assert contribution(s).data["activity"] is None
    s["object"] = {"id": "http://example.org/implicit-activity"}  # objectType defaults to Activity
    assert contribution(s).data["activity"] == "http://example.org/implicit-activity"


def test_contribution_timestamp_is_utc_in_stored_format() -> None:
    c = contribution(statement(timestamp="2024-03-01T08:15:30.25+07:00"))
    assert c.data["at"] == "2024-03-01T01:15:30.250Z"
    # across midnight
    c = contribution(statement(timestamp="2024-03-01T05:00:00+07:00"))
    assert c.data["at"] == "2024-02-29T22:00:00.000Z"


def test_contribution_falls_back_to_stored_when_there_is_no_timestamp() -> None:
    s = statement(timestamp=None, stored="2024-05-06T07:08:09.123Z")
    assert contribution(s).data["at"] == "2024-05-06T07:08:09.123Z"
    s = statement(timestamp="not a time", stored="2024-05-06T07:08:09.123Z")
    assert contribution(s).data["at"] == "2024-05-06T07:08:09.123Z"


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ({"raw": 50, "min": 0, "max": 100}, 0.5),
        # the Moodle trap: scaled written in [-1, 1] that disagrees with raw/min/max
        ({"scaled": -0.2, "raw": 50, "min": 0, "max": 100}, 0.5),
        ({"scaled": 0, "raw": 50, "min": 0, "max": 100}, 0.5),
        ({"raw": 7, "min": 5, "max": 9}, 0.5),
        ({"raw": 2, "min": 0, "max": 3}, 0.666667),
        ({"raw": 10, "min": 0, "max": 10}, 1.0),
        ({"scaled": 0.8}, 0.8),
        ({"scaled": 1}, 1.0),
        ({"scaled": 0.3, "raw": 4, "min": 4, "max": 4}, 0.3),  # empty range: fall back
        ({"scaled": 0.3, "raw": 40}, 0.3),  # incomplete raw/min/max: fall back
        ({"raw": 40}, None),
        ({}, None),
        (None, None),
    ],
)
def test_normalised_score(score: Any, expected: float | None) -> None:
    assert normalised_score(score) == expected


def test_contribution_score_is_normalised() -> None:
    s = statement(result={"score": {"scaled": -0.2, "raw": 50, "min": 0, "max": 100}})
    assert contribution(s).data["score"] == 0.5
    assert contribution(statement()).data["score"] is None


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("PT45.5S", 45.5),
        ("PT1H30M", 5400.0),
        ("P1DT2H", 93600.0),
        ("PT0S", 0.0),
        ("P1W", 604800.0),
    ],
)
def test_contribution_duration_in_seconds(duration: str, seconds: float) -> None:
    assert contribution(statement(result={"duration": duration})).data["duration"] == seconds


def test_contribution_without_duration_counts_zero() -> None:
    assert contribution(statement()).data["duration"] == 0.0


def test_contribution_courses_are_context_parent_and_grouping() -> None:
    s = statement(
        context={
            "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
            "contextActivities": {
                "parent": [{"id": "http://example.org/course/2"}],
                "grouping": [
                    {"id": "http://example.org/programme"},
                    {"id": "http://example.org/course/1"},
                ],
                "category": [{"id": "http://example.org/profile/cmi5"}],
                "other": [{"id": "http://example.org/other"}],
            },
        }
    )
    c = contribution(s)
    assert c.data["courses"] == [
        "http://example.org/course/1",
        "http://example.org/course/2",
        "http://example.org/programme",
    ]
    assert c.data["registration"] == "ec531277-b57b-4c15-8d91-d292c5b2b8f7"


def test_contribution_is_json_round_trippable() -> None:
    s = statement(
        result={"score": {"scaled": 0.5}, "success": True, "completion": True, "duration": "PT1M"},
        context={"contextActivities": {"parent": [{"id": "http://example.org/c"}]}},
    )
    data = contribution(s).data
    assert orjson.loads(orjson.dumps(data)) == data


# the fold -----------------------------------------------------------------------------------


def test_counts_per_verb() -> None:
    profile = fold_all([statement("experienced"), statement("experienced"), statement("completed")])
    assert profile["learner"] == LEARNER
    assert profile["statements"] == 3
    assert profile["verbs"] == {VERBS + "experienced": 2, VERBS + "completed": 1}


def test_activity_flags_and_totals() -> None:
    a, b, c, d = (f"http://example.org/act/{n}" for n in "abcd")
    profile = fold_all(
        [
            statement("attempted", a),
            statement("completed", a),
            statement("answered", b, result={"success": True}),
            statement("failed", c),
            statement("passed", c),  # failed, then passed: both flags
            statement("experienced", d, result={"completion": True, "success": False}),
            statement("experienced", d),
        ]
    )
    activities = profile["activities"]
    assert set(activities) == {a, b, c, d}
    assert (profile["attempted"], profile["completed"], profile["passed"], profile["failed"]) == (
        4,
        2,
        2,
        2,
    )
    assert [activities[a][f] for f in ("completed", "passed", "failed")] == [True, False, False]
    assert [activities[b][f] for f in ("completed", "passed", "failed")] == [False, True, False]
    assert [activities[c][f] for f in ("completed", "passed", "failed")] == [False, True, True]
    assert [activities[d][f] for f in ("completed", "passed", "failed")] == [True, False, True]
    assert activities[a]["statements"] == 2
    assert activities[d]["statements"] == 2


def test_completion_false_does_not_complete() -> None:
    profile = fold_all([statement("experienced", result={"completion": False})])
    assert profile["completed"] == 0
    assert profile["attempted"] == 1


def test_repeated_completion_counts_the_activity_once() -> None:
    profile = fold_all([statement("completed"), statement("completed"), statement("passed")])
    assert profile["completed"] == 1
    assert profile["passed"] == 1
    assert profile["attempted"] == 1


def test_statement_about_an_agent_counts_but_adds_no_activity() -> None:
    s = statement("mentored")
    s["object"] = {"objectType": "Agent", "mbox": "mailto:bo@example.org"}
    profile = fold_all([s])
    assert profile["statements"] == 1
    assert profile["verbs"] == {VERBS + "mentored": 1}
    assert profile["activities"] == {}
    assert profile["attempted"] == 0


def test_best_and_last_score() -> None:
    act = "http://example.org/quiz"
    profile = fold_all(
        [
            statement(
                "scored", act, timestamp="2024-03-01T10:00:00Z", result={"score": {"scaled": 0.9}}
            ),
            statement(
                "scored", act, timestamp="2024-03-03T10:00:00Z", result={"score": {"scaled": 0.4}}
            ),
            statement(
                "scored", act, timestamp="2024-03-02T10:00:00Z", result={"score": {"scaled": 0.7}}
            ),
            statement("experienced", act, timestamp="2024-03-09T10:00:00Z"),  # no score
        ]
    )
    quiz = profile["activities"][act]
    assert quiz["best_score"] == 0.9
    assert quiz["last_score"] == 0.4  # latest timestamp, not highest nor last folded


def test_last_score_compares_instants_not_local_times() -> None:
    act = "http://example.org/quiz"
    # 09:00+07:00 is 02:00Z: earlier than 03:00Z although "09" > "03" as text
    profile = fold_all(
        [
            statement(
                "scored", act, timestamp="2024-03-01T03:00:00Z", result={"score": {"scaled": 0.2}}
            ),
            statement(
                "scored",
                act,
                timestamp="2024-03-01T09:00:00+07:00",
                result={"score": {"scaled": 0.6}},
            ),
        ]
    )
    assert profile["activities"][act]["last_score"] == 0.2


@pytest.mark.parametrize("reverse", [False, True])
def test_last_score_tie_on_timestamp_is_broken_by_statement_id(reverse: bool) -> None:
    act = "http://example.org/quiz"
    same = "2024-03-01T10:00:00Z"
    items = [
        statement(
            "scored",
            act,
            timestamp=same,
            sid="bbbbbbbb-0000-4000-8000-000000000000",
            result={"score": {"scaled": 0.3}},
        ),
        statement(
            "scored",
            act,
            timestamp=same,
            sid="aaaaaaaa-0000-4000-8000-000000000000",
            result={"score": {"scaled": 0.8}},
        ),
    ]
    if reverse:
        items.reverse()
    quiz = fold_all(items)["activities"][act]
    assert quiz["last_score"] == 0.3  # the greater id wins the tie
    assert quiz["best_score"] == 0.8


def test_first_and_last_activity_times() -> None:
    a, b = "http://example.org/a", "http://example.org/b"
    profile = fold_all(
        [
            statement("experienced", a, timestamp="2024-03-01T02:00:00Z"),
            statement("experienced", b, timestamp="2024-03-01T08:00:00+07:00"),  # 01:00Z
            statement("experienced", a, timestamp="2024-03-05T00:00:00-05:00"),  # 05:00Z
            statement("experienced", b, timestamp="2024-03-02T00:00:00Z"),
        ]
    )
    assert profile["first_activity"] == "2024-03-01T01:00:00.000Z"
    assert profile["last_activity"] == "2024-03-05T05:00:00.000Z"
    assert profile["activities"][a]["first"] == "2024-03-01T02:00:00.000Z"
    assert profile["activities"][a]["last"] == "2024-03-05T05:00:00.000Z"
    assert profile["activities"][b]["first"] == "2024-03-01T01:00:00.000Z"
    assert profile["activities"][b]["last"] == "2024-03-02T00:00:00.000Z"


def test_time_spent_sums_durations_per_activity_and_in_total() -> None:
    a, b = "http://example.org/a", "http://example.org/b"
    profile = fold_all(
        [
            statement("experienced", a, result={"duration": "PT1H30M"}),
            statement("experienced", a, result={"duration": "PT45.5S"}),
            statement("experienced", b, result={"duration": "P1DT2H"}),
            statement("experienced", b),
        ]
    )
    assert profile["activities"][a]["time_spent_seconds"] == 5445.5
    assert profile["activities"][b]["time_spent_seconds"] == 93600.0
    assert profile["time_spent_seconds"] == 99045.5


def test_courses_and_registrations_are_sorted_unions() -> None:
    r1, r2 = "ec531277-b57b-4c15-8d91-d292c5b2b8f7", "0a3a5c4b-0000-4000-8000-000000000000"
    profile = fold_all(
        [
            statement(
                context={
                    "registration": r1,
                    "contextActivities": {"parent": [{"id": "http://example.org/course/b"}]},
                }
            ),
            statement(
                context={
                    "registration": r2,
                    "contextActivities": {
                        "grouping": [
                            {"id": "http://example.org/course/a"},
                            {"id": "http://example.org/course/b"},
                        ]
                    },
                }
            ),
            statement(context={"registration": r1}),
            statement(),
        ]
    )
    assert profile["courses"] == ["http://example.org/course/a", "http://example.org/course/b"]
    assert profile["registrations"] == sorted([r1, r2])


def test_fold_of_one_learner_names_that_learner() -> None:
    s = statement()
    s["actor"] = {"account": {"homePage": "https://lms.example.org", "name": "42"}}
    assert fold_all([s])["learner"] == "account:https://lms.example.org|42"


def test_index_values() -> None:
    profile = fold_all(
        [
            statement(
                "completed",
                timestamp="2024-03-01T00:00:00Z",
                context={"contextActivities": {"parent": [{"id": "http://example.org/course/1"}]}},
            ),
            statement("completed", "http://example.org/act/2", timestamp="2024-04-01T00:00:00Z"),
        ]
    )
    assert REDUCER.index(profile) == {
        "course": ["http://example.org/course/1"],
        "last_active": ["2024-04-01T00:00:00.000Z"],
        "completed": [2],
        "team": [],
    }


def test_context_team_is_kept_and_indexed() -> None:
    team = {"objectType": "Group", "mbox": "mailto:class-7a@school.example.org"}
    profile = fold_all([statement("completed", context={"team": team})])
    assert profile["teams"] == ["mbox:mailto:class-7a@school.example.org"]
    assert REDUCER.index(profile)["team"] == ["mbox:mailto:class-7a@school.example.org"]
    empty = cast(dict[str, Any], profile_model.empty(LEARNER))
    assert REDUCER.index(empty) == {"course": [], "last_active": [], "completed": [0], "team": []}


# order independence and rebuild -------------------------------------------------------------

ACTIVITIES = [f"http://example.org/course/1/act/{n}" for n in range(6)]
COURSES = ["http://example.org/course/1", "http://example.org/course/2", "http://example.org/prog"]
REGISTRATIONS = [str(uuid.UUID(int=n, version=4)) for n in (1, 2, 3)]
VARIED_VERBS = ["experienced", "attempted", "answered", "completed", "passed", "failed", "scored"]
# TinCanPython writes microseconds (PT12.345678S): sums must not depend on the order either
DURATIONS = [
    "PT1H30M",
    "PT45.5S",
    "P1DT2H",
    "PT0.25S",
    "PT2M",
    "PT12.75S",
    "P1W",
    "PT0S",
    "PT12.345678S",
    "PT0.000501S",
    "PT3M0.0015S",
]
TIMES = [
    "2024-03-01T08:00:00+07:00",
    "2024-03-01T01:00:00Z",  # the same instant as the previous one
    "2024-03-02T12:30:00.5Z",
    "2024-02-28T23:59:59.999-05:00",
    "2024-03-10T00:00:00Z",
    "2024-03-10T00:00:00Z",
]


def varied_statements(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """A learner's mixed history: ties on time, all score shapes, flags, durations, courses."""
    made: list[dict[str, Any]] = []
    for _ in range(count):
        result: dict[str, Any] = {}
        shape = rng.randrange(5)
        if shape == 0:
            result["score"] = {"scaled": round(rng.uniform(-1, 1), 2)}
        elif shape == 1:
            raw = rng.randrange(0, 101)
            result["score"] = {
                "raw": raw,
                "min": 0,
                "max": 100,
                "scaled": round(rng.uniform(-1, 1), 2),
            }
        elif shape == 2:
            result["score"] = {"raw": rng.randrange(3, 9), "min": 3, "max": 8}
        if rng.random() < 0.3:
            result["success"] = rng.random() < 0.5
        if rng.random() < 0.3:
            result["completion"] = rng.random() < 0.5
        if rng.random() < 0.7:
            result["duration"] = rng.choice(DURATIONS)
        context: dict[str, Any] = {}
        if rng.random() < 0.5:
            context["contextActivities"] = {
                rng.choice(["parent", "grouping"]): [
                    {"id": c} for c in rng.sample(COURSES, rng.randrange(1, 3))
                ]
            }
        if rng.random() < 0.4:
            context["registration"] = rng.choice(REGISTRATIONS)
        s = statement(
            rng.choice(VARIED_VERBS),
            rng.choice(ACTIVITIES),
            timestamp=rng.choice(TIMES),
            sid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            result=result or None,
            context=context or None,
        )
        if rng.random() < 0.08:
            s["object"] = {"objectType": "Agent", "mbox": "mailto:peer@example.org"}
        made.append(s)
    return made


def test_fold_does_not_depend_on_order() -> None:
    rng = random.Random(20240301)
    items = [contribution(s) for s in varied_statements(rng, 50)]
    reference = canonical(REDUCER.rebuild(LEARNER, copy.deepcopy(items)))
    # the generated history exercises every part of the profile
    profile = orjson.loads(reference)
    assert profile["statements"] == 50
    assert profile["completed"] and profile["passed"] and profile["failed"]
    assert any(a["last_score"] is not None for a in profile["activities"].values())
    assert profile["courses"] and profile["registrations"]
    assert profile["time_spent_seconds"] > 0
    for _ in range(20):
        order = items[:]
        rng.shuffle(order)
        state: dict[str, Any] | None = None
        for item in order:
            state = REDUCER.fold(state, item)
        assert canonical(state) == reference


def test_time_spent_with_microsecond_durations_does_not_depend_on_order() -> None:
    durations = ["PT0.0005S", "PT0.0015S", "PT0.1S", "PT1.0005S", "PT0.0004S", "PT12.345678S"]
    items = [
        contribution(statement(result={"duration": d}, sid=str(uuid.UUID(int=n + 1, version=4))))
        for n, d in enumerate(durations * 8)
    ]
    rng = random.Random(5)
    totals = set()
    for _ in range(20):
        rng.shuffle(items)
        state: dict[str, Any] | None = None
        for item in items:
            state = REDUCER.fold(state, item)
        assert state is not None
        totals.add(
            (state["time_spent_seconds"], state["activities"][ACTIVITY]["time_spent_seconds"])
        )
    assert len(totals) == 1
    total = totals.pop()[0]
    assert abs(total - 8 * (0.0005 + 0.0015 + 0.1 + 1.0005 + 0.0004 + 12.345678)) < 0.01


def test_fold_does_not_change_the_contributions() -> None:
    items = [contribution(s) for s in varied_statements(random.Random(7), 30)]
    before = copy.deepcopy(items)
    state: dict[str, Any] | None = None
    for item in items:
        state = REDUCER.fold(state, item)
    assert items == before


def test_rebuild_equals_fold_and_survives_a_json_round_trip() -> None:
    items = [contribution(s) for s in varied_statements(random.Random(11), 40)]
    state: dict[str, Any] | None = None
    for item in items:
        state = REDUCER.fold(state, item)
    stored = [
        Contribution(c.statement_id, c.key, orjson.loads(orjson.dumps(c.data))) for c in items
    ]
    assert canonical(REDUCER.rebuild(LEARNER, stored)) == canonical(state)
    # folding on into a profile read back from JSON is the same as folding on in memory
    head, tail = items[:25], items[25:]
    reloaded: dict[str, Any] | None = None
    for item in head:
        reloaded = REDUCER.fold(reloaded, item)
    reloaded = orjson.loads(orjson.dumps(reloaded))
    for item in tail:
        reloaded = REDUCER.fold(reloaded, item)
    assert canonical(reloaded) == canonical(state)


def test_rebuild_of_nothing_is_none() -> None:
    assert REDUCER.rebuild(LEARNER, []) is None


def test_rebuild_without_a_contribution_equals_folding_the_rest() -> None:
    statements = varied_statements(random.Random(3), 20)
    items = [contribution(s) for s in statements]
    assert canonical(REDUCER.rebuild(LEARNER, items[:7] + items[8:])) == canonical(
        fold_all(statements[:7] + statements[8:])
    )


def test_reducer_contributions_is_one_per_statement() -> None:
    s = statement()
    assert REDUCER.contributions(s) == [contribution(s)]
    assert REDUCER.name == profiles.NAME == "profiles"
