"""Alignment rule sets over the admin API (issue 14.4): validate only, create, replace,
versions, delete; the status follows each change (a replay in the background)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.competency.rebuilds import last_recomputed, wait_for_rebuilds
from tests.conftest import APIClient, basic_auth

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
QUIZ = "https://lms.example.vn/quiz/q1"
LEARNER = "account:https://lms.example.vn|hs-01"


def rules(level: str, minimum: float) -> dict[str, Any]:
    return {
        "id": "school-quizzes",
        "framework": DIGCOMP,
        "rules": [
            {
                "id": "q1",
                "competence": f"{DIGCOMP}/competence/1.1",
                "level": level,
                "match": {"activity": QUIZ},
                "when": {"min_score": minimum},
            }
        ],
    }


@pytest.fixture
def lms(api: APIClient) -> Iterator[APIClient]:
    statement = {
        "actor": {"account": {"homePage": "https://lms.example.vn", "name": "hs-01"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": QUIZ},
        "result": {"completion": True, "score": {"raw": 9, "min": 0, "max": 10}},
        "timestamp": "2025-10-01T02:00:00Z",
    }
    assert api.http.post("/xapi/statements", json=statement).status_code == 200
    catch_up(api.http.app.state.store, reducers(api.http.app.state.store))  # type: ignore[attr-defined]
    yield api
    assert wait_for_rebuilds()


def status_11(api: APIClient) -> tuple[str, str | None]:
    assert wait_for_rebuilds()
    response = api.http.get(
        f"/api/v1/learners/{quote(LEARNER, safe='')}/competencies", params={"framework": DIGCOMP}
    )
    entry = next(c for c in response.json()["competences"] if c["code"] == "1.1")
    return entry["state"], entry["level"]


def test_the_life_of_a_rule_set(lms: APIClient) -> None:
    http = lms.http
    assert status_11(lms) == ("not_started", None)
    # validate only: checked, nothing stored
    checked = http.post("/api/v1/alignments?validate_only=true", json=rules("3", 0.8))
    assert checked.status_code == 200
    assert checked.json() == {
        "valid": True,
        "id": "school-quizzes",
        "framework": DIGCOMP,
        "rules": 1,
    }
    bad = http.post("/api/v1/alignments?validate_only=true", json=rules("9", 0.8))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "rules.0.level"
    assert http.get("/api/v1/alignments/school-quizzes").status_code == 404

    created = http.post("/api/v1/alignments", json=rules("3", 0.8))
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.json()["rebuild"] in ("started", "queued")
    # 9/10 = 0.9 >= 0.8: level 3, without a restart; the one quiz statement recomputed
    assert status_11(lms) == ("achieved", "3")
    done = last_recomputed()
    assert done is not None and (done.rules, done.statements, done.learners) == (1, 1, 1)
    assert http.post("/api/v1/alignments", json=rules("3", 0.8)).status_code == 409

    # a new version asks 0.95 for level 5: 0.9 is short, the quiz is only evidence
    replaced = http.put("/api/v1/alignments/school-quizzes", json=rules("5", 0.95))
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert status_11(lms) == ("in_progress", None)
    done = last_recomputed()
    assert done is not None and (done.rules, done.statements, done.learners) == (2, 1, 1)
    current = http.get("/api/v1/alignments/school-quizzes").json()
    assert (current["version"], current["versions"]) == (2, 2)
    assert current["rules"]["rules"][0]["level"] == "5"
    first = http.get("/api/v1/alignments/school-quizzes", params={"version": "1"}).json()
    assert first["rules"]["rules"][0]["level"] == "3" and first["deleted"] is False
    listed = http.get("/api/v1/alignments").json()
    assert listed["alignments"] == [
        {"id": "school-quizzes", "framework": DIGCOMP, "title": None, "rules": 1, "version": 2}
    ]
    # the body must name the set of the path, which must exist
    other = {**rules("5", 0.95), "id": "other"}
    assert (
        http.put("/api/v1/alignments/school-quizzes", json=other).json()["error"]["field"] == "id"
    )
    assert http.put("/api/v1/alignments/other", json=other).status_code == 404

    assert http.delete("/api/v1/alignments/school-quizzes").status_code == 204
    assert status_11(lms) == ("not_started", None)
    assert http.get("/api/v1/alignments/school-quizzes").status_code == 404
    gone = http.get("/api/v1/alignments/school-quizzes", params={"version": "3"}).json()
    assert gone["deleted"] is True and gone["rules"] is None
    assert http.delete("/api/v1/alignments/school-quizzes").status_code == 404


def test_rule_sets_are_an_administrators_business(lms: APIClient) -> None:
    key, secret = lms.credential(["statements/read", "all/read"], name="reader")
    response = lms.http.get(
        "/api/v1/alignments", headers={"Authorization": basic_auth(key, secret)}
    )
    assert response.status_code == 403
