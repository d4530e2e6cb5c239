"""The access log over HTTP and the command line: auditors' and schools' reads are logged
(learners as pseudonyms only), `GET /api/v1/audit` reads the log, `lrs audit verify` checks
it and fails on a tampered one."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.auth import create_credential
from lrs.cli import main as lrs_cli
from lrs.ops.audit import pseudonym
from tests.conftest import APIClient, basic_auth

ANN = "mbox:mailto:ann@example.org"
BEN = "mbox:mailto:ben@example.org"


def post(api: APIClient, learner: str, verb: str = "completed") -> str:
    sid = str(uuid.uuid4())
    response = api.http.post(
        "/xapi/statements",
        json={
            "id": sid,
            "actor": {"mbox": f"mailto:{learner}@example.org"},
            "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
            "object": {"id": "http://example.org/course/1"},
        },
    )
    assert response.status_code == 200, response.text
    return sid


def auth(api: APIClient, role: str, scopes: list[str], **extra: Any) -> dict[str, str]:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    new = create_credential(store, role, scopes, role=role, **extra)
    return {"Authorization": basic_auth(new.credential.key, new.secret)}


@pytest.fixture
def people(api: APIClient) -> dict[str, dict[str, str]]:
    """Two learners' statements, folded into profiles, and one credential per role."""
    for learner in ("ann", "ann", "ben"):
        post(api, learner)
    catch_up(api.http.app.state.store, reducers(api.http.app.state.store))  # type: ignore[attr-defined]
    return {
        "auditor": auth(api, "auditor", ["auditor"]),
        "school": auth(api, "school", ["statements/read"], org="default"),
        "admin": auth(api, "admin", ["admin"]),
    }


