"""Erasure on request over HTTP and with `lrs erase`: an admin erases a person, the access
log records it with pseudonyms only, and `lrs rebuild` afterwards brings nothing back."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.auth import create_credential
from lrs.cli import main as lrs_cli
from lrs.ops.audit import pseudonym, verify
from tests.conftest import APIClient, basic_auth

ANN = "mbox:mailto:ann@example.org"
ANN_LMS = "account:https://lms.example.org|ann-7"
BEN = "mbox:mailto:ben@example.org"


def post(api: APIClient, actor: dict[str, Any], **extra: Any) -> str:
    sid = str(uuid.uuid4())
    statement = {
        "id": sid,
        "actor": actor,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.org/course/1"},
        **extra,
    }
    response = api.http.post("/xapi/statements", json=statement)
    assert response.status_code == 200, response.text
    return sid


@pytest.fixture
def world(api: APIClient) -> dict[str, Any]:
    """Ann (two accounts, linked as person p-ann) and Ben, whose statement names Ann as
    instructor; Ann's agent profile; profiles folded."""
    ann, ann_lms = {"mbox": "mailto:ann@example.org"}, {
        "account": {"homePage": "https://lms.example.org", "name": "ann-7"}
    }
    ids = {
        "ann": post(api, ann),
        "ann_lms": post(api, ann_lms),
        "ben": post(api, {"mbox": "mailto:ben@example.org"}, context={"instructor": ann}),
    }
    assert api.http.put(
        "/xapi/agents/profile",
        params={"agent": orjson.dumps(ann).decode(), "profileId": "prefs"},
        json={"lang": "vi"},
        headers={"If-None-Match": "*"},
    ).status_code == 204
    assert api.http.post(
        "/api/v1/persons/p-ann/keys", json={"keys": [ANN, ANN_LMS]}
    ).status_code == 200
    store = api.http.app.state.store  # type: ignore[attr-defined]
    catch_up(store, reducers(store))
    admin = create_credential(store, "dpo", ["admin"])
    return {
        "ids": ids,
        "admin": {"Authorization": basic_auth(admin.credential.key, admin.secret)},
        "store": store,
    }


def profile(api: APIClient, key: str) -> int:
    return api.http.get(f"/api/v1/learners/{quote(key, safe='')}/profile").status_code


def test_delete_person_erases_them_and_logs_it(api: APIClient, world: dict[str, Any]) -> None:
    assert profile(api, ANN) == 200 and profile(api, ANN_LMS) == 200
    response = api.http.delete("/api/v1/persons/p-ann", headers=world["admin"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["keys"] == 2
    assert body["erased"]["statements_deleted"] == 2
    assert body["erased"]["statements_pseudonymised"] == 1
    assert body["erased"]["documents_deleted"] == 1
    assert body["erased"]["identity_links_deleted"] == 2

    ids = world["ids"]
    for sid in (ids["ann"], ids["ann_lms"]):
        assert api.http.get("/xapi/statements", params={"statementId": sid}).status_code == 404
    ben = api.http.get("/xapi/statements", params={"statementId": ids["ben"]}).json()
    assert ben["context"]["instructor"]["account"]["name"] == "erased"
    assert profile(api, ANN) == 404 and profile(api, ANN_LMS) == 404 and profile(api, BEN) == 200
    assert api.http.get("/api/v1/persons/p-ann").status_code == 404
    everything = api.http.get("/xapi/statements").text
    assert "ann@example.org" not in everything and "ann-7" not in everything

    entries = api.http.get("/api/v1/audit", headers=world["admin"]).json()["entries"]
    [erasure] = [e for e in entries if e["action"] == "erase"]
    store = world["store"]
    assert erasure["learner"] == pseudonym(store, "p-ann") == body["subject"]
    assert sorted(erasure["query"]["keys"]) == sorted([pseudonym(store, ANN), pseudonym(store, ANN_LMS)])
    assert erasure["query"]["statements_deleted"] == 2 and erasure["count"] == 3
    assert erasure["role"] == "admin" and erasure["seq"] == body["access_log_entry"]
    text = orjson.dumps(entries).decode()
    assert "ann" not in text.replace(pseudonym(store, "p-ann"), "")
    assert verify(store) == (len(entries), None)


def test_post_erasure_by_agent_reaches_the_whole_person(
    api: APIClient, world: dict[str, Any]
) -> None:
    response = api.http.post(
        "/api/v1/erasures",
        json={"agents": [{"mbox": "mailto:ann@example.org"}]},
        headers=world["admin"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["keys"] == 2  # the linked LMS account too
    assert profile(api, ANN_LMS) == 404


def test_post_erasure_by_person(api: APIClient, world: dict[str, Any]) -> None:
    response = api.http.post("/api/v1/erasures", json={"person": "p-ann"}, headers=world["admin"])
    assert response.status_code == 200 and response.json()["erased"]["statements_deleted"] == 2


@pytest.mark.parametrize("scopes", [["all"], ["statements/read", "statements/write"]])
def test_only_admins_erase(api: APIClient, world: dict[str, Any], scopes: list[str]) -> None:
    key, secret = api.credential(scopes)
    headers = {"Authorization": basic_auth(key, secret)}
    assert api.http.delete("/api/v1/persons/p-ann", headers=headers).status_code == 403
    assert api.http.post(
        "/api/v1/erasures", json={"person": "p-ann"}, headers=headers
    ).status_code == 403
    assert profile(api, ANN) == 200


def test_unknown_person_and_bad_bodies(api: APIClient, world: dict[str, Any]) -> None:
    admin = world["admin"]
    assert api.http.delete("/api/v1/persons/nobody", headers=admin).status_code == 404
    for body in (b"nope", b"{}", b'{"person": "p-ann", "keys": ["mbox:mailto:x@y.org"]}'):
        response = api.http.post("/api/v1/erasures", content=body, headers=admin)
        assert response.status_code == 400, body


def test_cli_erase_then_rebuild_brings_nothing_back(
    api: APIClient, world: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    agent = '{"mbox": "mailto:ann@example.org"}'
    assert lrs_cli(["erase", "--yes", "--data", str(tmp_path), "--agent", agent]) == 0
    done = orjson.loads(capsys.readouterr().out)
    assert done["erased"]["statements_deleted"] == 2
    assert lrs_cli(["rebuild", "--data", str(tmp_path)]) == 0
    assert profile(api, ANN) == 404 and profile(api, ANN_LMS) == 404 and profile(api, BEN) == 200
    assert lrs_cli(["audit", "verify", "--data", str(tmp_path)]) == 0
    assert "intact: 1 entries" in capsys.readouterr().out
    assert lrs_cli(["erase", "--data", str(tmp_path)]) == 2
