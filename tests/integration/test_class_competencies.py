"""A class of 30 learners works through DigComp-aligned quizzes and tasks for six weeks.

Everything goes through the real HTTP API of an in-process app: statements are posted to
/xapi/statements, the processors catch up over the store's log, and the competency status
is read back per learner, for the class (JSON and CSV), and again after a full replay.

The expected status of every learner is worked out by hand below, from six "personas"
(five learners each). Nothing expected is computed by the code under test.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from starlette.testclient import TestClient

from consumers.reducers.base import replay
from consumers.reducers.competencies import NAME as COMPETENCIES
from consumers.reducers.competencies import CompetencyReducer, state_key
from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.cli import main as lrs_cli
from lrs.competency.registry import import_rules, rulesets
from tests.conftest import APIClient

SCHOOL = "https://school.example.edu.vn"
CLASS = f"{SCHOOL}/class/10A1"
OTHER_CLASS = f"{SCHOOL}/class/10A2"
COURSE = f"{SCHOOL}/course/tin-hoc-10"
QUIZ = f"{SCHOOL}/digcomp/quiz/"
TASK = f"{SCHOOL}/digcomp/task/"
DATA_TASK = f"{SCHOOL}/activity-types/data-task"
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
VERBS = "http://adlnet.gov/expapi/verbs/"
TEACHER = {"objectType": "Agent", "name": "Cô Lan", "mbox": "mailto:lan.tran@school.example.edu.vn"}
IDS = uuid.UUID("7c6cfb4e-8c3d-4d8e-9b1a-5f0a1a2b3c4d")
VN = timezone(timedelta(hours=7))
MONDAY_WEEK_1 = datetime(2025, 9, 8, tzinfo=VN)  # the first school week
DIGCOMP_CODES = [
    "1.1", "1.2", "1.3",
    "2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
    "3.1", "3.2", "3.3", "3.4",
    "4.1", "4.2", "4.3", "4.4",
    "5.1", "5.2", "5.3", "5.4",
]  # fmt: skip


def competence(code: str) -> str:
    return f"{DIGCOMP}/competence/{code}"


# The alignment rules of the school's digital-skills course (what the teachers agreed on).
RULES: dict[str, Any] = {
    "id": "tin-hoc-10-digcomp",
    "framework": DIGCOMP,
    "title": "Tin học 10: quizzes and tasks -> DigComp 2.2",
    "rules": [
        {  # 1.1 level 2: complete the search basics quiz
            "id": "search-l2",
            "competence": competence("1.1"),
            "level": "2",
            "match": {"activity": QUIZ + "search-basics"},
            "when": {"completed": True},
        },
        {  # 1.1 level 4: score 80%+ on two different search quizzes
            "id": "search-l4",
            "competence": competence("1.1"),
            "level": "4",
            "match": {"activity_prefix": QUIZ + "search-"},
            "when": {"min_score": 0.8},
            "distinct_activities": 2,
        },
        {  # 1.2 level 3: pass an activity tagged with DigComp 1.2
            "id": "evaluate-l3",
            "competence": competence("1.2"),
            "level": "3",
            "match": {"competency": competence("1.2")},
            "when": {"success": True},
        },
        {  # 1.3 level 2: a data task, completed or passed (the default condition)
            "id": "data-l2",
            "competence": competence("1.3"),
            "level": "2",
            "match": {"activity_type": DATA_TASK},
        },
        {  # 3.1 level 2: complete a content task
            "id": "content-l2",
            "competence": competence("3.1"),
            "level": "2",
            "match": {"activity_prefix": TASK + "content-"},
            "when": {"completed": True},
        },
        {  # 3.1 level 5: complete three different content tasks
            "id": "content-l5",
            "competence": competence("3.1"),
            "level": "5",
            "match": {"activity_prefix": TASK + "content-"},
            "when": {"completed": True},
            "distinct_activities": 3,
        },
        {  # 4.2 level 3: 80%+ on the privacy quiz
            "id": "privacy-l3",
            "competence": competence("4.2"),
            "level": "3",
            "match": {"activity": QUIZ + "privacy"},
            "when": {"min_score": 0.8},
        },
    ],
}

# ------------------------------------------------------------------ what each persona does
#
# A step: (tag, week, weekday 0=Mon, hour, activity, verb, result). Each learner's clock is
# offset by their number in minutes, so no two learners share a timestamp.
# ("void", week, weekday, hour, tag): the teacher voids that statement of the learner.
# ("resend", week, weekday, hour, tag): the connector sends that statement again (same id).


def score(raw: float, low: float, high: float, scaled: float | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"raw": raw, "min": low, "max": high}
    if scaled is not None:
        value["scaled"] = scaled
    return value


DONE = {"completion": True}

SCRIPTS: dict[str, list[tuple[Any, ...]]] = {
    # A, the star: everything, and well.
    "A": [
        ("a1", 1, 0, 8, QUIZ + "search-basics", "completed", {**DONE, "score": score(9, 0, 10)}),
        ("a2", 1, 2, 9, QUIZ + "fake-news", "passed", {"success": True, "score": score(8, 0, 10)}),
        ("a3", 2, 0, 8, QUIZ + "search-advanced", "completed", {**DONE, "score": score(17, 0, 20)}),
        ("a4", 2, 3, 14, TASK + "spreadsheet", "completed", DONE),
        ("a5", 3, 1, 10, TASK + "content-poster", "completed", DONE),
        ("a6", 4, 1, 10, TASK + "content-video", "completed", DONE),
        ("a7", 5, 1, 10, TASK + "content-blog", "completed", DONE),
        ("a8", 6, 4, 15, QUIZ + "privacy", "scored", {**DONE, "score": score(45, 0, 50)}),
    ],
    # B, the re-taker: the same quiz three times, the same task twice.
    "B": [
        ("b1", 1, 0, 8, QUIZ + "search-basics", "completed", {**DONE, "score": score(6, 0, 10)}),
        ("b2", 2, 0, 8, QUIZ + "search-basics", "completed", {**DONE, "score": score(9, 0, 10)}),
        ("b3", 3, 0, 8, QUIZ + "search-basics", "completed", {**DONE, "score": score(10, 0, 10)}),
        ("b4", 3, 1, 10, TASK + "content-poster", "completed", DONE),
        ("b5", 4, 1, 10, TASK + "content-poster", "completed", DONE),
        ("b6", 5, 1, 10, TASK + "content-video", "completed", DONE),
        ("b7", 6, 4, 15, QUIZ + "privacy", "scored", {**DONE, "score": score(7, 0, 10)}),
    ],
    # C, voided and re-taken: a privacy result recorded for the wrong pupil is voided and
    # re-taken (worse); a blog submitted with the wrong file is voided and handed in again.
    "C": [
        ("c1", 1, 0, 8, QUIZ + "search-basics", "completed", {**DONE, "score": score(8, 0, 10)}),
        ("c2", 1, 4, 15, QUIZ + "privacy", "scored", {**DONE, "score": score(9, 0, 10)}),
        ("void", 2, 0, 7, "c2"),
        ("c3", 2, 2, 15, QUIZ + "privacy", "scored", {**DONE, "score": score(6, 0, 10)}),
        ("c4", 3, 1, 10, TASK + "content-poster", "completed", DONE),
        ("c5", 4, 1, 10, TASK + "content-video", "completed", DONE),
        ("c6", 5, 1, 10, TASK + "content-blog", "completed", DONE),
        ("void", 5, 2, 7, "c6"),
        ("c7", 6, 1, 10, TASK + "content-blog", "completed", DONE),
    ],
    # D, through Moodle: scaled is unreliable ([-1, 1], or just wrong), raw/min/max is right.
    "D": [
        # 17/20 = 0.85 although scaled says 0.7
        ("d1", 1, 0, 8, QUIZ + "search-basics", "completed",
         {**DONE, "score": score(17, 0, 20, scaled=0.7)}),
        # (6 - -10) / (10 - -10) = 0.8 although scaled says 0.6
        ("d2", 2, 0, 8, QUIZ + "search-filters", "completed",
         {**DONE, "score": score(6, -10, 10, scaled=0.6)}),
        # passed by the verb alone (no result.success)
        ("d3", 2, 2, 9, QUIZ + "fake-news", "passed", None),
        # 7/10 = 0.7 although scaled says 0.85
        ("d4", 3, 0, 8, QUIZ + "privacy", "scored",
         {**DONE, "score": score(7, 0, 10, scaled=0.85)}),
    ],  # fmt: skip
    # E, behind a flaky connector that re-sends what it already sent.
    "E": [
        ("e1", 1, 3, 14, TASK + "spreadsheet", "completed", DONE),
        ("resend", 2, 0, 6, "e1"),
        ("e2", 3, 1, 10, TASK + "content-poster", "completed", DONE),
        ("resend", 3, 4, 6, "e2"),
        ("resend", 4, 0, 6, "e2"),
        ("e3", 4, 1, 10, TASK + "content-video", "completed", DONE),
        ("resend", 5, 0, 6, "e3"),
        ("e4", 5, 0, 8, QUIZ + "search-basics", "attempted", None),
        ("e5", 5, 2, 9, QUIZ + "fake-news", "failed", {"success": False, "completion": True}),
    ],
    # F, barely there: opened the class page; the one task handed in was copied, and voided.
    "F": [
        ("f1", 1, 0, 7, CLASS + "/intro", "experienced", None),
        ("f2", 2, 3, 14, TASK + "spreadsheet", "completed", DONE),
        ("void", 3, 0, 7, "f2"),
    ],
}

# ------------------------------------------------------------------ expected, by hand
#
# competence code -> attained level code, or None: in progress (evidence, but no rule holds).
# Competences not listed are not started.
EXPECTED: dict[str, dict[str, str | None]] = {
    # 1.1: search-basics completed (search-l2) and 0.9 + 0.85 on two different search
    #      quizzes (search-l4 needs 2) -> 4.  1.2: fake-news passed, tagged 1.2 -> 3.
    # 1.3: the spreadsheet is a data task, completed -> 2.  3.1: three different content
    #      tasks completed -> 5.  4.2: 45/50 = 0.9 on privacy -> 3.
    "A": {"1.1": "4", "1.2": "3", "1.3": "2", "3.1": "5", "4.2": "3"},
    # 1.1: search-basics completed -> 2; 0.9 and 1.0 are on the SAME quiz, one activity of
    #      the two search-l4 needs -> stays 2.  3.1: poster twice + video = 2 different
    #      tasks: content-l2 holds, content-l5 (3) does not -> 2.  4.2: 0.7 < 0.8: in progress.
    "B": {"1.1": "2", "3.1": "2", "4.2": None},
    # 1.1: completed -> 2; 0.8 meets min_score but on one quiz only -> 2.  4.2: the 0.9 was
    #      voided, the re-take scored 0.6 -> in progress.  3.1: poster, video and the
    #      re-submitted blog (the voided one no longer counts, the new one does) -> 5.
    "C": {"1.1": "2", "3.1": "5", "4.2": None},
    # 1.1: 0.85 and 0.8 from raw/min/max on two different quizzes -> 4 (scaled would give 0.7
    #      and 0.6: nothing).  1.2: verb passed -> 3.  4.2: really 0.7 -> in progress.
    "D": {"1.1": "4", "1.2": "3", "4.2": None},
    # 1.3: spreadsheet completed (re-sent, still once) -> 2.  3.1: poster and video completed
    #      (re-sent, still two activities) -> 2, not 5.  1.1: attempted only -> in progress.
    #      1.2: failed -> in progress.
    "E": {"1.1": None, "1.2": None, "1.3": "2", "3.1": "2"},
    # the only evidence was voided: nothing at all.
    "F": {},
}

# The statements each status rests on (tags of the script above): voided ones are gone,
# re-sent ones count once.
EVIDENCE: dict[str, dict[str, list[str]]] = {
    "A": {"1.1": ["a1", "a3"], "1.2": ["a2"], "1.3": ["a4"], "3.1": ["a5", "a6", "a7"],
          "4.2": ["a8"]},
    "B": {"1.1": ["b1", "b2", "b3"], "3.1": ["b4", "b5", "b6"], "4.2": ["b7"]},
    "C": {"1.1": ["c1"], "3.1": ["c4", "c5", "c7"], "4.2": ["c3"]},
    "D": {"1.1": ["d1", "d2"], "1.2": ["d3"], "4.2": ["d4"]},
    "E": {"1.1": ["e4"], "1.2": ["e5"], "1.3": ["e1"], "3.1": ["e2", "e3"]},
    "F": {},
}  # fmt: skip

# The level an in-progress competence is working toward (CSV cells `in_progress:N`): the
# lowest level among the rules its evidence matched that do not hold. 4.2: privacy-l3 (3).
# E 1.1: the attempted search-basics matches search-l2 (2) and search-l4 (4) -> 2.
# E 1.2: fake-news failed, evaluate-l3 -> 3.
TOWARD: dict[str, dict[str, str]] = {
    "B": {"4.2": "3"},
    "C": {"4.2": "3"},
    "D": {"4.2": "3"},
    "E": {"1.1": "2", "1.2": "3"},
}

# Area roll-up: an area has a level once every competence in it has one (the lowest).
# Only A has all of area 1 (1.1 at 4, 1.2 at 3, 1.3 at 2) -> "2"; every other area of
# every learner lacks at least one competence -> None.
AREA_LEVELS: dict[str, dict[str, str]] = {"A": {"1": "2"}}

# Statements in each persona's profile: re-sent ones once, voided ones not at all.
PROFILE_STATEMENTS = {"A": 8, "B": 7, "C": 5, "D": 4, "E": 5, "F": 1}

# Who is in the class: the persona of learner n (1..30) is PERSONAS[n - 1], 5 of each.
PERSONAS = "ABCDEF" * 5


@dataclass(frozen=True)
class Learner:
    number: int
    persona: str
    home_class: str = CLASS
    name: str = field(init=False)

    def __post_init__(self) -> None:
        prefix = "10a1" if self.home_class == CLASS else "10a2"
        object.__setattr__(self, "name", f"hs-{prefix}-{self.number:02d}")

    @property
    def key(self) -> str:
        return f"account:{SCHOOL}|{self.name}"

    @property
    def agent(self) -> dict[str, Any]:
        return {
            "objectType": "Agent",
            "name": f"Học sinh {self.number:02d}",
            "account": {"homePage": SCHOOL, "name": self.name},
        }

    def statement_id(self, tag: str) -> str:
        return str(uuid.uuid5(IDS, f"{self.key}/{tag}"))

    def moment(self, week: int, weekday: int, hour: int) -> datetime:
        return MONDAY_WEEK_1 + timedelta(
            weeks=week - 1, days=weekday, hours=hour, minutes=self.number
        )


CLASS_10A1 = [Learner(n, PERSONAS[n - 1]) for n in range(1, 31)]
CLASS_10A2 = [Learner(n, "A", OTHER_CLASS) for n in (1, 2)]


def activity_definition(activity: str) -> dict[str, Any]:
    name = activity.rstrip("/").rsplit("/", 1)[-1]
    if activity == TASK + "spreadsheet":
        kind = DATA_TASK
    elif activity.startswith(QUIZ):
        kind = ASSESSMENT
    else:
        kind = "http://adlnet.gov/expapi/activities/lesson"
    return {"type": kind, "name": {"vi": name, "en": name}}


def build(learner: Learner, step: tuple[Any, ...]) -> dict[str, Any]:
    tag, week, weekday, hour, activity, verb, result = step
    categories = [{"id": "https://w3id.org/xapi/scorm"}]
    if activity == QUIZ + "fake-news":
        categories.append({"id": competence("1.2"), "objectType": "Activity"})
    statement: dict[str, Any] = {
        "id": learner.statement_id(tag),
        "actor": learner.agent,
        "verb": {"id": VERBS + verb, "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": activity_definition(activity),
        },
        "context": {
            "platform": "Moodle" if learner.persona == "D" else "school LMS",
            "language": "vi-VN",
            "contextActivities": {
                "grouping": [{"id": learner.home_class}],
                "parent": [{"id": COURSE}],
                "category": categories,
            },
        },
        "timestamp": learner.moment(week, weekday, hour).isoformat(),
    }
    if result is not None:
        statement["result"] = result
    return statement


def posts(learners: list[Learner]) -> list[tuple[datetime, int, dict[str, Any]]]:
    """(when, pass, statement): originals in pass 0 of their week, voiding and re-sending
    in pass 1 (after what they refer to has been stored)."""
    out: list[tuple[datetime, int, dict[str, Any]]] = []
    for learner in learners:
        script = SCRIPTS[learner.persona]
        sent = {step[0]: build(learner, step) for step in script if step[0] not in ("void", "resend")}
        for step in script:
            kind, week, weekday, hour = step[:4]
            when = learner.moment(week, weekday, hour)
            if kind == "void":
                void = {
                    "id": learner.statement_id(f"void-{step[4]}"),
                    "actor": TEACHER,
                    "verb": {"id": VERBS + "voided", "display": {"en-US": "voided"}},
                    "object": {"objectType": "StatementRef", "id": learner.statement_id(step[4])},
                    "timestamp": when.isoformat(),
                }
                out.append((when, 1, void))
            elif kind == "resend":
                out.append((when, 1, sent[step[4]]))
            else:
                out.append((when, 0, sent[kind]))
    return out


def utc(moment: datetime) -> str:
    """A time as the LRS reports evidence times: UTC, milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# ------------------------------------------------------------------ the run


