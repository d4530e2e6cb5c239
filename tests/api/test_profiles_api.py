"""The query API over HTTP: learner profiles, the learner list, and its OpenAPI document.

Statements go in through /xapi/statements; `catch_up` then runs the profile processor over
the store's log, so what the query API answers is deterministic (the app is used without
its lifespan, so no background runner races the test; one test runs the lifespan on purpose).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import orjson
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from consumers.reducers.profiles import REDUCER
from consumers.runtime.local import catch_up
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings

VERBS = "http://adlnet.gov/expapi/verbs/"
ANA = "mbox:mailto:a@example.org"
ACCOUNT = "account:https://lms.example.org|42"
C1, C2 = "http://example.org/course/1", "http://example.org/course/2"


def auth(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@dataclass
class LRS:
    app: Starlette
    http: TestClient  # authenticated with an `all` credential

    def post(self, *statements: dict[str, Any]) -> list[str]:
        response = self.http.post("/xapi/statements", json=list(statements))
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()
        return ids

    def process(self) -> int:
        return catch_up(self.app.state.store, [REDUCER])

    def profile(self, key: str) -> httpx.Response:
        return self.http.get(f"/api/v1/learners/{quote(key, safe='')}/profile")

    def credential(self, *scopes: str) -> str:
        new = create_credential(self.app.state.store, "other", list(scopes))
        return auth(new.credential.key, new.secret)


@pytest.fixture
def lrs(tmp_path: Path) -> Iterator[LRS]:
    app = create_app(load_settings(data=str(tmp_path)))
    new = create_credential(app.state.store, "tests", ["all"])
    http = TestClient(  # not entered: no lifespan, no background runner
        app,
        headers={
            "Authorization": auth(new.credential.key, new.secret),
            "X-Experience-API-Version": "1.0.3",
        },
        raise_server_exceptions=False,
    )
    try:
        yield LRS(app, http)
    finally:
        http.close()
        app.state.store.close()


def stmt(
    agent: dict[str, Any] | None = None,
    verb: str = "experienced",
    activity: str = "http://example.org/act/1",
    *,
    timestamp: str = "2024-03-01T10:00:00.000Z",
    course: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": agent or {"objectType": "Agent", "mbox": "mailto:a@example.org"},
        "verb": {"id": VERBS + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": timestamp,
        **extra,
    }
    if course:
        value["context"] = {"contextActivities": {"parent": [{"id": course}]}}
    return value


def mbox(name: str) -> dict[str, Any]:
    return {"objectType": "Agent", "mbox": f"mailto:{name}@example.org"}


def voiding(target: str) -> dict[str, Any]:
    return {
        "actor": {"objectType": "Agent", "mbox": "mailto:admin@example.org"},
        "verb": {"id": VERBS + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    if field is not None:  # the parameter, or a part of it ("agent.mbox")
        assert error["field"] == field or error["field"].startswith(field + "."), error


# one learner's profile --------------------------------------------------------------------------


def test_profile_by_learner_key(lrs: LRS) -> None:
    quiz = "http://example.org/quiz"
    lrs.post(
        stmt(verb="attempted", activity=quiz, timestamp="2024-03-01T08:00:00+07:00"),
        stmt(
            verb="scored",
            activity=quiz,
            timestamp="2024-03-02T09:00:00Z",
            result={
                "score": {"scaled": -0.2, "raw": 50, "min": 0, "max": 100},
                "duration": "PT1H30M",
            },
        ),
        stmt(verb="completed", activity=quiz, timestamp="2024-03-03T09:00:00Z", course=C1),
        stmt(mbox("b"), verb="completed"),
    )
    assert lrs.profile(ANA).status_code == 404  # profiles are derived: nothing folded yet
    assert lrs.process() == 4
    response = lrs.profile(ANA)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    profile = response.json()
    assert profile["learner"] == ANA
    assert profile["statements"] == 3
    assert profile["verbs"] == {VERBS + "attempted": 1, VERBS + "scored": 1, VERBS + "completed": 1}
    assert profile["first_activity"] == "2024-03-01T01:00:00.000Z"
    assert profile["last_activity"] == "2024-03-03T09:00:00.000Z"
    assert (profile["attempted"], profile["completed"]) == (1, 1)
    assert profile["courses"] == [C1]
    assert profile["time_spent_seconds"] == 5400.0
    assert profile["activities"][quiz]["best_score"] == 0.5
    assert profile["activities"][quiz]["last_score"] == 0.5
    # the key need not be encoded when it has no slashes
    same = lrs.http.get(f"/api/v1/learners/{ANA}/profile")
    assert same.status_code == 200 and same.json() == profile


def test_profile_by_account_key_whose_home_page_has_slashes(lrs: LRS) -> None:
    agent = {
        "objectType": "Agent",
        "account": {"homePage": "https://lms.example.org", "name": "42"},
    }
    deeper = {"account": {"homePage": "https://lms.example.org/users/", "name": "dept/7"}}
    lrs.post(stmt(agent, "completed"), stmt(agent, "passed"), stmt(deeper))
    lrs.process()
    response = lrs.profile(ACCOUNT)
    assert response.status_code == 200, response.text
    assert response.json()["learner"] == ACCOUNT
    assert response.json()["statements"] == 2
    other = lrs.profile("account:https://lms.example.org/users/|dept/7")
    assert other.status_code == 200, other.text
    assert other.json()["statements"] == 1
    assert lrs.profile("account:https://lms.example.org|43").status_code == 404


def test_profile_by_agent_json(lrs: LRS) -> None:
    account = {"homePage": "https://lms.example.org", "name": "42"}
    lrs.post(stmt(), stmt(verb="completed"), stmt({"account": account}))
    lrs.process()
    by_agent = lrs.http.get(
        "/api/v1/learners/profile",
        params={"agent": orjson.dumps({"mbox": "mailto:a@example.org"}).decode()},
    )
    assert by_agent.status_code == 200, by_agent.text
    assert by_agent.json() == lrs.profile(ANA).json()
    assert by_agent.json()["statements"] == 2
    # the agent's identity is canonicalised the way statements are filed
    upper = {"objectType": "Agent", "name": "A", "mbox": "mailto:A@Example.ORG"}
    response = lrs.http.get(
        "/api/v1/learners/profile", params={"agent": orjson.dumps(upper).decode()}
    )
    assert response.status_code == 200 and response.json()["learner"] == ANA
    response = lrs.http.get(
        "/api/v1/learners/profile", params={"agent": orjson.dumps({"account": account}).decode()}
    )
    assert response.status_code == 200 and response.json()["learner"] == ACCOUNT
    unknown = orjson.dumps({"mbox": "mailto:nobody@example.org"}).decode()
    assert_error(lrs.http.get("/api/v1/learners/profile", params={"agent": unknown}), 404)


def test_unknown_learner_is_404(lrs: LRS) -> None:
    lrs.post(stmt())
    lrs.process()
    assert_error(lrs.profile("mbox:mailto:nobody@example.org"), 404, "learner")
    assert_error(lrs.profile("openid:https://id.example.org/x"), 404, "learner")


@pytest.mark.parametrize("learner", ["nobody", "a@example.org", "%20"])
def test_malformed_learner_is_400(lrs: LRS, learner: str) -> None:
    assert_error(lrs.http.get(f"/api/v1/learners/{learner}/profile"), 400, "learner")


@pytest.mark.parametrize(
    "agent",
    [
        "not json",
        "{",
        "[]",
        '"mailto:a@example.org"',
        '{"name": "no identifier"}',
        '{"mbox": "a@example.org"}',  # not a mailto IRI
        '{"mbox": "mailto:a@example.org", "openid": "https://id.example.org/a"}',  # two IFIs
        '{"objectType": "Group", "member": [{"mbox": "mailto:a@example.org"}]}',  # anonymous
    ],
)
def test_malformed_agent_is_400(lrs: LRS, agent: str) -> None:
    response = lrs.http.get("/api/v1/learners/profile", params={"agent": agent})
    assert_error(response, 400, "agent")


def test_profile_route_without_agent_or_key_is_400(lrs: LRS) -> None:
    assert_error(lrs.http.get("/api/v1/learners/profile"), 400)


def test_voiding_through_the_api_takes_the_statement_out_of_the_profile(lrs: LRS) -> None:
    quiz = "http://example.org/quiz"
    best, kept = str(uuid.uuid4()).upper(), str(uuid.uuid4())
    lrs.post(
        stmt(verb="passed", activity=quiz, id=best, result={"score": {"scaled": 0.9}}),
        stmt(verb="failed", activity=quiz, id=kept, result={"score": {"scaled": 0.3}}),
        stmt(mbox("b"), id=str(uuid.uuid4())),
    )
    lrs.process()
    assert lrs.profile(ANA).json()["activities"][quiz]["best_score"] == 0.9
    lrs.post(voiding(best))  # the upper-case id the client chose, as it sent it
    lrs.process()
    profile = lrs.profile(ANA).json()
    assert profile["statements"] == 1
    assert profile["activities"][quiz]["best_score"] == 0.3
    assert profile["passed"] == 0
    assert lrs.profile("mbox:mailto:admin@example.org").status_code == 404
    lrs.post(voiding(kept))
    lrs.process()
    assert_error(lrs.profile(ANA), 404)
    assert lrs.profile("mbox:mailto:b@example.org").status_code == 200


def test_a_re_sent_statement_is_not_counted_twice(lrs: LRS) -> None:
    s = stmt(verb="completed", result={"duration": "PT10M"})
    lrs.post(s)
    lrs.process()
    lrs.post(s)  # the same id and content again: stored once
    lrs.http.put("/xapi/statements", params={"statementId": s["id"]}, json=s)
    lrs.process()
    lrs.process()
    profile = lrs.profile(ANA).json()
    assert profile["statements"] == 1
    assert profile["time_spent_seconds"] == 600.0


def test_the_background_runner_builds_profiles_when_the_app_runs(tmp_path: Path) -> None:
    app = create_app(load_settings(data=str(tmp_path)))
    new = create_credential(app.state.store, "tests", ["all"])
    headers = {
        "Authorization": auth(new.credential.key, new.secret),
        "X-Experience-API-Version": "1.0.3",
    }
    with TestClient(app, headers=headers) as http:
        assert (
            http.post("/xapi/statements", json=[stmt(), stmt(verb="completed")]).status_code == 200
        )
        deadline = time.monotonic() + 15
        while True:
            response = http.get(f"/api/v1/learners/{quote(ANA, safe='')}/profile")
            if response.status_code == 200 and response.json()["statements"] == 2:
                break
            assert response.status_code in (200, 404), response.text
            assert time.monotonic() < deadline, "the background runner did not fold the statements"
            time.sleep(0.05)
        # a catch-up racing the runner changes nothing
        catch_up(app.state.store, [REDUCER])
        assert http.get(f"/api/v1/learners/{quote(ANA, safe='')}/profile").json()["statements"] == 2
    app.state.store.close()


# authentication and authorisation -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/learners/{quote(ANA, safe='')}/profile",
        "/api/v1/learners/profile?agent=" + quote('{"mbox": "mailto:a@example.org"}'),
        "/api/v1/learners",
    ],
)
def test_credentials_are_required(lrs: LRS, path: str) -> None:
    lrs.post(stmt())
    lrs.process()
    response = lrs.http.get(path, headers={"Authorization": ""})
    assert_error(response, 401)
    assert response.headers["www-authenticate"].lower().startswith("basic")
    wrong = auth("nokey", "nosecret")
    assert_error(lrs.http.get(path, headers={"Authorization": wrong}), 401)
    assert_error(
        lrs.http.get(path, headers={"Authorization": lrs.credential("statements/write")}), 403
    )
    assert (
        lrs.http.get(path, headers={"Authorization": lrs.credential("all/read")}).status_code == 200
    )


# the learner list ---------------------------------------------------------------------------


@pytest.fixture
def many(lrs: LRS) -> LRS:
    batch = [
        stmt(
            mbox("ann"),
            "completed",
            "http://example.org/a1",
            timestamp="2024-03-01T00:00:00Z",
            course=C1,
        ),
        stmt(
            mbox("ann"),
            "completed",
            "http://example.org/a2",
            timestamp="2024-03-05T00:00:00Z",
            course=C2,
        ),
        stmt(
            mbox("ben"),
            "completed",
            "http://example.org/a1",
            timestamp="2024-03-10T00:00:00Z",
            course=C1,
        ),
        stmt(
            mbox("cat"),
            "experienced",
            "http://example.org/a1",
            timestamp="2024-02-01T00:00:00Z",
            course=C2,
        ),
        stmt(
            mbox("dan"), "completed", "http://example.org/a1", timestamp="2024-03-20T08:00:00+07:00"
        ),
        stmt(mbox("dan"), "completed", "http://example.org/a3", timestamp="2024-01-02T00:00:00Z"),
        stmt(
            {"account": {"homePage": "https://lms.example.org", "name": "42"}},
            "completed",
            timestamp="2024-03-04T23:59:59.999Z",
            course=C1,
        ),
    ]
    batch += [stmt(mbox(f"x{n:02d}"), timestamp="2023-12-01T00:00:00Z") for n in range(6)]
    lrs.post(*batch)
    lrs.process()
    return lrs


def learners(lrs: LRS, **params: Any) -> dict[str, Any]:
    response = lrs.http.get("/api/v1/learners", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def keys(body: dict[str, Any]) -> list[str]:
    return [entry["learner"] for entry in body["learners"]]


def test_learners_lists_summaries_in_key_order(many: LRS) -> None:
    body = learners(many)
    assert body["next"] is None
    listed = keys(body)
    assert len(listed) == 11
    assert listed == sorted(listed)
    assert listed[0] == ACCOUNT
    ann = next(e for e in body["learners"] if e["learner"] == "mbox:mailto:ann@example.org")
    assert ann == {
        "learner": "mbox:mailto:ann@example.org",
        "statements": 2,
        "first_activity": "2024-03-01T00:00:00.000Z",
        "last_activity": "2024-03-05T00:00:00.000Z",
        "attempted": 2,
        "completed": 2,
        "passed": 0,
        "failed": 0,
        "time_spent_seconds": 0.0,
    }


def test_learners_filters(many: LRS) -> None:
    ann, ben, cat, dan = (f"mbox:mailto:{n}@example.org" for n in ("ann", "ben", "cat", "dan"))
    assert keys(learners(many, course=C1)) == [ACCOUNT, ann, ben]
    assert keys(learners(many, course=C2)) == [ann, cat]
    assert keys(learners(many, course="http://example.org/none")) == []
    # an offset is converted: 2024-03-05T07:00+07:00 is ann's last activity exactly
    assert keys(learners(many, active_since="2024-03-05T07:00:00+07:00")) == [ann, ben, dan]
    assert keys(learners(many, active_since="2024-03-20T01:00:00.001Z")) == []
    assert keys(learners(many, min_completed=2)) == [ann, dan]
    assert keys(
        learners(many, min_completed=1, course=C1, active_since="2024-03-05T00:00:00Z")
    ) == [
        ann,
        ben,
    ]


def test_learners_pagination_follows_next(many: LRS) -> None:
    everything = keys(learners(many))
    seen: list[str] = []
    body = learners(many, limit=3)
    pages = 1
    while True:
        assert len(body["learners"]) <= 3
        seen += keys(body)
        if body["next"] is None:
            break
        assert body["next"].startswith("/api/v1/learners?")
        assert parse_qs(urlsplit(body["next"]).query)["limit"] == ["3"]
        response = many.http.get(body["next"])
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert pages < 20
    assert seen == everything
    assert pages >= 4


def test_learners_pagination_keeps_the_filters(many: LRS) -> None:
    body = learners(many, course=C1, limit=1)
    seen = keys(body)
    while body["next"]:
        assert parse_qs(urlsplit(body["next"]).query)["course"] == [C1]
        body = many.http.get(body["next"]).json()
        seen += keys(body)
    assert seen == keys(learners(many, course=C1))
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"min_completed": "-1"}, "min_completed"),
        ({"min_completed": "two"}, "min_completed"),
        ({"min_completed": str(2**63)}, "min_completed"),  # more than a store's integer holds
        ({"min_completed": "\u00b2"}, "min_completed"),  # a digit to str.isdigit, not to int
        ({"limit": "1" * 5000}, "limit"),  # more digits than int() converts
        ({"limit": "ten"}, "limit"),
        ({"active_since": "yesterday"}, "active_since"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_learners_rejects_bad_parameters(lrs: LRS, params: dict[str, str], field: str) -> None:
    assert_error(lrs.http.get("/api/v1/learners", params=params), 400, field)


# the OpenAPI document -----------------------------------------------------------------------


def served_api_methods(app: Starlette) -> dict[str, set[str]]:
    """The /api/v1 paths the app routes, in OpenAPI template form, with their methods."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith("/api/v1/"):
            served = {m.lower() for m in (route.methods or set())} - {"head"}
            methods.setdefault(route.path.replace(":path}", "}"), set()).update(served)
    return methods


