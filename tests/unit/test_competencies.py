"""The competencies projection: reducer, fold, rebuild, and the status users read."""

from __future__ import annotations

import copy
import csv
import io
import random
import types
import uuid
from typing import Any

import pytest

import consumers.reducers.competencies as competencies_module
from consumers.reducers.base import replay
from consumers.reducers.competencies import CompetencyReducer
from lrs.competency.alignment import RuleSet, load_rules
from lrs.competency.framework import Framework, bundled_frameworks
from lrs.competency.status import class_matrix_csv, status_view
from lrs.domain.records import Contribution
from lrs.readmodels.competencies import (
    ACHIEVED,
    IN_PROGRESS,
    NOT_STARTED,
    fold,
    fold_contributions,
    state_key,
)

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
VERBS = "http://adlnet.gov/expapi/verbs/"
QUIZ = "https://school.example.edu.vn/digcomp/quiz/"
TASK = "https://school.example.edu.vn/digcomp/task/"
HOME = "https://school.example.edu.vn"
LEARNER = f"account:{HOME}|hs-001"
DIGCOMP_CODES = [
    "1.1", "1.2", "1.3",
    "2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
    "3.1", "3.2", "3.3", "3.4",
    "4.1", "4.2", "4.3", "4.4",
    "5.1", "5.2", "5.3", "5.4",
]  # fmt: skip


def competence(code: str) -> str:
    return f"{DIGCOMP}/competence/{code}"


def level(rank: int) -> str:
    return f"{DIGCOMP}/level/{rank}"


@pytest.fixture(scope="module")
def known() -> dict[str, Framework]:
    return {f.id: f for f in bundled_frameworks().values()}


@pytest.fixture(scope="module")
def digcomp(known: dict[str, Framework]) -> Framework:
    return known[DIGCOMP]


@pytest.fixture(scope="module")
def rules(known: dict[str, Framework]) -> RuleSet:
    """1.1: level 2 for one completed search quiz, level 4 for two different ones at 0.8+.
    3.1: level 3 for any content task completed, level 5 for three different ones."""
    return load_rules(
        {
            "id": "class-10a1",
            "framework": DIGCOMP,
            "rules": [
                {
                    "id": "search-l2",
                    "competence": competence("1.1"),
                    "level": "2",
                    "match": {"activity_prefix": QUIZ + "search-"},
                    "when": {"completed": True},
                },
                {
                    "id": "search-l4",
                    "competence": competence("1.1"),
                    "level": "4",
                    "match": {"activity_prefix": QUIZ + "search-"},
                    "when": {"min_score": 0.8},
                    "distinct_activities": 2,
                },
                {
                    "id": "content-l3",
                    "competence": competence("3.1"),
                    "level": "3",
                    "match": {"activity_prefix": TASK + "content-"},
                },
                {
                    "id": "content-l5",
                    "competence": competence("3.1"),
                    "level": "5",
                    "match": {"activity_prefix": TASK + "content-"},
                    "when": {"completed": True},
                    "distinct_activities": 3,
                },
            ],
        },
        known,
    )


@pytest.fixture
def reducer(rules: RuleSet) -> CompetencyReducer:
    return CompetencyReducer([rules])


_counter = iter(range(1, 1_000_000))


def statement(
    activity: str,
    verb: str = "completed",
    result: dict[str, Any] | None = None,
    timestamp: str | None = "2025-09-08T08:00:00+07:00",
    actor: str = "hs-001",
    statement_id: str | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": statement_id or str(uuid.UUID(int=next(_counter))),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": actor}},
        "verb": {"id": VERBS + verb},
        "object": {"objectType": "Activity", "id": activity},
        "stored": "2025-12-01T00:00:00.000Z",
    }
    if result is not None:
        value["result"] = result
    if timestamp is not None:
        value["timestamp"] = timestamp
    return value


def scored(raw: float, activity: str, **kwargs: Any) -> dict[str, Any]:
    return statement(
        activity, "scored", {"score": {"raw": raw, "min": 0, "max": 10}}, **kwargs
    )


def fold_all(reducer: CompetencyReducer, statements: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] | None = None
    for s in statements:
        for item in reducer.contributions(s):
            state = reducer.fold(state, item)
    assert state is not None
    return state


