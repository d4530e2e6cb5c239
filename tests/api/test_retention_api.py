"""Retention over HTTP and scheduled by the embedded processors: policies and holds through
the admin API, a dry run that counts, a run that removes what is older than the policy
(evidence in the access log, whose chain still verifies), and the processors' child
process applying the policies on its own.

Statements are stored "40 days ago" by setting the SQLite adapter's clock back while they
are stored; everything else runs at the real time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import lrs.adapters.sqlite.base as sqlite_base
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from lrs.domain.records import AccessQuery
from lrs.ops import retention
from lrs.ops.audit import verify
from tests.conftest import basic_auth

VERSION = {"X-Experience-API-Version": "1.0.3"}


class _Past(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) - timedelta(days=40)


def _statement(learner: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.org/course/1"},
    }


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    app = create_app(load_settings(data=str(tmp_path), processors=False))
    store = app.state.store

    def auth(scopes: list[str], org: str | None = None, role: str | None = None) -> dict[str, str]:
        made = create_credential(store, "-".join(scopes), scopes, org, role=role)
        return {**VERSION, "Authorization": basic_auth(made.credential.key, made.secret)}

    with TestClient(app) as client:
        yield {
            "client": client,
            "store": store,
            "admin": auth(["admin"]),
            "auditor": auth(["auditor"]),
            "all": auth(["all"], "org-a"),
            "school": auth(["statements/read"], "org-a", role="school"),
        }


def _store_old(
    client: TestClient, headers: dict[str, str], statements: list[dict[str, Any]]
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite_base, "datetime", _Past)
        answer = client.post("/xapi/statements", json=statements, headers=headers)
    assert answer.status_code == 200, answer.text


def test_policies_need_an_admin_and_are_checked(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    url = "/api/v1/retention/policies/org-a/statements"
    put = client.put(url, json={"days": 30, "action": "anonymise"}, headers=world["admin"])
    assert put.status_code == 200, put.text
    assert put.json() == {
        "id": "org-a/statements",
        "org": "org-a",
        "data_class": "statements",
        "action": "anonymise",
        "days": 30,
        "projections": "recompute",
    }
    assert client.put(url, json={"days": 30}, headers=world["all"]).status_code == 403
    assert client.put(url, json={"days": 30}, headers=world["auditor"]).status_code == 403
    listed = client.get("/api/v1/retention/policies", headers=world["auditor"])
    assert listed.status_code == 200 and [p["id"] for p in listed.json()["policies"]] == [
        "org-a/statements"
    ]
    assert client.get("/api/v1/retention/policies", headers=world["all"]).status_code == 403
    for body, field in (
        ({"days": 0}, "days"),
        ({"days": "30"}, "days"),
        ({"days": 30, "action": "shred"}, "action"),
        ({"days": 30, "colour": "red"}, "colour"),
        ([], "body"),
    ):
        bad = client.put(url, json=body, headers=world["admin"])
        assert bad.status_code == 400, body
        assert bad.json()["error"]["field"] == field, bad.json()
    documents = client.put(
        "/api/v1/retention/policies/org-a/documents",
        json={"days": 9, "action": "anonymise"},
        headers=world["admin"],
    )
    assert documents.status_code == 400 and documents.json()["error"]["field"] == "action"
    unknown = client.put(
        "/api/v1/retention/policies/org-a/videos", json={"days": 9}, headers=world["admin"]
    )
    assert unknown.json()["error"]["field"] == "data_class"
    # the access log: deployment-wide, never shorter than the legal minimum (365 days)
    short = client.put(
        "/api/v1/retention/policies/*/access_log", json={"days": 30}, headers=world["admin"]
    )
    assert short.status_code == 400 and "at least 365 days" in short.json()["error"]["message"]
    per_org = client.put(
        "/api/v1/retention/policies/org-a/access_log", json={"days": 400}, headers=world["admin"]
    )
    assert per_org.status_code == 400 and per_org.json()["error"]["field"] == "org"
    ok = client.put(
        "/api/v1/retention/policies/*/access_log", json={"days": 400}, headers=world["admin"]
    )
    assert ok.status_code == 200
    assert client.delete(url, headers=world["admin"]).status_code == 204
    assert client.delete(url, headers=world["admin"]).status_code == 404


def test_holds_are_placed_listed_and_released(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    body = {
        "subject_type": "learner",
        "subject": "mbox:mailto:held@example.org",
        "reason": "case 12",
    }
    placed = client.post("/api/v1/retention/holds", json=body, headers=world["admin"])
    assert placed.status_code == 201, placed.text
    assert placed.json()["placed_by"] and placed.json()["reason"] == "case 12"
    assert (
        client.post("/api/v1/retention/holds", json=body, headers=world["all"]).status_code == 403
    )
    bad = client.post(
        "/api/v1/retention/holds", json={"subject_type": "class"}, headers=world["admin"]
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "subject_type"
    listed = client.get("/api/v1/retention/holds", headers=world["auditor"]).json()["holds"]
    assert [h["subject"] for h in listed] == ["mbox:mailto:held@example.org"]
    url = "/api/v1/retention/holds/learner/mbox:mailto:held@example.org"
    assert client.delete(url, headers=world["admin"]).status_code == 204
    assert client.delete(url, headers=world["admin"]).status_code == 404


def test_a_dry_run_then_a_run_remove_what_is_old_except_the_held(world: dict[str, Any]) -> None:
    client: TestClient = world["client"]
    old = [_statement("lan"), _statement("held")]
    _store_old(client, world["all"], old)
    recent = _statement("lan")
    assert client.post("/xapi/statements", json=recent, headers=world["all"]).status_code == 200
    client.put(
        "/api/v1/retention/policies/org-a/statements", json={"days": 30}, headers=world["admin"]
    )
    client.post(
        "/api/v1/retention/holds",
        json={"subject_type": "learner", "subject": "mbox:mailto:held@example.org"},
        headers=world["admin"],
    )
    client.get("/xapi/statements", headers=world["school"])  # a logged read, before the run
    dry = client.post("/api/v1/retention/runs?dry_run=true", headers=world["admin"])
    assert dry.status_code == 200, dry.text
    assert dry.json()["policies"] == [
        {
            "policy": "org-a/statements",
            "matched": 2,
            "held": 1,
            "deleted": 1,
            "anonymised": 0,
            "attachments_deleted": 0,
            "states_rebuilt": 0,
        }
    ]
    assert dry.json()["access_log_entry"] is None
    run = client.post("/api/v1/retention/runs", headers=world["admin"]).json()
    assert run["policies"][0]["deleted"] == 1 and run["access_log_entry"] == 4
    gone = client.get(
        "/xapi/statements", params={"statementId": old[0]["id"]}, headers=world["all"]
    )
    assert gone.status_code == 404
    for kept in (old[1], recent):
        got = client.get(
            "/xapi/statements", params={"statementId": kept["id"]}, headers=world["all"]
        )
        assert got.status_code == 200
    entries = client.get("/api/v1/audit", headers=world["auditor"]).json()["entries"]
    assert [e["what"] for e in entries] == [
        "retention/policy",
        "retention/hold",
        "xapi/statements",
        "retention/run",
    ]
    assert verify(world["store"])[1] is None
    assert (
        client.post("/api/v1/retention/runs?dry_run=maybe", headers=world["admin"]).status_code
        == 400
    )


def test_the_embedded_processors_schedule_retention_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lrs serve`'s processors' child process applies the policies on its own."""
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    settings = load_settings(
        data=str(tmp_path), processors=True, processor_process=True, retention_interval=0.5
    )
    app = create_app(settings)
    store = app.state.store
    made = create_credential(store, "platform", ["all"], "org-a")
    headers = {**VERSION, "Authorization": basic_auth(made.credential.key, made.secret)}
    old = _statement("lan")
    with TestClient(app) as client:
        _store_old(client, headers, [old])
        policy = {"org": "org-a", "data_class": "statements", "days": 30}
        retention.put_policy(store, retention.check_policy(policy, 365), made.credential)
        deadline = time.monotonic() + 30
        while store.get_statement(old["id"], voided=False) is not None:
            assert time.monotonic() < deadline, "no scheduled retention run within 30 s"
            time.sleep(0.2)
    (entry,) = [e for e in store.read_access(AccessQuery()) if e.what == "retention/run"]
    assert entry.credential == "lrs-retention"


def _lrs(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    return subprocess.run(
        [sys.executable, "-m", "lrs.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_the_cli_sets_policies_places_holds_and_runs(tmp_path: Path) -> None:
    data = ["--data", str(tmp_path)]
    made = _lrs(
        "retention", "set", "--org", "org-a", "--class", "statements", "--days", "30", *data
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["id"] == "org-a/statements"
    short = _lrs("retention", "set", "--org", "*", "--class", "access_log", "--days", "30", *data)
    assert short.returncode == 2 and "at least 365 days" in short.stderr
    held = _lrs("retention", "hold", "--person", "p-001", "--reason", "case 12", *data)
    assert held.returncode == 0 and json.loads(held.stdout)["placed_by"] == "cli"
    neither = _lrs("retention", "hold", *data)
    assert neither.returncode == 2 and "--person, --learner or --org" in neither.stderr
    dry = _lrs("retention", "run", "--dry-run", *data)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["dry_run"] is True
    assert [h["subject"] for h in json.loads(_lrs("retention", "holds", *data).stdout)] == ["p-001"]
    assert _lrs("retention", "release", "--person", "p-001", *data).returncode == 0
    assert _lrs("retention", "release", "--person", "p-001", *data).returncode == 2
