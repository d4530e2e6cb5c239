"""State, Activity Profile and Agent Profile documents: concurrency, merging, listing, deleting."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from tests.conftest import basic_auth

ACTIVITY = "http://example.org/course/1"
AGENT = json.dumps({"objectType": "Agent", "mbox": "mailto:ann@example.org"})
OTHER_AGENT = json.dumps({"mbox": "mailto:bob@example.org"})
V2 = {"X-Experience-API-Version": "2.0.0"}
STATE = "/xapi/activities/state"
ACTIVITY_PROFILE = "/xapi/activities/profile"
AGENT_PROFILE = "/xapi/agents/profile"


def state_params(state_id: str | None = "s1", **extra: str) -> dict[str, str]:
    params = {"activityId": ACTIVITY, "agent": AGENT, **extra}
    if state_id is not None:
        params["stateId"] = state_id
    return params


# (path, parameters naming one document) for each kind of document
RESOURCES = {
    "state": (STATE, state_params()),
    "activity_profile": (ACTIVITY_PROFILE, {"activityId": ACTIVITY, "profileId": "p1"}),
    "agent_profile": (AGENT_PROFILE, {"agent": AGENT, "profileId": "p1"}),
}

RESOURCES_ID = {STATE: "stateId", ACTIVITY_PROFILE: "profileId", AGENT_PROFILE: "profileId"}


@pytest.fixture(params=sorted(RESOURCES))
def resource(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    return RESOURCES[request.param]


def put_json(
    client: TestClient, path: str, params: dict[str, str], value: Any, **headers: str
) -> httpx.Response:
    return client.put(
        path,
        params=params,
        content=json.dumps(value),
        headers={"Content-Type": "application/json", **headers},
    )


def create(client: TestClient, path: str, params: dict[str, str], value: Any) -> str:
    """Create a document (If-None-Match: *, which every version accepts) and return its ETag."""
    response = put_json(client, path, params, value, **{"If-None-Match": "*"})
    assert response.status_code == 204, response.text
    got = client.get(path, params=params)
    assert got.status_code == 200
    return got.headers["ETag"]


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] and error["message"]


def test_etag_is_quoted_and_changes_with_content(
    client: TestClient, resource: tuple[str, dict[str, str]]
) -> None:
    path, params = resource
    etag = create(client, path, params, {"v": 1})
    assert len(etag) > 2 and etag.startswith('"') and etag.endswith('"')
    got = client.get(path, params=params)
    assert got.json() == {"v": 1}
    assert got.headers["content-type"].startswith("application/json")
    assert parsedate_to_datetime(got.headers["Last-Modified"])

    assert put_json(client, path, params, {"v": 2}, **{"If-Match": etag}).status_code == 204
    updated = client.get(path, params=params)
    assert updated.json() == {"v": 2}
    assert updated.headers["ETag"] != etag


def test_if_match_mismatch_is_412_and_changes_nothing(
    client: TestClient, resource: tuple[str, dict[str, str]]
) -> None:
    path, params = resource
    etag = create(client, path, params, {"v": 1})
    stale = '"' + "0" * 40 + '"'
    assert_error(put_json(client, path, params, {"v": 2}, **{"If-Match": stale}), 412)
    assert_error(client.delete(path, params=params, headers={"If-Match": stale}), 412)
    got = client.get(path, params=params)
    assert got.json() == {"v": 1} and got.headers["ETag"] == etag
    # If-Match on a document that does not exist fails too
    missing = {**params, RESOURCES_ID[path]: "missing"}
    assert_error(put_json(client, path, missing, {"v": 1}, **{"If-Match": etag}), 412)
    assert client.get(path, params=missing).status_code == 404


def test_if_none_match_star_on_existing_is_412(
    client: TestClient, resource: tuple[str, dict[str, str]]
) -> None:
    path, params = resource
    create(client, path, params, {"v": 1})
    assert_error(put_json(client, path, params, {"v": 2}, **{"If-None-Match": "*"}), 412)
    assert client.get(path, params=params).json() == {"v": 1}


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize("path", [ACTIVITY_PROFILE, AGENT_PROFILE])
def test_profile_put_without_precondition_on_existing_is_409(
    client: TestClient, path: str, version: str
) -> None:
    params = RESOURCES["activity_profile" if path == ACTIVITY_PROFILE else "agent_profile"][1]
    create(client, path, params, {"v": 1})
    response = put_json(client, path, params, {"v": 2}, **{"X-Experience-API-Version": version})
    assert_error(response, 409)
    assert client.get(path, params=params).json() == {"v": 1}


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize("path", [ACTIVITY_PROFILE, AGENT_PROFILE])
def test_profile_put_without_precondition_creates_a_new_document(
    client: TestClient, path: str, version: str
) -> None:
    """xAPI asks for 409 only when the document exists; 1.0.x clients cannot send
    If-None-Match, so a new profile is created without one."""
    params = RESOURCES["activity_profile" if path == ACTIVITY_PROFILE else "agent_profile"][1]
    response = put_json(client, path, params, {"v": 1}, **{"X-Experience-API-Version": version})
    assert response.status_code == 204, response.text
    assert client.get(path, params=params).json() == {"v": 1}


@pytest.mark.parametrize("path", [ACTIVITY_PROFILE, AGENT_PROFILE])
def test_strict_profile_put_refuses_it_under_1_0_3_as_its_suite_expects(
    tmp_path: Path, path: str
) -> None:
    app = create_app(load_settings(data=str(tmp_path), processors=False, strict_profile_put=True))
    new = create_credential(app.state.store, "t", ["all"])
    auth = {"Authorization": basic_auth(new.credential.key, new.secret)}
    params = RESOURCES["activity_profile" if path == ACTIVITY_PROFILE else "agent_profile"][1]
    with TestClient(app) as strict:
        v1 = strict.put(path, params=params, json={"v": 1},
                        headers={**auth, "X-Experience-API-Version": "1.0.3"})
        assert v1.status_code == 400
        v2 = strict.put(path, params=params, json={"v": 1},
                        headers={**auth, "X-Experience-API-Version": "2.0.0"})
        assert v2.status_code == 204
    app.state.store.close()


def test_state_put_without_precondition_overwrites_under_1_0_3(client: TestClient) -> None:
    params = state_params()
    create(client, STATE, params, {"v": 1})
    assert put_json(client, STATE, params, {"v": 2}).status_code == 204
    assert client.get(STATE, params=params).json() == {"v": 2}
    # xAPI 2.0 extends the precondition rule to State
    assert_error(put_json(client, STATE, params, {"v": 3}, **V2), 409)


def test_post_merges_json_objects(client: TestClient, resource: tuple[str, dict[str, str]]) -> None:
    path, params = resource
    first = client.post(path, params=params, json={"a": 1, "b": {"x": 1}})
    assert first.status_code == 204, first.text
    assert client.post(path, params=params, json={"b": {"y": 2}, "c": 3}).status_code == 204
    got = client.get(path, params=params)
    assert got.json() == {"a": 1, "b": {"y": 2}, "c": 3}  # top-level properties replaced
    assert got.headers["content-type"].startswith("application/json")


def test_post_refuses_what_cannot_be_merged(
    client: TestClient, resource: tuple[str, dict[str, str]]
) -> None:
    path, params = resource
    not_json = client.post(
        path, params=params, content=b"plain", headers={"Content-Type": "text/plain"}
    )
    assert_error(not_json, 400)
    array = client.post(path, params=params, json=[1, 2])
    assert_error(array, 400)
    broken = client.post(
        path, params=params, content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error(broken, 400)
    assert client.get(path, params=params).status_code == 404

    # a stored document that is not JSON cannot be merged into
    text = client.put(
        path, params=params, content=b"plain", headers={"Content-Type": "text/plain", "If-None-Match": "*"}
    )
    assert text.status_code == 204
    assert_error(client.post(path, params=params, json={"a": 1}), 400)
    got = client.get(path, params=params)
    assert got.content == b"plain" and got.headers["content-type"].startswith("text/plain")


def test_binary_documents_round_trip(client: TestClient) -> None:
    data = bytes(range(256))
    params = state_params("blob")
    response = client.put(
        STATE, params=params, content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 204
    got = client.get(STATE, params=params)
    assert got.content == data
    assert got.headers["content-type"] == "application/octet-stream"


def test_state_ids_since(client: TestClient) -> None:
    create(client, STATE, state_params("old"), {"v": 1})
    time.sleep(0.005)
    since = datetime.now(UTC)  # the test and the LRS share a clock
    time.sleep(0.005)
    create(client, STATE, state_params("new"), {"v": 2})

    for spelled in (
        since.isoformat(timespec="milliseconds"),
        since.astimezone(timezone(timedelta(hours=7))).isoformat(timespec="milliseconds"),
    ):
        assert client.get(STATE, params=state_params(None, since=spelled)).json() == ["new"]
    assert client.get(STATE, params=state_params(None)).json() == ["new", "old"]
    future = "2999-01-01T00:00:00Z"
    assert client.get(STATE, params=state_params(None, since=future)).json() == []
    assert_error(client.get(STATE, params=state_params(None, since="last week")), 400)
    # since lists ids; it means nothing with a stateId
    assert_error(client.get(STATE, params=state_params("old", since=future)), 400)


def test_state_is_scoped_by_agent_and_registration(client: TestClient) -> None:
    registration = str(uuid.uuid4())
    create(client, STATE, state_params("s1"), {"plain": True})
    create(client, STATE, state_params("s1", registration=registration), {"registered": True})
    assert client.get(STATE, params=state_params("s1")).json() == {"plain": True}
    got = client.get(STATE, params=state_params("s1", registration=registration))
    assert got.json() == {"registered": True}
    other = {**state_params("s1"), "agent": OTHER_AGENT}
    assert client.get(STATE, params=other).status_code == 404
    # the same agent spelled differently is the same agent
    respelled = {**state_params("s1"), "agent": json.dumps({"mbox": "mailto:ann@example.org"})}
    assert client.get(STATE, params=respelled).json() == {"plain": True}


def test_delete_all_state_for_an_activity_and_agent(client: TestClient) -> None:
    for state_id in ("a", "b", "c"):
        create(client, STATE, state_params(state_id), {"id": state_id})
    kept = {**state_params("a"), "agent": OTHER_AGENT}
    create(client, STATE, kept, {"kept": True})

    response = client.delete(STATE, params=state_params(None))
    assert response.status_code == 204
    assert client.get(STATE, params=state_params(None)).json() == []
    for state_id in ("a", "b", "c"):
        assert client.get(STATE, params=state_params(state_id)).status_code == 404
    assert client.get(STATE, params=kept).json() == {"kept": True}


def test_delete_one_document(client: TestClient, resource: tuple[str, dict[str, str]]) -> None:
    path, params = resource
    etag = create(client, path, params, {"v": 1})
    assert client.delete(path, params=params, headers={"If-Match": etag}).status_code == 204
    assert_error(client.get(path, params=params), 404)
    # deleting what is not there is not an error
    assert client.delete(path, params=params).status_code == 204


def test_profiles_cannot_be_deleted_wholesale(client: TestClient) -> None:
    create(client, ACTIVITY_PROFILE, RESOURCES["activity_profile"][1], {"v": 1})
    response = client.delete(ACTIVITY_PROFILE, params={"activityId": ACTIVITY})
    assert_error(response, 400)
    assert client.get(ACTIVITY_PROFILE, params=RESOURCES["activity_profile"][1]).status_code == 200


def test_profile_ids_listing(client: TestClient) -> None:
    for profile_id in ("b", "a"):
        create(client, AGENT_PROFILE, {"agent": AGENT, "profileId": profile_id}, {})
    assert client.get(AGENT_PROFILE, params={"agent": AGENT}).json() == ["a", "b"]
    assert client.get(AGENT_PROFILE, params={"agent": OTHER_AGENT}).json() == []
    assert client.get(ACTIVITY_PROFILE, params={"activityId": ACTIVITY}).json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"agent": AGENT, "stateId": "s1"},  # no activityId
        {"activityId": ACTIVITY, "stateId": "s1"},  # no agent
        {"activityId": "not an iri", "agent": AGENT, "stateId": "s1"},
        {"activityId": ACTIVITY, "agent": "{nope", "stateId": "s1"},
        {"activityId": ACTIVITY, "agent": '{"name": "no ifi"}', "stateId": "s1"},
        {"activityId": ACTIVITY, "agent": AGENT, "stateId": "s1", "registration": "nope"},
        {"activityId": ACTIVITY, "agent": AGENT, "stateId": "s1", "colour": "red"},
    ],
)
def test_bad_state_parameters_are_400(client: TestClient, params: dict[str, str]) -> None:
    assert_error(client.put(STATE, params=params, json={}), 400)
    assert_error(client.get(STATE, params=params), 400)
