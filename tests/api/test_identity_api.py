"""Learner identity across systems: linking keys into persons over HTTP, a person's one
profile and one competency status, and pseudonymous national e-ID accounts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.cli import main as lrs_cli
from lrs.competency.registry import import_rules
from lrs.national_id import DEFAULT_HOME_PAGE, normalise_national_id, pseudonymise
from lrs.xapi.errors import ValidationError
from tests.conftest import APIClient, basic_auth

REPO_ROOT = Path(__file__).resolve().parents[2]
DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
VERBS = "http://adlnet.gov/expapi/verbs/"
QUIZ = "https://school.example.edu.vn/digcomp/quiz/"
SECRET = b"province-digital-skills-2025-secret"
NATIONAL_ID = "001203004567"  # a made-up 12-digit citizen identity number

LMS_AGENT = {"account": {"homePage": "https://lms.example.edu.vn", "name": "u123"}}
SCHOOL_AGENT = {"account": {"homePage": "https://school.example.edu.vn", "name": "hs-0042"}}
EID_AGENT = {"objectType": "Agent", "account": pseudonymise(NATIONAL_ID, SECRET)}
LMS = "account:https://lms.example.edu.vn|u123"
SCHOOL = "account:https://school.example.edu.vn|hs-0042"
EID = f"account:{DEFAULT_HOME_PAGE}|{EID_AGENT['account']['name']}"

RULES = {
    "id": "identity-test",
    "framework": DIGCOMP,
    "rules": [
        {
            "id": "search-l2",
            "competence": f"{DIGCOMP}/competence/1.1",
            "level": "2",
            "match": {"activity_prefix": QUIZ + "search-"},
            "when": {"completed": True},
        },
        {
            "id": "search-l4",
            "competence": f"{DIGCOMP}/competence/1.1",
            "level": "4",
            "match": {"activity_prefix": QUIZ + "search-"},
            "when": {"completed": True},
            "distinct_activities": 2,
        },
        {
            "id": "privacy-l3",
            "competence": f"{DIGCOMP}/competence/4.2",
            "level": "3",
            "match": {"activity": QUIZ + "privacy"},
            "when": {"min_score": 0.8},
        },
    ],
}


def path_key(key: str) -> str:
    return quote(key, safe="")


def link(api: APIClient, person: str, body: Any, auth: str | None = None) -> httpx.Response:
    headers = {"Authorization": auth} if auth is not None else {}
    return api.http.post(f"/api/v1/persons/{person}/keys", json=body, headers=headers)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def scope(api: APIClient, *scopes: str) -> str:
    key, secret = api.credential(list(scopes))
    return basic_auth(key, secret)


# ---------------------------------------------------------------------- linking keys


def test_link_keys_and_show_the_person(api: APIClient) -> None:
    response = link(api, "p-001", {"keys": [SCHOOL, "mbox:mailto:An.Nguyen@School.Example.edu.vn"]})
    assert response.status_code == 200, response.text
    keys = sorted([SCHOOL, "mbox:mailto:an.nguyen@school.example.edu.vn"])
    assert response.json() == {"person": "p-001", "keys": keys}
    assert api.http.get("/api/v1/persons/p-001").json() == {"person": "p-001", "keys": keys}
    # linking more keeps the earlier ones
    assert link(api, "p-001", {"keys": [LMS]}).json()["keys"] == sorted([*keys, LMS])


def test_link_agents(api: APIClient) -> None:
    response = link(
        api,
        "p-002",
        {
            "agents": [EID_AGENT, {"mbox": "mailto:Binh@Example.org", "name": "Bình"}],
            "keys": [LMS],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["keys"] == sorted([EID, "mbox:mailto:binh@example.org", LMS])
    response = api.http.get(f"/api/v1/learners/{path_key(EID)}/person")
    assert response.json() == {"person": "p-002", "keys": response.json()["keys"]}
    assert EID in response.json()["keys"]


def test_a_key_belongs_to_one_person(api: APIClient) -> None:
    link(api, "p-a", {"keys": [LMS, SCHOOL]})
    link(api, "p-b", {"keys": [SCHOOL]})  # moved, not shared
    assert api.http.get("/api/v1/persons/p-a").json()["keys"] == [LMS]
    assert api.http.get("/api/v1/persons/p-b").json()["keys"] == [SCHOOL]
    assert api.http.get(f"/api/v1/learners/{path_key(SCHOOL)}/person").json()["person"] == "p-b"


@pytest.mark.parametrize("scopes", [["admin"], ["all"]])
def test_admin_or_all_may_link(api: APIClient, scopes: list[str]) -> None:
    auth = scope(api, *scopes)
    assert link(api, "p-003", {"keys": [LMS]}, auth).status_code == 200
    response = api.http.delete(
        f"/api/v1/persons/p-003/keys/{path_key(LMS)}", headers={"Authorization": auth}
    )
    assert response.status_code == 204


@pytest.mark.parametrize("scopes", [["statements/read"], ["all/read"], ["statements/write"]])
def test_other_credentials_may_not_link_or_unlink(api: APIClient, scopes: list[str]) -> None:
    link(api, "p-004", {"keys": [SCHOOL]})
    auth = scope(api, *scopes)
    response = link(api, "p-004", {"keys": [LMS]}, auth)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    response = api.http.delete(
        f"/api/v1/persons/p-004/keys/{path_key(SCHOOL)}", headers={"Authorization": auth}
    )
    assert response.status_code == 403
    assert api.http.get("/api/v1/persons/p-004").json()["keys"] == [SCHOOL]  # nothing changed


def test_reading_a_person_needs_a_read_scope(api: APIClient) -> None:
    link(api, "p-005", {"keys": [SCHOOL]})
    reader = scope(api, "statements/read")
    assert api.http.get("/api/v1/persons/p-005", headers={"Authorization": reader}).status_code == 200
    writer = scope(api, "statements/write")
    assert api.http.get("/api/v1/persons/p-005", headers={"Authorization": writer}).status_code == 403
    anonymous = api.http.get("/api/v1/persons/p-005", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert link(api, "p-005", {"keys": [LMS]}, "").status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"{}", "body"),
        (b'{"keys": []}', "body"),
        (b"[]", "body"),
        (b'{"keys": ["no-scheme-at-all"]}', "keys[0]"),
        (b'{"keys": ["mbox:mailto:a@example.org", 42]}', "keys[1]"),
        (b'{"agents": [{"name": "no identifier"}]}', "agents[0]"),
        (b'{"agents": [{"mbox": "a@example.org"}]}', "agents[0]"),  # not a mailto: IRI
        (b'{"agents": ["mbox:mailto:a@example.org"]}', "agents[0]"),
        (b'{"agents": [{"account": {"homePage": "https://x.example"}}]}', "agents[0]"),
    ],
)
def test_malformed_keys_or_agents_are_400(api: APIClient, body: bytes, field: str) -> None:
    response = api.http.post(
        "/api/v1/persons/p-006/keys", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["field"].startswith(field)


def test_a_refused_request_links_nothing(api: APIClient) -> None:
    response = link(api, "p-007", {"keys": [LMS, "broken"]})
    assert response.status_code == 400
    assert api.http.get("/api/v1/persons/p-007").status_code == 404
    assert api.http.get(f"/api/v1/learners/{path_key(LMS)}/person").status_code == 404


def test_unlink_a_key(api: APIClient) -> None:
    link(api, "p-008", {"keys": [LMS, SCHOOL, EID]})
    response = api.http.delete(f"/api/v1/persons/p-008/keys/{path_key(EID)}")
    assert response.status_code == 204
    assert api.http.get("/api/v1/persons/p-008").json()["keys"] == sorted([LMS, SCHOOL])
    missing = api.http.get(f"/api/v1/learners/{path_key(EID)}/person")
    assert missing.status_code == 404
    assert error_of(missing)["field"] == "learner"
    # again: it is not linked any more
    assert api.http.delete(f"/api/v1/persons/p-008/keys/{path_key(EID)}").status_code == 404
    # a key of another person is not this person's to unlink
    link(api, "p-009", {"keys": [EID]})
    assert api.http.delete(f"/api/v1/persons/p-008/keys/{path_key(EID)}").status_code == 404
    assert api.http.get(f"/api/v1/learners/{path_key(EID)}/person").json()["person"] == "p-009"
    # the last key gone, the person is gone
    for key in (LMS, SCHOOL):
        assert api.http.delete(f"/api/v1/persons/p-008/keys/{path_key(key)}").status_code == 204
    assert api.http.get("/api/v1/persons/p-008").status_code == 404


def test_unknown_person_and_unlinked_learner_are_404(api: APIClient) -> None:
    response = api.http.get("/api/v1/persons/nobody")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert api.http.get(f"/api/v1/learners/{path_key(LMS)}/person").status_code == 404
    assert api.http.get("/api/v1/persons/nobody/profile").status_code == 404
    response = api.http.get("/api/v1/persons/nobody/competencies", params={"framework": "digcomp-2.2"})
    assert response.status_code == 404


def test_person_of_a_learner_by_agent(api: APIClient) -> None:
    link(api, "p-010", {"agents": [SCHOOL_AGENT]})
    response = api.http.get(
        "/api/v1/learners/person", params={"agent": json.dumps(SCHOOL_AGENT)}
    )
    assert response.status_code == 200
    assert response.json() == {"person": "p-010", "keys": [SCHOOL]}


# ---------------------------------------------------------------------- one person, three systems


def statement(agent: dict[str, Any], activity: str, verb: str, timestamp: str,
              result: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    value: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": agent,
        "verb": {"id": VERBS + verb},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": timestamp,
    }
    if result is not None:
        value["result"] = result
    return value


@pytest.fixture
def person(api: APIClient) -> dict[str, dict[str, Any]]:
    """Chi: the LMS, the school, and the national digital-skills platform (by e-ID)."""
    store = api.http.app.state.store  # type: ignore[attr-defined]
    import_rules(store, RULES)
    made = {
        "lms_quiz": statement(LMS_AGENT, QUIZ + "search-basics", "completed", "2025-09-08T08:00:00+07:00"),
        "lms_page": statement(LMS_AGENT, "https://lms.example.edu.vn/page/1", "experienced", "2025-09-09T08:00:00+07:00"),
        "eid_quiz": statement(EID_AGENT, QUIZ + "search-advanced", "completed", "2025-09-20T20:00:00+07:00"),
        "school_privacy": statement(
            SCHOOL_AGENT, QUIZ + "privacy", "scored", "2025-09-15T10:00:00+07:00",
            {"score": {"raw": 9, "min": 0, "max": 10}},
        ),
        "school_page": statement(SCHOOL_AGENT, "https://school.example.edu.vn/page/2", "experienced", "2025-09-16T10:00:00+07:00"),
    }  # fmt: skip
    response = api.http.post("/xapi/statements", json=list(made.values()))
    assert response.status_code == 200, response.text
    catch_up(store, reducers(store))
    assert link(api, "chi", {"keys": [LMS, SCHOOL], "agents": [EID_AGENT]}).status_code == 200
    return made


def competencies(api: APIClient, url: str) -> dict[str, Any]:
    response = api.http.get(url, params={"framework": "digcomp-2.2"})
    assert response.status_code == 200, response.text
    return {c["code"]: c for c in response.json()["competences"]}


def levels(by_code: dict[str, Any]) -> dict[str, str | None]:
    return {code: c["level"] for code, c in by_code.items() if c["state"] != "not_started"}


def test_one_profile_for_three_keys(api: APIClient, person: dict[str, dict[str, Any]]) -> None:
    response = api.http.get("/api/v1/persons/chi/profile")
    assert response.status_code == 200, response.text
    profile = response.json()
    assert profile["person"] == "chi"
    assert profile["keys"] == sorted([LMS, SCHOOL, EID])
    assert profile["learner"] is None
    assert profile["statements"] == 5  # 2 (LMS) + 1 (e-ID) + 2 (school)
    assert profile["first_activity"] == "2025-09-08T01:00:00.000Z"
    assert profile["last_activity"] == "2025-09-20T13:00:00.000Z"
    assert set(profile["activities"]) == {
        QUIZ + "search-basics", QUIZ + "search-advanced", QUIZ + "privacy",
        "https://lms.example.edu.vn/page/1", "https://school.example.edu.vn/page/2",
    }  # fmt: skip
    # per key, the profiles stay separate
    for key, count in ((LMS, 2), (EID, 1), (SCHOOL, 2)):
        alone = api.http.get(f"/api/v1/learners/{path_key(key)}/profile").json()
        assert (alone["learner"], alone["statements"]) == (key, count)


def test_one_competency_status_for_three_keys(
    api: APIClient, person: dict[str, dict[str, Any]]
) -> None:
    response = api.http.get("/api/v1/persons/chi/competencies", params={"framework": "digcomp-2.2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["person"] == "chi"
    assert body["learner"] == "chi"
    assert body["keys"] == sorted([LMS, SCHOOL, EID])
    by_code = {c["code"]: c for c in body["competences"]}
    # search-basics under the LMS key and search-advanced under the e-ID key: two different
    # activities of the same person, so search-l4 (distinct_activities 2) holds -> 4
    assert levels(by_code) == {"1.1": "4", "4.2": "3"}
    assert by_code["1.1"]["evidence"] == sorted(
        [person["lms_quiz"]["id"], person["eid_quiz"]["id"]]
    )
    assert by_code["1.1"]["first_evidence"] == "2025-09-08T01:00:00.000Z"  # LMS
    assert by_code["1.1"]["last_evidence"] == "2025-09-20T13:00:00.000Z"  # e-ID
    assert by_code["4.2"]["evidence"] == [person["school_privacy"]["id"]]
    assert body["summary"]["achieved"] == 2

    # per key, each system alone shows only its own evidence: one quiz -> 2
    lms = competencies(api, f"/api/v1/learners/{path_key(LMS)}/competencies")
    assert levels(lms) == {"1.1": "2"}
    assert lms["1.1"]["evidence"] == [person["lms_quiz"]["id"]]
    assert levels(competencies(api, f"/api/v1/learners/{path_key(EID)}/competencies")) == {
        "1.1": "2"
    }
    assert levels(competencies(api, f"/api/v1/learners/{path_key(SCHOOL)}/competencies")) == {
        "4.2": "3"
    }
    # and the same key read by agent
    by_agent = api.http.get(
        "/api/v1/learners/competencies",
        params={"framework": "digcomp-2.2", "agent": json.dumps(EID_AGENT)},
    )
    assert by_agent.json()["learner"] == EID


def test_unlinking_a_key_removes_its_evidence_from_the_person(
    api: APIClient, person: dict[str, dict[str, Any]]
) -> None:
    assert api.http.delete(f"/api/v1/persons/chi/keys/{path_key(EID)}").status_code == 204
    chi = competencies(api, "/api/v1/persons/chi/competencies")
    assert levels(chi) == {"1.1": "2", "4.2": "3"}
    assert chi["1.1"]["evidence"] == [person["lms_quiz"]["id"]]
    assert chi["1.1"]["last_evidence"] == "2025-09-08T01:00:00.000Z"
    assert api.http.get("/api/v1/persons/chi/profile").json()["statements"] == 4
    # the key's own status is untouched
    assert levels(competencies(api, f"/api/v1/learners/{path_key(EID)}/competencies")) == {
        "1.1": "2"
    }
    # linked again (by agent), the evidence combines again
    assert link(api, "chi", {"agents": [EID_AGENT]}).status_code == 200
    assert levels(competencies(api, "/api/v1/persons/chi/competencies"))["1.1"] == "4"


def test_a_person_without_activity(api: APIClient, person: dict[str, dict[str, Any]]) -> None:
    link(api, "newcomer", {"keys": ["mbox:mailto:new@school.example.edu.vn"]})
    assert api.http.get("/api/v1/persons/newcomer/profile").status_code == 404
    by_code = competencies(api, "/api/v1/persons/newcomer/competencies")
    assert {c["state"] for c in by_code.values()} == {"not_started"}
    missing = api.http.get("/api/v1/persons/chi/competencies")
    assert missing.status_code == 400 and error_of(missing)["field"] == "framework"


def test_voiding_under_one_key_reaches_the_person(
    api: APIClient, person: dict[str, dict[str, Any]]
) -> None:
    void = {
        "actor": {"mbox": "mailto:teacher@school.example.edu.vn"},
        "verb": {"id": VERBS + "voided"},
        "object": {"objectType": "StatementRef", "id": person["eid_quiz"]["id"]},
    }
    assert api.http.post("/xapi/statements", json=void).status_code == 200
    store = api.http.app.state.store  # type: ignore[attr-defined]
    catch_up(store, reducers(store))
    assert levels(competencies(api, "/api/v1/persons/chi/competencies"))["1.1"] == "2"
    assert api.http.get("/api/v1/persons/chi/profile").json()["statements"] == 4


def test_cli_links_what_the_api_shows(api: APIClient, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    data = ["--data", str(tmp_path)]
    assert lrs_cli(["identity", "link", *data, "--person", "dung", LMS, EID]) == 0
    assert json.loads(capsys.readouterr().out) == {"person": "dung", "keys": sorted([LMS, EID])}
    assert api.http.get(f"/api/v1/learners/{path_key(EID)}/person").json()["person"] == "dung"
    assert lrs_cli(["identity", "unlink", *data, EID]) == 0
    assert api.http.get("/api/v1/persons/dung").json()["keys"] == [LMS]
    assert lrs_cli(["identity", "unlink", *data, EID]) == 2
    assert lrs_cli(["identity", "show", *data, "nobody"]) == 2


# ---------------------------------------------------------------------- national e-ID


def test_the_same_number_however_typed_is_the_same_account() -> None:
    plain = pseudonymise(NATIONAL_ID, SECRET)
    assert plain["homePage"] == DEFAULT_HOME_PAGE == "https://vneid.gov.vn"
    for typed in ("001 203 004 567", "001-203-004-567", " 001203004567\t", "001.203.004.567"):
        assert pseudonymise(typed, SECRET) == plain
    assert normalise_national_id("ab-12 cd") == "AB12CD"
    assert pseudonymise("ab12cd", SECRET) == pseudonymise("AB 12 CD", SECRET)


def test_different_numbers_and_secrets_give_different_accounts() -> None:
    plain = pseudonymise(NATIONAL_ID, SECRET)
    assert pseudonymise("001203004568", SECRET)["name"] != plain["name"]
    assert pseudonymise(NATIONAL_ID, SECRET + b"x")["name"] != plain["name"]
    assert pseudonymise(NATIONAL_ID, b"another-deployment-secret")["name"] != plain["name"]
    other = pseudonymise(NATIONAL_ID, SECRET, "https://id.example.gov")
    assert other == {"homePage": "https://id.example.gov", "name": plain["name"]}


def test_the_number_never_appears_in_the_account() -> None:
    import hashlib

    account = pseudonymise("001 203 004 567", SECRET)
    text = json.dumps(account)
    for form in (NATIONAL_ID, "001 203 004 567", "203004567"):
        assert form not in text
    assert len(account["name"]) == 64 and int(account["name"], 16) >= 0
    # not a plain hash of the number either (that could be reversed by trying numbers)
    assert account["name"] != hashlib.sha256(NATIONAL_ID.encode()).hexdigest()


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 15])
def test_a_short_secret_is_refused(secret: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        pseudonymise(NATIONAL_ID, secret)
    assert caught.value.field == "secret"
    assert NATIONAL_ID not in caught.value.message
    pseudonymise(NATIONAL_ID, b"x" * 16)  # 16 bytes is enough


@pytest.mark.parametrize("number", ["", "   ", "001203004567!", "٠٠١٢٠٣", "Đ01203004567"])
def test_a_malformed_number_is_refused(number: str) -> None:
    with pytest.raises(ValidationError) as caught:
        pseudonymise(number, SECRET)
    assert caught.value.field == "number"


def test_full_width_digits_are_the_same_number() -> None:
    """Typed through an IME, the number comes as full-width digits: still the same person."""
    full_width = "".join(chr(ord(d) - ord("0") + 0xFF10) for d in NATIONAL_ID)
    assert full_width != NATIONAL_ID
    assert pseudonymise(full_width, SECRET) == pseudonymise(NATIONAL_ID, SECRET)


def _cli(*args: str, secret: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    if secret is not None:
        env["LRS_IDENTITY_SECRET"] = secret
    return subprocess.run(
        [sys.executable, "-m", "lrs.cli", "identity", "pseudonymise", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_pseudonymise_needs_the_secret() -> None:
    done = _cli("001 203 004 567", secret=None)
    assert done.returncode == 2
    assert "LRS_IDENTITY_SECRET" in done.stderr
    assert done.stdout == ""
    assert "004" not in done.stderr


def test_cli_pseudonymise_prints_an_agent() -> None:
    done = _cli("001-203-004-567", secret=SECRET.decode())
    assert done.returncode == 0, done.stderr
    agent = json.loads(done.stdout)
    assert agent == {"objectType": "Agent", "account": pseudonymise(NATIONAL_ID, SECRET)}
    assert NATIONAL_ID not in done.stdout and "001-203-004-567" not in done.stdout
    done = _cli(NATIONAL_ID, "--home-page", "https://id.example.gov", secret="too-short")
    assert done.returncode == 2
    assert "16 bytes" in done.stderr


def test_cli_pseudonymise_home_page() -> None:
    done = _cli(NATIONAL_ID, "--home-page", "https://id.example.gov", secret=SECRET.decode())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["account"] == pseudonymise(
        NATIONAL_ID, SECRET, "https://id.example.gov"
    )
