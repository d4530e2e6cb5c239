"""Bugs the fuzzers found, each pinned by the smallest request that showed it.

(Statements nested past 254 levels, a 500 at the store, are pinned in tests/api/test_limits.py.)
"""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from tests.conftest import APIClient, basic_auth

STATE = {
    "activityId": "http://example.org/a",
    "agent": json.dumps({"mbox": "mailto:ann@example.org"}),
    "stateId": "s",
}


@pytest.mark.parametrize("value", [True, 5, 1.5])
def test_link_keys_that_are_not_an_array_is_400(api: APIClient, value: object) -> None:
    """schemathesis: POST /api/v1/persons/{person}/keys with {"keys": true} raised TypeError."""
    key, secret = api.credential(["admin"], name="admin")
    admin = {"Authorization": basic_auth(key, secret)}
    for name in ("keys", "agents"):
        response = api.http.post("/api/v1/persons/p-1/keys", json={name: value}, headers=admin)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == name


def test_merging_a_document_nested_past_what_can_be_written_is_400(client: TestClient) -> None:
    """POST (JSON merge) of a 300-level document parsed (orjson reads 1024 levels) but could
    not be written back (orjson writes 254): a 500 from the store."""
    deep = '{"a":' + "[" * 300 + "]" * 300 + "}"
    headers = {"Content-Type": "application/json"}
    for _ in range(2):  # the first POST creates, the second merges
        response = client.post("/xapi/activities/state", params=STATE, content=deep, headers=headers)
        assert response.status_code == 400, response.text
    assert client.get("/xapi/activities/state", params=STATE).status_code == 404
    # PUT stores any bytes as they are; a later merge into them is refused the same way
    assert client.put("/xapi/activities/state", params=STATE, content=deep, headers=headers).status_code == 204
    merge = client.post("/xapi/activities/state", params=STATE, json={"b": 1})
    assert merge.status_code == 400, merge.text
    assert client.get("/xapi/activities/state", params=STATE).content == deep.encode()
