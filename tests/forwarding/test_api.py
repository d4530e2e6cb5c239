"""The forwarding admin API (in process): who may use it, what it validates, what it shows
of secrets, and the actions on a rule."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import APIClient

RULES = "/api/v1/forwarding/rules"


def auth(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


@pytest.fixture
def admin(api: APIClient) -> dict[str, str]:
    return auth(*api.credential(["all", "admin"], name="admin"))


def xapi_rule(**extra: Any) -> dict[str, Any]:
    return {
        "name": "district LRS",
        "match": {"verbs": ["http://adlnet.gov/expapi/verbs/completed"], "orgs": ["school-a"]},
        "destination": {
            "kind": "xapi",
            "url": "https://district.example/xapi",
            "username": "school-a",
            "password": "correct horse battery staple",
        },
        **extra,
    }


def test_only_administrators_manage_forwarding(api: APIClient, admin: dict[str, str]) -> None:
    refused = api.http.get(RULES)  # an `all` credential, not admin
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "Authorization"
    assert api.http.post(RULES, json=xapi_rule()).status_code == 403
    assert api.http.get(RULES, headers=admin).json() == {"rules": []}


def test_a_rule_is_created_listed_replaced_and_deleted_without_showing_its_secret(
    api: APIClient, admin: dict[str, str]
) -> None:
    created = api.http.post(RULES, json=xapi_rule(), headers=admin)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["destination"] == {
        "kind": "xapi",
        "url": "https://district.example/xapi",
        "username": "school-a",
        "secret": "…aple",
    }
    assert "correct horse" not in created.text and "secret" not in {
        k for k in rule if k != "destination"
    }
    assert rule["state"]["delivered"] == 0 and rule["paused"] is False
    path = f"{RULES}/{rule['id']}"
    assert api.http.get(path, headers=admin).json() == rule
    assert api.http.get(RULES, headers=admin).json() == {"rules": [rule]}
    body = xapi_rule(name="renamed", batch=50)
    del body["destination"]["password"]  # left out: the stored one is kept
    replaced = api.http.put(path, json=body, headers=admin)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "renamed" and replaced.json()["batch"] == 50
    assert replaced.json()["destination"]["secret"] == "…aple"
    assert api.http.request("DELETE", path, headers=admin).status_code == 204
    missing = api.http.get(path, headers=admin)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "rule"


def test_a_webhook_rule_without_a_secret_gets_one_shown_once(
    api: APIClient, admin: dict[str, str]
) -> None:
    body = {"name": "hook", "destination": {"kind": "webhook", "url": "http://127.0.0.1:9/h"}}
    created = api.http.post(RULES, json=body, headers=admin).json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["destination"]["secret"] == "…" + created["secret"][-4:]
    shown = api.http.get(f"{RULES}/{created['id']}", headers=admin).json()
    assert "secret" not in shown


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"batch": 0}, "batch"),
        ({"max_attempts": True}, "max_attempts"),
        ({"paused": "no"}, "paused"),
        ({"colour": "red"}, "colour"),
        ({"match": {"verbs": ["ok", 3]}}, "match.verbs[1]"),
        ({"match": {"actors": ["ann@example.org"]}}, "match.actors[0]"),
        ({"match": {"profiles": []}}, "match.profiles"),
        ({"match": []}, "match"),
        ({"destination": {"kind": "ftp", "url": "ftp://x"}}, "destination.kind"),
        ({"destination": {"kind": "xapi", "url": "lrs.example", "username": "u", "password": "p"}},
         "destination.url"),
        ({"destination": {"kind": "xapi", "url": "https://u:p@lrs.example/xapi",
                          "username": "u", "password": "p"}}, "destination.url"),
        ({"destination": {"kind": "xapi", "url": "https://lrs.example/xapi", "password": "p"}},
         "destination.username"),
        ({"destination": {"kind": "xapi", "url": "https://lrs.example/xapi", "username": "u"}},
         "destination.password"),
        ({"destination": {"kind": "webhook", "url": "https://h.example", "secret": "short"}},
         "destination.secret"),
        ({"destination": {"kind": "webhook", "url": "https://h.example", "password": "p"}},
         "destination.password"),
    ],
)
def test_bad_rules_are_refused_naming_the_field_and_change_nothing(
    api: APIClient, admin: dict[str, str], change: dict[str, Any], field: str
) -> None:
    response = api.http.post(RULES, json={**xapi_rule(), **change}, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert api.http.get(RULES, headers=admin).json() == {"rules": []}


def test_a_body_that_is_not_json_is_refused(api: APIClient, admin: dict[str, str]) -> None:
    response = api.http.post(RULES, content=b"{nope", headers=admin)
    assert response.status_code == 400 and response.json()["error"]["field"] == "body"


def test_pause_resume_replay_and_dead_letters(api: APIClient, admin: dict[str, str]) -> None:
    rule = api.http.post(RULES, json=xapi_rule(), headers=admin).json()
    path = f"{RULES}/{rule['id']}"
    assert api.http.post(path + "/pause", headers=admin).json()["paused"] is True
    assert api.http.post(path + "/resume", headers=admin).json()["paused"] is False
    replay = api.http.post(path + "/replay", json={"since": "2020-01-01"}, headers=admin)
    assert replay.status_code == 200 and replay.json() == {"rule": rule["id"], "count": 0, "offset": 0}
    bad = api.http.post(path + "/replay", json={"since": "last week"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"
    page = api.http.get(path + "/dead-letters", headers=admin)
    assert page.json() == {"dead_letters": [], "more": None}
    limit = api.http.get(path + "/dead-letters?limit=0", headers=admin)
    assert limit.status_code == 400 and limit.json()["error"]["field"] == "limit"
    again = api.http.post(path + "/dead-letters/replay", headers=admin)
    assert again.json() == {"rule": rule["id"], "count": 0}
    wrong = api.http.post(path + "/dead-letters/replay", json={"offsets": ["x"]}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "offsets"
    assert api.http.post(f"{RULES}/nope/pause", headers=admin).status_code == 404
