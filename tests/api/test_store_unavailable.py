"""A store that is locked, busy or unreachable answers 503 with Retry-After, never 500.

SQLite: another process holds the write lock past the busy timeout. MongoDB: the server
is down. Both are `StoreUnavailable` (lrs.domain.errors), mapped at the HTTP edge
(lrs.api.errors); nothing is stored, and the same request succeeds once the store is back.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lrs.adapters.mongodb import MongoStore
from lrs.adapters.sqlite import SQLiteStore
from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from lrs.ports import Store
from tests.conftest import basic_auth
from tests.servers import MongoServer

STATEMENT = {
    "actor": {"mbox": "mailto:a@example.org"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "http://example.org/act/1"},
}
STATE = "/xapi/activities/state"
STATE_PARAMS = {
    "activityId": "http://example.org/act/1",
    "agent": '{"mbox": "mailto:a@example.org"}',
    "stateId": "s",
}


def _client(tmp_path: Path, store: Store) -> tuple[TestClient, dict[str, str]]:
    for name in [k for k in os.environ if k.startswith("LRS_")]:
        os.environ.pop(name)
    app = create_app(load_settings(data=str(tmp_path), processors=False), store=store)
    new = create_credential(store, "tests", ["all"])
    headers = {
        "Authorization": basic_auth(new.credential.key, new.secret),
        "X-Experience-API-Version": "1.0.3",
    }
    return TestClient(app, raise_server_exceptions=False), headers


def _assert_503(response: object) -> None:
    status = response.status_code
    assert status == 503, response.text
    headers = response.headers
    assert int(headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "unavailable"


def test_a_locked_sqlite_file_answers_503_then_recovers(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "lrs.db", synchronous="OFF", busy_timeout=0.2)
    http, headers = _client(tmp_path, store)
    locker = sqlite3.connect(tmp_path / "lrs.db", isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another process writing, for longer than 0.2 s
        _assert_503(http.post("/xapi/statements", json=STATEMENT, headers=headers))
        _assert_503(http.put(STATE, params=STATE_PARAMS, json={"a": 1}, headers=headers))
        locker.execute("ROLLBACK")
        assert http.post("/xapi/statements", json=STATEMENT, headers=headers).status_code == 200
        assert (
            http.put(STATE, params=STATE_PARAMS, json={"a": 1}, headers=headers).status_code == 204
        )
    finally:
        locker.close()
        http.close()
        store.close()


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[MongoServer]:
    with MongoServer(tmp_path / "secantus") as running:
        yield running


def test_an_unreachable_mongodb_answers_503_then_recovers(
    tmp_path: Path, mongo: MongoServer
) -> None:
    url = mongo.url(f"lrs_{uuid.uuid4().hex[:12]}")
    store = MongoStore(url + "?serverSelectionTimeoutMS=500")
    http, headers = _client(tmp_path, store)
    try:
        mongo.stop()
        _assert_503(http.post("/xapi/statements", json=STATEMENT, headers=headers))
        _assert_503(http.get("/xapi/statements", headers=headers))
        _assert_503(http.put(STATE, params=STATE_PARAMS, json={"a": 1}, headers=headers))
        mongo.start()
        assert http.post("/xapi/statements", json=STATEMENT, headers=headers).status_code == 200
    finally:
        http.close()
        store.close()