@dataclass
class School:
    api: APIClient
    data: Path

    @property
    def http(self) -> TestClient:
        return self.api.http

    def competencies(self, learner: Learner) -> dict[str, Any]:
        response = self.http.get(
            f"/api/v1/learners/{quote(learner.key, safe='')}/competencies",
            params={"framework": "digcomp-2.2"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def group(self, group: str, **params: str) -> Any:
        response = self.http.get(
            f"/api/v1/groups/{quote(group, safe='')}/competencies",
            params={"framework": "digcomp-2.2", **params},
        )
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def school(api: APIClient, tmp_path: Path) -> School:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    import_rules(store, RULES)
    # the school's rules replace the shipped example for DigComp; the other frameworks keep theirs
    assert [r.id for r in rulesets(store)] == [
        RULES["id"],
        "example-vn-circular-02-2025",
        "example-vn-decision-757-2025",
    ]
    timeline = sorted(
        posts(CLASS_10A1 + CLASS_10A2), key=lambda p: (p[0].isocalendar().week, p[1], p[0])
    )
    batches: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for when, phase, statement in timeline:
        batches.setdefault((when.isocalendar().week, phase), []).append(statement)
    assert len(batches) > 6  # weekly uploads, over several weeks
    for batch in batches.values():
        response = api.http.post("/xapi/statements", json=batch)
        assert response.status_code == 200, response.text
        assert response.json() == [s["id"] for s in batch]
    catch_up(store, reducers(store))
    return School(api, tmp_path)


def expected_view(learner: Learner) -> dict[str, tuple[str, str | None]]:
    table = EXPECTED[learner.persona]
    return {
        code: (
            "not_started" if code not in table else "in_progress" if table[code] is None else "achieved",
            table.get(code),
        )
        for code in DIGCOMP_CODES
    }


def check_view(view: dict[str, Any], learner: Learner) -> None:
    assert view["learner"] == learner.key
    assert view["framework"] == DIGCOMP
    got = {c["code"]: (c["state"], c["level"]) for c in view["competences"]}
    assert got == expected_view(learner), f"learner {learner.number} (persona {learner.persona})"
    evidence = {c["code"]: c["evidence"] for c in view["competences"] if c["evidence"]}
    assert evidence == {
        code: sorted(learner.statement_id(tag) for tag in tags)
        for code, tags in EVIDENCE[learner.persona].items()
    }
    areas = {a["code"]: a["level"] for a in view["areas"]}
    assert areas == {
        code: AREA_LEVELS.get(learner.persona, {}).get(code) for code in ("1", "2", "3", "4", "5")
    }
    table = EXPECTED[learner.persona]
    achieved = sum(1 for level in table.values() if level is not None)
    in_progress = sum(1 for level in table.values() if level is None)
    assert view["summary"] == {
        "competences": 21,
        "achieved": achieved,
        "in_progress": in_progress,
        "not_started": 21 - achieved - in_progress,
    }


def test_every_learner_has_the_status_worked_out_by_hand(school: School) -> None:
    for learner in CLASS_10A1:
        check_view(school.competencies(learner), learner)


def test_evidence_times_follow_the_weeks_and_ignore_voided_statements(school: School) -> None:
    star = CLASS_10A1[0]
    assert star.persona == "A"
    by_code = {c["code"]: c for c in school.competencies(star)["competences"]}
    # 1.1: search-basics Monday of week 1, 08:01 in Hanoi; search-advanced Monday of week 2
    assert by_code["1.1"]["first_evidence"] == "2025-09-08T01:01:00.000Z"
    assert by_code["1.1"]["last_evidence"] == "2025-09-15T01:01:00.000Z"
    # 3.1: the poster on Tuesday of week 3, the blog on Tuesday of week 5
    assert by_code["3.1"]["first_evidence"] == "2025-09-23T03:01:00.000Z"
    assert by_code["3.1"]["last_evidence"] == "2025-10-07T03:01:00.000Z"

    voided = CLASS_10A1[2]
    assert voided.persona == "C"
    by_code = {c["code"]: c for c in school.competencies(voided)["competences"]}
    # 4.2: the voided result (Friday of week 1) is gone; only the re-take (Wednesday of week 2)
    retake = voided.moment(2, 2, 15)
    assert by_code["4.2"]["first_evidence"] == by_code["4.2"]["last_evidence"] == utc(retake)
    assert utc(retake) == "2025-09-17T08:03:00.000Z"
    # 3.1: last evidence is the blog handed in again in week 6, not the voided one of week 5
    assert by_code["3.1"]["last_evidence"] == "2025-10-14T03:03:00.000Z"


def test_resent_and_voided_statements_in_the_profiles(school: School) -> None:
    for learner in CLASS_10A1[:6]:
        response = school.http.get(f"/api/v1/learners/{quote(learner.key, safe='')}/profile")
        assert response.status_code == 200, response.text
        assert response.json()["statements"] == PROFILE_STATEMENTS[learner.persona]
        assert response.json()["courses"] == sorted([CLASS, COURSE])
    # the teacher voided statements but is not a learner of the class
    teacher = quote("mbox:" + TEACHER["mbox"], safe="")
    assert school.http.get(f"/api/v1/learners/{teacher}/profile").status_code == 404


def test_class_view_lists_the_30_learners(school: School) -> None:
    body = school.group(CLASS).json()
    assert body["group"] == CLASS
    assert body["framework"] == DIGCOMP
    assert body["count"] == 30
    assert [v["learner"] for v in body["learners"]] == sorted(lr.key for lr in CLASS_10A1)
    by_key = {lr.key: lr for lr in CLASS_10A1}
    for view in body["learners"]:
        check_view(view, by_key[view["learner"]])
    # the other class is another group: its two learners only
    other = school.group(OTHER_CLASS).json()
    assert [v["learner"] for v in other["learners"]] == sorted(lr.key for lr in CLASS_10A2)
    for view in other["learners"]:
        assert {c["code"]: c["level"] for c in view["competences"] if c["level"]} == EXPECTED["A"]
    # the names come from the statements' actors
    assert [v["name"] for v in body["learners"][:3]] == [
        "Học sinh 01",
        "Học sinh 02",
        "Học sinh 03",
    ]
    # a class nobody knows (no roster, no statement names it) is a 404 naming the field
    unknown = school.http.get(
        f"/api/v1/groups/{quote(SCHOOL + '/class/12C9', safe='')}/competencies",
        params={"framework": "digcomp-2.2"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "group"


def test_class_matrix_csv(school: School) -> None:
    response = school.group(CLASS, format="csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["learner", "name", *DIGCOMP_CODES, "achieved", "in_progress", "not_started"]
    assert len(rows) == 32  # header, 30 learners, legend
    by_key = {lr.key: lr for lr in CLASS_10A1}
    assert [row[0] for row in rows[1:31]] == sorted(by_key)
    for row in rows[1:31]:
        learner = by_key[row[0]]
        table = EXPECTED[learner.persona]
        cells = dict(zip(rows[0], row, strict=True))

        def expected_cell(code: str, persona: str = learner.persona) -> str:
            table = EXPECTED[persona]
            if code not in table:
                return "not_started"
            level = table[code]
            if level is None:  # in progress toward the lowest level of its unmet rules
                return f"in_progress:{TOWARD[persona][code]}"
            return f"achieved:{level}"

        assert {code: cells[code] for code in DIGCOMP_CODES} == {
            code: expected_cell(code) for code in DIGCOMP_CODES
        }, learner.number
        assert cells["name"] == f"Học sinh {learner.number:02d}"
        achieved = sum(1 for level in table.values() if level is not None)
        in_progress = len(table) - achieved
        assert (cells["achieved"], cells["in_progress"], cells["not_started"]) == (
            str(achieved),
            str(in_progress),
            str(21 - len(table)),
        )
    # spot checks against the tables, spelled out: learner 1 is A, learner 2 is B
    assert rows[1][0].endswith("|hs-10a1-01")
    ns = "not_started"
    assert rows[1][2:23] == ["achieved:4", "achieved:3", "achieved:2", ns, ns, ns, ns, ns, ns,
                             "achieved:5", ns, ns, ns, ns, "achieved:3", ns, ns, ns, ns, ns,
                             ns]  # fmt: skip
    assert rows[1][23:] == ["5", "0", "16"]
    # B: 1.1 at 2, 3.1 at 2, 4.2 in progress (no level yet)
    assert (rows[2][2], rows[2][11], rows[2][16]) == ("achieved:2", "achieved:2", "in_progress:3")
    assert rows[2][23:] == ["2", "1", "18"]
    # the legend names DigComp's 8 levels
    assert rows[31][:4] == ["legend", "", "1=Level 1 (Foundation)", "2=Level 2 (Foundation)"]
    assert len(rows[31]) == 2 + 8


def test_rebuild_gives_identical_statuses(
    school: School, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {lr.key: school.competencies(lr) for lr in CLASS_10A1}
    csv_before = school.group(CLASS, format="csv").text
    store = school.http.app.state.store  # type: ignore[attr-defined]

    store.clear_projection(COMPETENCIES)
    emptied = school.competencies(CLASS_10A1[0])
    assert emptied["summary"]["not_started"] == 21  # the status really was gone

    # `lrs rebuild competencies`, as an operator runs it against the same data directory
    assert lrs_cli(["rebuild", "competencies", "--data", str(school.data)]) == 0
    assert "competencies: replayed" in capsys.readouterr().err

    after = {lr.key: school.competencies(lr) for lr in CLASS_10A1}
    assert after == before
    assert school.group(CLASS, format="csv").text == csv_before


def test_replaying_the_log_in_any_order_gives_the_stored_states(school: School) -> None:
    store = school.http.app.state.store  # type: ignore[attr-defined]
    statements = [orjson.loads(r.value) for r in store.read_log(0, 100_000)]
    reducer = CompetencyReducer(rulesets(store))
    rng = random.Random(2025)
    for _ in range(3):
        rng.shuffle(statements)
        states = replay(reducer, statements)
        # F learners have no state: all their evidence was voided
        assert sorted(states) == sorted(
            state_key(DIGCOMP, lr.key) for lr in CLASS_10A1 + CLASS_10A2 if lr.persona != "F"
        )
        for key, state in states.items():
            assert store.get_state(COMPETENCIES, key) == state