# ------------------------------------------------------------------------- contributions


def test_a_statement_no_rule_matches_contributes_nothing(reducer: CompetencyReducer) -> None:
    assert reducer.contributions(statement(TASK + "spreadsheet")) == []
    assert reducer.contributions(statement("https://other.example/search-basics")) == []


def test_a_contribution_carries_every_matching_rule(reducer: CompetencyReducer) -> None:
    s = scored(9, QUIZ + "search-basics", timestamp="2025-09-08T08:00:00+07:00")
    (item,) = reducer.contributions(s)
    assert item.statement_id == s["id"]
    assert item.key == state_key(DIGCOMP, LEARNER)
    assert item.data["framework"] == DIGCOMP
    assert item.data["activity"] == QUIZ + "search-basics"
    assert item.data["at"] == "2025-09-08T01:00:00.000Z"  # UTC
    by_rule = {e["rule"]: e for e in item.data["evidence"]}
    assert set(by_rule) == {"class-10a1#search-l2", "class-10a1#search-l4"}
    # "scored" is not completed: the level-2 rule matches but is not met
    assert by_rule["class-10a1#search-l2"]["met"] is False
    assert by_rule["class-10a1#search-l4"]["met"] is True
    assert by_rule["class-10a1#search-l4"]["needs"] == 2
    assert by_rule["class-10a1#search-l4"]["rank"] == 4


def test_one_contribution_per_framework(
    rules: RuleSet, known: dict[str, Framework]
) -> None:
    circular = known[CIRCULAR]
    other = load_rules(
        {
            "id": "circular",
            "framework": CIRCULAR,
            "rules": [
                {
                    "id": "search",
                    "competence": circular.competences[0].id,
                    "level": "CB1",
                    "match": {"activity_prefix": QUIZ},
                }
            ],
        },
        known,
    )
    found = CompetencyReducer([rules, other]).contributions(statement(QUIZ + "search-basics"))
    assert sorted(c.key for c in found) == sorted(
        [state_key(DIGCOMP, LEARNER), state_key(CIRCULAR, LEARNER)]
    )


# ------------------------------------------------------------------------- fold


def test_a_rule_needs_distinct_activities(reducer: CompetencyReducer) -> None:
    retakes = [scored(raw, QUIZ + "search-basics") for raw in (8, 9, 10)]
    state = fold_all(reducer, retakes)
    status = state["competences"][competence("1.1")]
    # three statements, all at 0.8+, but one activity: the level-4 rule does not hold
    assert status["rules"]["class-10a1#search-l4"]["met_by"] == [QUIZ + "search-basics"]
    assert (status["state"], status["rank"], status["level"]) == (IN_PROGRESS, 0, None)
    assert status["evidence"] == sorted(s["id"] for s in retakes)

    second = scored(8, QUIZ + "search-advanced")
    state = fold_all(reducer, [*retakes, second])
    status = state["competences"][competence("1.1")]
    assert (status["state"], status["rank"], status["level"]) == (ACHIEVED, 4, level(4))


def test_an_activity_that_does_not_meet_the_condition_does_not_count(
    reducer: CompetencyReducer,
) -> None:
    state = fold_all(
        reducer, [scored(9, QUIZ + "search-basics"), scored(7, QUIZ + "search-advanced")]
    )
    status = state["competences"][competence("1.1")]
    assert status["state"] == IN_PROGRESS
    assert len(status["evidence"]) == 2  # both are evidence, one meets the condition


def test_attained_level_is_the_highest_rule_that_holds(reducer: CompetencyReducer) -> None:
    poster = statement(TASK + "content-poster")
    state = fold_all(reducer, [poster])
    assert state["competences"][competence("3.1")]["level"] == level(3)
    two = [poster, statement(TASK + "content-video")]
    assert fold_all(reducer, two)["competences"][competence("3.1")]["rank"] == 3
    three = [*two, statement(TASK + "content-blog")]
    status = fold_all(reducer, three)["competences"][competence("3.1")]
    assert (status["state"], status["rank"], status["level"]) == (ACHIEVED, 5, level(5))
    # a lower rule that holds later does not lower the level (order of rules irrelevant)
    status = fold_all(reducer, [*three, statement(TASK + "content-extra", "passed")])[
        "competences"
    ][competence("3.1")]
    assert status["rank"] == 5