def served_api_paths(app: Starlette) -> set[str]:
    return set(served_api_methods(app))


def test_openapi_document_is_valid_openapi_3_1(lrs: LRS) -> None:
    response = lrs.http.get("/api/v1/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()


def test_openapi_document_describes_every_served_path(lrs: LRS) -> None:
    document = lrs.http.get("/api/v1/openapi.json").json()
    served = served_api_paths(lrs.app)
    assert {
        "/api/v1/learners",
        "/api/v1/learners/profile",
        "/api/v1/learners/{learner}/profile",
    } <= served
    assert served <= set(document["paths"])
    for path, methods in served_api_methods(lrs.app).items():
        assert set(document["paths"][path]) == methods, path
    # and documents nothing the app does not serve
    assert set(document["paths"]) <= served
    # the document itself is public: it says so, and it is
    assert document["paths"]["/api/v1/openapi.json"]["get"]["security"] == []


def test_openapi_parameters_match_what_the_endpoints_accept(many: LRS) -> None:
    document = many.http.get("/api/v1/openapi.json").json()
    listed = {p["name"] for p in document["paths"]["/api/v1/learners"]["get"]["parameters"]}
    assert listed == {"course", "active_since", "min_completed", "limit", "after"}
    for name in listed:  # each documented parameter is accepted
        value = {"course": C1, "active_since": "2024-01-01T00:00:00Z"}.get(name, "1")
        assert many.http.get("/api/v1/learners", params={name: value}).status_code == 200, name
    profile_schema = document["components"]["schemas"]["Profile"]
    profile = many.profile("mbox:mailto:ann@example.org").json()
    assert set(profile_schema["required"]) <= set(profile)
    assert set(profile) <= set(profile_schema["properties"])


def test_served_read_models_match_the_schemas_generated_from_their_types(many: LRS) -> None:
    """The schemas come from lrs.readmodels' types: what the endpoints answer must fit them
    exactly (no property the schema lacks, none it requires missing)."""
    from jsonschema import Draft202012Validator

    document = many.http.get("/api/v1/openapi.json").json()

    def check(schema: str, body: Any) -> None:
        root = {"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
        strict = json.loads(
            json.dumps(root).replace('"type": "object"', '"type": "object", "unevaluatedProperties": false')
        )
        errors = [e.message for e in Draft202012Validator(strict).iter_errors(body)]
        assert errors == [], (schema, errors)

    key = "mbox:mailto:ann@example.org"
    check("Profile", many.profile(key).json())
    check("LearnerPage", many.http.get("/api/v1/learners", params={"limit": "2"}).json())
    status = many.http.get(
        f"/api/v1/learners/{quote(key, safe='')}/competencies", params={"framework": "digcomp-2.2"}
    )
    assert status.status_code == 200, status.text
    check("CompetencyStatus", status.json())
    bad = {**many.profile(key).json(), "surprise": 1}
    with pytest.raises(AssertionError):
        check("Profile", bad)