def log(api: APIClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = api.http.get("/api/v1/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_auditor_and_school_reads_are_logged_platform_reads_are_not(
    api: APIClient, people: dict[str, dict[str, str]]
) -> None:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    agent = '{"mbox": "mailto:ann@example.org"}'
    api.http.get("/xapi/statements", params={"agent": agent})  # platform ("all"): not logged
    got = api.http.get("/xapi/statements", params={"agent": agent}, headers=people["auditor"])
    assert got.status_code == 200 and len(got.json()["statements"]) == 2
    sid = got.json()["statements"][0]["id"]
    assert api.http.get(
        "/xapi/statements", params={"statementId": sid}, headers=people["school"]
    ).status_code == 200
    assert api.http.get(
        f"/api/v1/learners/{quote(ANN, safe='')}/profile", headers=people["school"]
    ).status_code == 200
    assert api.http.get("/api/v1/learners", headers=people["auditor"]).status_code == 200

    entries = log(api, people["admin"])["entries"]
    assert [(e["what"], e["role"], e["count"]) for e in entries] == [
        ("xapi/statements", "auditor", 2),
        ("xapi/statement", "school", 1),
        ("learner/profile", "school", 1),
        ("learners", "auditor", 2),
    ]
    assert entries[0]["learner"] == entries[1]["learner"] == pseudonym(store, ANN)
    assert entries[3]["learner"] is None
    assert entries[0]["name"] == "auditor" and entries[0]["credential"]


def test_the_log_holds_no_learner_key_in_clear(
    api: APIClient, people: dict[str, dict[str, str]]
) -> None:
    api.http.get(f"/api/v1/learners/{quote(BEN, safe='')}/profile", headers=people["auditor"])
    response = api.http.get("/api/v1/audit", headers=people["auditor"])
    assert "ben@example.org" not in response.text
    assert response.json()["entries"][0]["learner"].startswith("hmac:")


def test_filters_and_pages(api: APIClient, people: dict[str, dict[str, str]]) -> None:
    for key in (ANN, BEN, ANN):
        api.http.get(f"/api/v1/learners/{quote(key, safe='')}/profile", headers=people["auditor"])
    api.http.get(f"/api/v1/learners/{quote(BEN, safe='')}/profile", headers=people["school"])
    admin = people["admin"]
    assert [e["seq"] for e in log(api, admin, learner=ANN)["entries"]] == [1, 3]
    auditor_key = log(api, admin)["entries"][0]["credential"]
    assert [e["seq"] for e in log(api, admin, credential=auditor_key)["entries"]] == [1, 2, 3]
    first = log(api, admin, limit=3)
    assert [e["seq"] for e in first["entries"]] == [1, 2, 3]
    following = api.http.get(first["next"], headers=admin).json()
    assert [e["seq"] for e in following["entries"]] == [4]
    assert following["head"]["seq"] == 4
    at = first["entries"][1]["at"]
    assert all(e["at"] > at for e in log(api, admin, since=at)["entries"])
    assert all(e["at"] <= at for e in log(api, admin, until=at)["entries"])
    bad = api.http.get("/api/v1/audit", params={"limit": "x"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"


def test_reading_the_log_is_logged_for_auditors(
    api: APIClient, people: dict[str, dict[str, str]]
) -> None:
    log(api, people["auditor"])
    entries = log(api, people["admin"])["entries"]
    assert [(e["what"], e["count"]) for e in entries] == [("audit", 0)]


@pytest.mark.parametrize("role, scopes", [("platform", ["all"]), ("school", ["statements/read"])])
def test_only_admins_and_auditors_read_the_log(
    api: APIClient, people: dict[str, dict[str, str]], role: str, scopes: list[str]
) -> None:
    response = api.http.get("/api/v1/audit", headers=auth(api, role, scopes, org="default"))
    assert response.status_code == 403
    assert api.http.get("/api/v1/audit", headers={"Authorization": ""}).status_code == 401


def test_an_auditor_of_some_organisations_sees_their_entries_only(
    api: APIClient, people: dict[str, dict[str, str]]
) -> None:
    api.http.get(f"/api/v1/learners/{quote(ANN, safe='')}/profile", headers=people["school"])
    elsewhere = auth(api, "auditor", ["auditor"], audits=["another-school"])
    assert log(api, elsewhere)["entries"] == []
    here = auth(api, "auditor", ["auditor"], audits=["default"])
    # (its own reads of the log are logged after they answer, under no organisation)
    assert [e["what"] for e in log(api, here)["entries"]] == ["learner/profile"]


def test_cli_verify_passes_then_fails_on_a_tampered_log(
    api: APIClient, people: dict[str, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        api.http.get(f"/api/v1/learners/{quote(ANN, safe='')}/profile", headers=people["auditor"])
    assert lrs_cli(["audit", "verify", "--data", str(tmp_path)]) == 0
    assert "intact: 3 entries" in capsys.readouterr().out
    assert lrs_cli(["audit", "head", "--data", str(tmp_path)]) == 0
    anchor = capsys.readouterr().out.strip()
    assert lrs_cli(["audit", "verify", "--data", str(tmp_path), "--anchor", anchor]) == 0
    capsys.readouterr()

    db = sqlite3.connect(tmp_path / "lrs-audit.db", isolation_level=None)
    db.execute("UPDATE access_log SET count = 0 WHERE seq = 2")
    assert lrs_cli(["audit", "verify", "--data", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "TAMPERED" in out and "entry 2 was changed" in out


def test_document_and_agent_reads_are_logged(
    api: APIClient, people: dict[str, dict[str, str]]
) -> None:
    agent = '{"mbox": "mailto:ann@example.org"}'
    put = api.http.put(
        "/xapi/agents/profile",
        params={"agent": agent, "profileId": "prefs"},
        json={"lang": "vi"},
        headers={"If-None-Match": "*"},
    )
    assert put.status_code == 204
    reader = people["auditor"]  # (a school credential would need the profile scope)
    assert api.http.get(
        "/xapi/agents/profile", params={"agent": agent, "profileId": "prefs"}, headers=reader
    ).status_code == 200
    assert api.http.get("/xapi/agents/profile", params={"agent": agent}, headers=reader).json() == ["prefs"]
    assert api.http.get(
        "/xapi/activities/state",
        params={"agent": agent, "activityId": "http://example.org/course/1"},
        headers=reader,
    ).status_code == 200
    assert api.http.get("/xapi/agents", params={"agent": agent}, headers=reader).status_code == 200
    store = api.http.app.state.store  # type: ignore[attr-defined]
    entries = log(api, people["admin"])["entries"]
    assert [(e["what"], e["count"]) for e in entries] == [
        ("xapi/agent_profile", 1),
        ("xapi/agent_profile", 1),
        ("xapi/state", 0),
        ("xapi/agents", 1),
    ]
    assert {e["learner"] for e in entries} == {pseudonym(store, ANN)}
    assert entries[2]["query"] == {"activityId": "http://example.org/course/1"}


def test_history_reads_are_logged(api: APIClient, people: dict[str, dict[str, str]]) -> None:
    pytest.importorskip("lrs.api.v1.history")
    path = f"/api/v1/learners/{quote(ANN, safe='')}/history"
    assert api.http.get(path, headers=people["auditor"]).status_code == 200
    exported = api.http.get(path, params={"format": "jsonl"}, headers=people["auditor"])
    assert exported.status_code == 200 and len(exported.text.splitlines()) == 2
    entries = log(api, people["admin"])["entries"]
    assert [(e["what"], e["count"]) for e in entries] == [
        ("learner/history", 2),
        ("learner/history", 2),
    ]
    assert entries[1]["query"] == {"format": "jsonl"}