def test_level_2_and_4_hold_together_level_is_4(reducer: CompetencyReducer) -> None:
    state = fold_all(
        reducer,
        [
            statement(
                QUIZ + "search-basics",
                "completed",
                {"completion": True, "score": {"raw": 9, "min": 0, "max": 10}},
            ),
            scored(8, QUIZ + "search-filters"),
        ],
    )
    status = state["competences"][competence("1.1")]
    assert status["rank"] == 4
    assert status["rules"]["class-10a1#search-l2"]["met_by"] == [QUIZ + "search-basics"]


def test_the_order_of_rules_in_the_file_does_not_matter(
    rules: RuleSet, known: dict[str, Framework]
) -> None:
    """Higher levels listed first: a lower rule that also holds must not lower the level."""
    reversed_rules = load_rules(
        {**rules.source, "rules": list(reversed(rules.source["rules"]))}, known
    )
    tasks = [statement(TASK + name) for name in ("content-poster", "content-video", "content-blog")]
    quizzes = [
        statement(QUIZ + "search-basics", "completed", {"score": {"scaled": 0.9}}),
        statement(QUIZ + "search-filters", "completed", {"score": {"scaled": 0.85}}),
    ]
    forward = fold_all(CompetencyReducer([rules]), tasks + quizzes)
    backward = fold_all(CompetencyReducer([reversed_rules]), tasks + quizzes)
    for state in (forward, backward):
        assert state["competences"][competence("3.1")]["rank"] == 5
        assert state["competences"][competence("1.1")]["rank"] == 4
    assert forward == backward


def test_in_progress_when_evidence_exists_but_no_rule_holds(
    reducer: CompetencyReducer,
) -> None:
    attempt = statement(QUIZ + "search-basics", "attempted")
    state = fold_all(reducer, [attempt])
    assert state["learner"] == LEARNER
    assert state["framework"] == DIGCOMP
    assert list(state["competences"]) == [competence("1.1")]  # only competences with evidence
    status = state["competences"][competence("1.1")]
    assert status["state"] == IN_PROGRESS
    assert status["level"] is None and status["rank"] == 0
    assert status["evidence"] == [attempt["id"]]


def test_evidence_ids_and_first_and_last_evidence(reducer: CompetencyReducer) -> None:
    week3 = statement(TASK + "content-video", timestamp="2025-09-22T14:30:00+07:00")
    week1 = statement(TASK + "content-poster", timestamp="2025-09-08T07:15:00+07:00")
    week2 = statement(TASK + "content-blog", timestamp="2025-09-15T23:59:59.999+07:00")
    no_timestamp = statement(TASK + "content-poster", timestamp=None)  # stored is used
    status = fold_all(reducer, [week3, week1, week2, no_timestamp])["competences"][
        competence("3.1")
    ]
    assert status["evidence"] == sorted(s["id"] for s in (week3, week1, week2, no_timestamp))
    assert status["first_evidence"] == "2025-09-08T00:15:00.000Z"
    assert status["last_evidence"] == "2025-12-01T00:00:00.000Z"  # the stored time
    assert fold_all(reducer, [week3, week1, week2])["competences"][competence("3.1")][
        "last_evidence"
    ] == "2025-09-22T07:30:00.000Z"


def test_the_same_contribution_twice_is_one_piece_of_evidence(
    reducer: CompetencyReducer,
) -> None:
    (item,) = reducer.contributions(statement(TASK + "content-poster"))
    once = fold(None, item)
    twice = fold(copy.deepcopy(once), item)
    assert twice == once


def _class_week(seed: int, size: int = 40) -> list[dict[str, Any]]:
    """A varied run of statements: retakes, scores on both sides of 0.8, several activities."""
    rng = random.Random(seed)
    activities = [QUIZ + "search-basics", QUIZ + "search-advanced", QUIZ + "search-filters"]
    activities += [TASK + "content-poster", TASK + "content-video", TASK + "content-blog"]
    out = []
    for n in range(size):
        activity = rng.choice(activities)
        verb = rng.choice(["completed", "attempted", "scored", "passed"])
        result = {"score": {"raw": rng.randint(4, 10), "min": 0, "max": 10}}
        day = 8 + rng.randint(0, 20)
        out.append(statement(activity, verb, result, timestamp=f"2025-09-{day:02d}T{n % 24:02d}:00:00Z"))
    return out


