"""Credentials after `create` (issue 17, point 1): the admin API, and what every process
does with a revoked, rotated, expired or used credential."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from lrs.auth import Authenticator, create_credential
from lrs.storage import open_store
from tests.conftest import APIClient, basic_auth

ROOT = Path(__file__).resolve().parents[2]


def headers(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": basic_auth(key, secret)}


@pytest.fixture
def admin(api: APIClient) -> dict[str, str]:
    new = create_credential(api.http.app.state.store, "admin", ["admin"], role="admin")  # type: ignore[attr-defined]
    return headers(new.credential.key, new.secret)


def about_status(api: APIClient, auth: dict[str, str]) -> int:
    """A request that needs a credential (statements read)."""
    return api.http.get("/xapi/statements", headers=auth).status_code


def test_only_administrators_manage_credentials(api: APIClient, admin: dict[str, str]) -> None:
    assert api.http.get("/api/v1/credentials").status_code == 403  # the fixture's `all` one
    key, secret = api.credential(["auditor"])
    assert api.http.get("/api/v1/credentials", headers=headers(key, secret)).status_code == 403
    listed = api.http.get("/api/v1/credentials", headers=admin)
    assert listed.status_code == 200
    rows = listed.json()["credentials"]
    assert {row["name"] for row in rows} >= {"tests", "admin"}
    assert not any("secret" in row or "secret_hash" in row for row in rows)


def test_create_show_rotate_revoke_over_http(api: APIClient, admin: dict[str, str]) -> None:
    made = api.http.post(
        "/api/v1/credentials",
        json={"name": "Moodle", "scopes": ["statements/write", "statements/read"], "expires": "30d"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    new = made.json()
    assert new["role"] == "platform" and new["org"] == "default" and new["expires"]
    moodle = headers(new["key"], new["secret"])
    assert about_status(api, moodle) == 200
    shown = api.http.get(f"/api/v1/credentials/{new['key']}", headers=admin).json()
    assert shown["name"] == "Moodle" and "secret" not in shown
    rotated = api.http.post(
        f"/api/v1/credentials/{new['key']}/rotate", json={"grace": "1h"}, headers=admin
    ).json()
    assert about_status(api, moodle) == 200  # the old secret, within its grace period
    assert about_status(api, headers(new["key"], rotated["secret"])) == 200
    cut = api.http.post(f"/api/v1/credentials/{new['key']}/rotate", json={"grace": "0"}, headers=admin)
    assert cut.status_code == 200
    assert about_status(api, headers(new["key"], rotated["secret"])) == 401  # no grace: gone
    current = headers(new["key"], cut.json()["secret"])
    assert about_status(api, current) == 200
    revoked = api.http.post(f"/api/v1/credentials/{new['key']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"]
    refused = api.http.get("/xapi/statements", headers=current)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[]", "body"),
        (b'{"name": "x"}', "scopes"),
        (b'{"name": "x", "scopes": ["nope"]}', "body"),
        (b'{"name": "x", "scopes": ["all"], "expires": "soon"}', "expires"),
        (b'{"name": "x", "scopes": ["all"], "colour": "red"}', "colour"),
        (b'{"scopes": ["all"]}', "name"),
    ],
)
def test_bad_creations_name_the_field(
    api: APIClient, admin: dict[str, str], body: bytes, field: str
) -> None:
    response = api.http.post("/api/v1/credentials", content=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


def test_unknown_key_is_404(api: APIClient, admin: dict[str, str]) -> None:
    for method, path in (("GET", ""), ("POST", "/revoke"), ("POST", "/rotate")):
        response = api.http.request(method, f"/api/v1/credentials/nope{path}", headers=admin)
        assert response.status_code == 404


def test_a_revocation_by_another_process_is_refused_at_the_next_request(
    api: APIClient, tmp_path: Path
) -> None:
    """The CLI in its own process revokes; this server's cache of verified credentials
    (which would otherwise let the key in without reading the store) must not."""
    key, secret = api.credential(["statements/read"])
    auth = headers(key, secret)
    assert about_status(api, auth) == 200
    assert about_status(api, auth) == 200  # now cached
    done = subprocess.run(
        [sys.executable, "-m", "lrs.cli", "credentials", "revoke", key, "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert about_status(api, auth) == 401


def test_an_expired_credential_is_refused(api: APIClient) -> None:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    key, secret = api.credential(["statements/read"])
    assert about_status(api, headers(key, secret)) == 200
    expired = replace(store.get_credential(key), expires="2020-01-01T00:00:00.000Z")
    store.save_credential(expired)
    response = api.http.get("/xapi/statements", headers=headers(key, secret))
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_last_use_is_recorded_at_most_once_a_minute(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/lrs.db")
    try:
        new = create_credential(store, "lms", ["all"])
        now = [1_900_000_000.0]
        auth = Authenticator(store, clock=lambda: now[0])
        header = basic_auth(new.credential.key, new.secret)
        auth.authenticate(header)
        auth.flush()
        first = store.get_credential(new.credential.key)
        assert first is not None and first.last_used == "2030-03-17T17:46:40.000Z"
        now[0] += 30
        auth.authenticate(header)
        auth.flush()
        again = store.get_credential(new.credential.key)
        assert again is not None and again.last_used == first.last_used  # throttled
        now[0] += 31
        auth.authenticate(header)
        auth.flush()
        later = store.get_credential(new.credential.key)
        assert later is not None and later.last_used == "2030-03-17T17:47:41.000Z"
    finally:
        store.close()


def test_the_rotated_out_secret_stops_at_the_end_of_its_grace(tmp_path: Path) -> None:
    from datetime import timedelta

    from lrs.auth import rotate_credential

    store = open_store(f"sqlite:///{tmp_path}/lrs.db")
    try:
        new = create_credential(store, "lms", ["all"])
        rotated = rotate_credential(store, new.credential.key, timedelta(hours=1))
        assert rotated.credential.previous_until is not None
        from datetime import datetime

        until = datetime.fromisoformat(rotated.credential.previous_until.replace("Z", "+00:00"))
        now = [until.timestamp() - 1]
        auth = Authenticator(store, clock=lambda: now[0])
        old = basic_auth(new.credential.key, new.secret)
        assert auth.authenticate(old).key == new.credential.key
        now[0] += 2
        with pytest.raises(Exception, match="wrong secret"):
            auth.authenticate(old)
        assert auth.authenticate(basic_auth(new.credential.key, rotated.secret))
    finally:
        store.close()