@pytest.mark.parametrize(("seed", "size"), [(1, 40), (2, 40), (3, 6), (4, 6), (6, 6), (9, 12)])
def test_fold_is_commutative(reducer: CompetencyReducer, seed: int, size: int) -> None:
    statements = _class_week(seed, size)
    contributions = [c for s in statements for c in reducer.contributions(s)]
    expected = fold_contributions(copy.deepcopy(contributions))
    assert expected is not None and expected["competences"]
    rng = random.Random(seed * 100)
    for _ in range(25):
        order = contributions[:]
        rng.shuffle(order)
        assert fold_contributions(order) == expected


def test_random_runs_reach_every_kind_of_state(reducer: CompetencyReducer) -> None:
    """The commutativity runs are not all saturated: levels 2..5 and in-progress occur."""
    seen: set[tuple[str, int]] = set()
    for seed, size in [(1, 40), (2, 40), (3, 6), (4, 6), (6, 6), (9, 12)]:
        state = fold_all(reducer, _class_week(seed, size))
        seen |= {(c["state"], c["rank"]) for c in state["competences"].values()}
    assert {(IN_PROGRESS, 0), (ACHIEVED, 2), (ACHIEVED, 3), (ACHIEVED, 4), (ACHIEVED, 5)} <= seen


def test_rebuild_equals_fold(reducer: CompetencyReducer) -> None:
    statements = _class_week(7)
    contributions = [c for s in statements for c in reducer.contributions(s)]
    key = state_key(DIGCOMP, LEARNER)
    assert reducer.rebuild(key, contributions) == fold_contributions(contributions)
    assert reducer.rebuild(key, []) is None


def test_replay_with_voiding_equals_a_fold_over_what_remains(
    reducer: CompetencyReducer,
) -> None:
    """Voiding the third content task takes level 5 away; the log replay agrees with a fold
    of the statements that remain."""
    poster = statement(TASK + "content-poster")
    video = statement(TASK + "content-video")
    blog = statement(TASK + "content-blog")
    void = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:teacher@school.example.edu.vn"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": blog["id"]},
    }
    key = state_key(DIGCOMP, LEARNER)
    before = replay(reducer, [poster, video, blog])[key]
    assert before["competences"][competence("3.1")]["rank"] == 5
    for log in ([poster, video, blog, void], [void, poster, blog, video]):
        after = replay(reducer, log)
        assert after == {key: fold_all(reducer, [poster, video])}
        assert after[key]["competences"][competence("3.1")]["rank"] == 3
    # voiding every piece of evidence leaves no state at all
    only = statement(QUIZ + "search-basics")
    void_only = {**void, "id": str(uuid.uuid4()), "object": {"objectType": "StatementRef", "id": only["id"]}}
    assert replay(reducer, [only, void_only]) == {}


def test_index_lists_achieved_competences(reducer: CompetencyReducer) -> None:
    state = fold_all(
        reducer,
        [statement(TASK + "content-poster"), statement(QUIZ + "search-basics", "attempted")],
    )
    assert reducer.index(state) == {"framework": [DIGCOMP], "achieved": [competence("3.1")]}


def test_a_provider_of_rulesets_is_read_again_after_refresh(
    rules: RuleSet, known: dict[str, Framework], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(
        competencies_module, "time", types.SimpleNamespace(monotonic=lambda: now[0])
    )
    privacy = load_rules(
        {
            "id": "privacy",
            "framework": DIGCOMP,
            "rules": [
                {
                    "id": "privacy",
                    "competence": competence("4.2"),
                    "level": "3",
                    "match": {"activity": QUIZ + "privacy"},
                }
            ],
        },
        known,
    )
    in_force = [rules]
    calls = []

    def provider() -> list[RuleSet]:
        calls.append(now[0])
        return list(in_force)

    reducer = CompetencyReducer(provider, refresh=10.0)
    quiz = statement(QUIZ + "privacy")
    assert reducer.contributions(quiz) == []
    assert calls == [1000.0]
    in_force.append(privacy)  # imported while the processor runs
    now[0] += 5
    assert reducer.contributions(quiz) == []  # not asked again yet
    assert calls == [1000.0]
    now[0] += 6
    (found,) = reducer.contributions(quiz)
    assert found.data["evidence"][0]["rule"] == "privacy#privacy"
    assert calls == [1000.0, 1011.0]
    # a fixed list is never re-read
    fixed = CompetencyReducer([rules], refresh=0.0)
    now[0] += 100
    assert fixed.contributions(quiz) == []


# ------------------------------------------------------------------------- status_view


def _state(*entries: tuple[str, str, int]) -> dict[str, Any]:
    """A stored state by hand: (code, state, rank) per competence with evidence."""
    return {
        "learner": LEARNER,
        "framework": DIGCOMP,
        "competences": {
            competence(code): {
                "state": state,
                "level": level(rank) if rank else None,
                "rank": rank,
                "evidence": [f"00000000-0000-0000-0000-0000000000{n:02d}"],
                "first_evidence": "2025-09-08T01:00:00.000Z",
                "last_evidence": f"2025-09-{10 + n:02d}T01:00:00.000Z",
                "rules": {},
            }
            for n, (code, state, rank) in enumerate(entries)
        },
    }


def test_status_view_fills_in_the_competences_not_started(digcomp: Framework) -> None:
    view = status_view(digcomp, LEARNER, _state(("1.1", ACHIEVED, 4), ("4.2", IN_PROGRESS, 0)))
    assert view["learner"] == LEARNER and view["framework"] == DIGCOMP
    assert [c["code"] for c in view["competences"]] == DIGCOMP_CODES
    by_code = {c["code"]: c for c in view["competences"]}
    assert by_code["1.1"]["state"] == ACHIEVED and by_code["1.1"]["level"] == "4"
    assert by_code["1.1"]["rank"] == 4
    assert by_code["1.1"]["evidence"] == ["00000000-0000-0000-0000-000000000000"]
    assert by_code["1.1"]["last_evidence"] == "2025-09-10T01:00:00.000Z"
    assert by_code["4.2"]["state"] == IN_PROGRESS and by_code["4.2"]["level"] is None
    assert by_code["2.3"] == {
        "id": competence("2.3"),
        "code": "2.3",
        "name": digcomp.competence(competence("2.3")).name.text("en"),  # type: ignore[union-attr]
        "area": "2",
        "state": NOT_STARTED,
        "level": None,
        "rank": 0,
        "evidence": [],
        "first_evidence": None,
        "last_evidence": None,
        "attained": [],
        "via": [],
        "toward": None,
    }
    assert view["summary"] == {
        "competences": 21,
        ACHIEVED: 1,
        IN_PROGRESS: 1,
        NOT_STARTED: 19,
    }


def test_status_view_of_no_state_is_all_not_started(digcomp: Framework) -> None:
    view = status_view(digcomp, LEARNER, None)
    assert {c["state"] for c in view["competences"]} == {NOT_STARTED}
    assert [a["level"] for a in view["areas"]] == [None] * 5
    assert view["summary"][NOT_STARTED] == 21


def test_area_level_is_the_lowest_level_of_its_competences(digcomp: Framework) -> None:
    complete_area = _state(("1.1", ACHIEVED, 4), ("1.2", ACHIEVED, 2), ("1.3", ACHIEVED, 5))
    areas = {a["code"]: a for a in status_view(digcomp, LEARNER, complete_area)["areas"]}
    assert areas["1"]["level"] == "2"
    assert (areas["1"]["competences"], areas["1"]["achieved"]) == (3, 3)
    assert areas["2"]["level"] is None and areas["2"]["not_started"] == 6

    # one competence only in progress: the area is at no level yet
    partial = _state(("1.1", ACHIEVED, 4), ("1.2", IN_PROGRESS, 0), ("1.3", ACHIEVED, 5))
    area = status_view(digcomp, LEARNER, partial)["areas"][0]
    assert area["level"] is None
    assert (area["achieved"], area["in_progress"], area["not_started"]) == (2, 1, 0)

    # one not started at all: no level either
    missing = _state(("1.1", ACHIEVED, 4), ("1.3", ACHIEVED, 5))
    area = status_view(digcomp, LEARNER, missing)["areas"][0]
    assert area["level"] is None and area["not_started"] == 1


def test_status_view_speaks_the_language_asked(digcomp: Framework) -> None:
    english = status_view(digcomp, LEARNER, None, "en")["competences"][0]["name"]
    vietnamese = status_view(digcomp, LEARNER, None, "vi")["competences"][0]["name"]
    assert english != vietnamese


def test_class_matrix_csv(digcomp: Framework) -> None:
    views = [
        status_view(digcomp, f"account:{HOME}|hs-001", _state(("1.1", ACHIEVED, 4))),
        status_view(
            digcomp,
            f"account:{HOME}|hs-002",
            _state(("3.1", ACHIEVED, 5), ("1.1", IN_PROGRESS, 0), ("5.4", ACHIEVED, 2)),
        ),
        status_view(digcomp, f"account:{HOME}|hs-003", None),
    ]
    rows = list(csv.reader(io.StringIO(class_matrix_csv(digcomp, views))))
    header = ["learner", "name", *DIGCOMP_CODES, "achieved", "in_progress", "not_started"]
    assert rows[0] == header
    assert len(rows) == 5  # header, three learners, legend
    columns = [dict(zip(rows[0], row, strict=True)) for row in rows[1:4]]
    assert columns[0]["learner"] == f"account:{HOME}|hs-001"
    assert columns[0]["1.1"] == "achieved:4"
    assert [columns[0][code] for code in DIGCOMP_CODES[1:]] == ["not_started"] * 20
    assert (columns[0]["achieved"], columns[0]["in_progress"], columns[0]["not_started"]) == (
        "1",
        "0",
        "20",
    )
    assert (columns[1]["1.1"], columns[1]["3.1"], columns[1]["5.4"]) == (
        "in_progress",
        "achieved:5",
        "achieved:2",
    )
    assert (columns[1]["achieved"], columns[1]["in_progress"], columns[1]["not_started"]) == (
        "2",
        "1",
        "18",
    )
    assert rows[3] == [f"account:{HOME}|hs-003", "", *["not_started"] * 21, "0", "0", "21"]
    assert rows[4] == [
        "legend",
        "",
        "1=Level 1 (Foundation)",
        "2=Level 2 (Foundation)",
        "3=Level 3 (Intermediate)",
        "4=Level 4 (Intermediate)",
        "5=Level 5 (Advanced)",
        "6=Level 6 (Advanced)",
        "7=Level 7 (Highly specialised)",
        "8=Level 8 (Highly specialised)",
    ]
    assert class_matrix_csv(digcomp, []).splitlines()[0] == ",".join(header)


def test_class_matrix_csv_writes_level_codes(known: dict[str, Framework]) -> None:
    """The Circular's levels have codes (NC1), not numbers: the matrix shows the code."""
    circular = known[CIRCULAR]
    first = circular.competences[0]
    state = {
        "learner": LEARNER,
        "framework": CIRCULAR,
        "competences": {
            first.id: {
                "state": ACHIEVED,
                "level": circular.levels_by_rank[5].id,
                "rank": 5,
                "evidence": ["00000000-0000-0000-0000-000000000001"],
                "first_evidence": None,
                "last_evidence": None,
                "rules": {},
            }
        },
    }
    view = status_view(circular, LEARNER, state)
    rows = list(csv.reader(io.StringIO(class_matrix_csv(circular, [view]))))
    assert rows[0][2:26] == [c.code for c in circular.competences]
    assert rows[1][2] == "achieved:NC1"
    assert rows[1][3:26] == ["not_started"] * 23
    assert rows[2][:4] == ["legend", "", "CB1=Basic 1 (Basic)", "CB2=Basic 2 (Basic)"]
    assert view["competences"][0]["level"] == "NC1"


def test_contribution_data_is_json(reducer: CompetencyReducer) -> None:
    """Stores keep contributions as JSON: the data must survive a round trip unchanged."""
    import orjson

    (item,) = reducer.contributions(scored(9, QUIZ + "search-basics"))
    assert orjson.loads(orjson.dumps(item.data)) == item.data
    again = Contribution(item.statement_id, item.key, orjson.loads(orjson.dumps(item.data)))
    assert fold(None, again) == fold(None, item)
