"""The Statement resource over HTTP, as a demanding LRS client relies on it."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson
import pytest
from starlette.testclient import TestClient

from consumers.reducers.profiles import REDUCER as PROFILES
from consumers.runtime.local import catch_up
from tests.conftest import APIClient, basic_auth

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
V2 = {"X-Experience-API-Version": "2.0.0"}


def statement(
    learner: str = "ann", verb: str = COMPLETED, activity: str = "course/1", **extra: Any
) -> dict[str, Any]:
    return {
        "actor": {"objectType": "Agent", "name": learner.title(), "mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {"objectType": "Activity", "id": f"http://example.org/{activity}"},
        **extra,
    }


def post(client: TestClient, body: Any, **kwargs: Any) -> list[str]:
    response = client.post("/xapi/statements", json=body, **kwargs)
    assert response.status_code == 200, response.text
    ids = response.json()
    assert isinstance(ids, list)
    return ids


def get_one(client: TestClient, statement_id: str, **params: str) -> httpx.Response:
    return client.get("/xapi/statements", params={"statementId": statement_id, **params})


def get_one_v2(client: TestClient, statement_id: str) -> httpx.Response:
    return client.get("/xapi/statements", params={"statementId": statement_id}, headers=V2)


def query(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every statement of a query, following `more` to the end."""
    response = client.get("/xapi/statements", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = []
    for _ in range(100):
        page = response.json()
        found += page["statements"]
        if not page["more"]:
            return found
        response = client.get(page["more"])
        assert response.status_code == 200, response.text
    raise AssertionError("more links never end")


def ids_of(statements: list[dict[str, Any]]) -> list[str]:
    return [s["id"] for s in statements]


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "field"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error.get("field") == field, error
    return error


# writing ------------------------------------------------------------------------------------
def test_post_single_statement_returns_its_new_id(client: TestClient) -> None:
    [statement_id] = post(client, statement())
    assert uuid.UUID(statement_id)
    stored = get_one(client, statement_id).json()
    assert stored["id"] == statement_id
    assert stored["actor"]["mbox"] == "mailto:ann@example.org"
    assert stored["authority"]["account"]["name"]
    assert stored["stored"].endswith("Z")


def test_post_batch_returns_ids_in_order_keeping_client_ids(client: TestClient) -> None:
    own = str(uuid.uuid4()).upper()
    ids = post(client, [statement("a"), statement("b", id=own), statement("c")])
    assert len(ids) == 3 and len(set(ids)) == 3
    assert ids[1] == own.lower()
    for learner, statement_id in zip("abc", ids, strict=True):
        assert get_one(client, statement_id).json()["actor"]["mbox"] == f"mailto:{learner}@example.org"


def test_put_with_statement_id_returns_204(client: TestClient) -> None:
    statement_id = str(uuid.uuid4())
    response = client.put("/xapi/statements", params={"statementId": statement_id}, json=statement())
    assert response.status_code == 204
    assert response.content == b""
    assert get_one(client, statement_id).json()["id"] == statement_id


def test_put_requires_statement_id_matching_the_body(client: TestClient) -> None:
    assert_error(client.put("/xapi/statements", json=statement()), 400, "statementId")
    body = statement(id=str(uuid.uuid4()))
    response = client.put("/xapi/statements", params={"statementId": str(uuid.uuid4())}, json=body)
    assert_error(response, 400, "id")


def test_same_id_same_content_again_is_204_and_stored_once(client: TestClient) -> None:
    statement_id = str(uuid.uuid4())
    body = statement(timestamp="2024-05-01T10:00:00.000Z")
    params = {"statementId": statement_id}
    assert client.put("/xapi/statements", params=params, json=body).status_code == 204
    first = get_one(client, statement_id).json()
    assert client.put("/xapi/statements", params=params, json=body).status_code == 204
    assert post(client, {**body, "id": statement_id}) == [statement_id]
    assert ids_of(query(client)) == [statement_id]
    assert get_one(client, statement_id).json()["stored"] == first["stored"]


def test_same_id_different_content_is_409_and_changes_nothing(client: TestClient) -> None:
    statement_id = str(uuid.uuid4())
    params = {"statementId": statement_id}
    assert client.put("/xapi/statements", params=params, json=statement("ann")).status_code == 204
    before = get_one(client, statement_id).json()

    assert_error(client.put("/xapi/statements", params=params, json=statement("bob")), 409)
    # in a batch, the conflict fails the whole batch
    fresh = str(uuid.uuid4())
    response = client.post(
        "/xapi/statements", json=[statement("cat", id=fresh), statement("bob", id=statement_id)]
    )
    assert_error(response, 409)
    assert get_one(client, statement_id).json() == before
    assert get_one(client, fresh).status_code == 404
    assert ids_of(query(client)) == [statement_id]


def test_batch_is_all_or_nothing(client: TestClient) -> None:
    good = str(uuid.uuid4())
    bad = statement("bob")
    bad["actor"] = {"mbox": "bob@example.org"}  # no mailto:
    response = client.post("/xapi/statements", json=[statement("ann", id=good), bad, statement("cat")])
    error = assert_error(response, 400)
    assert error["field"].startswith("[1].actor"), error
    assert get_one(client, good).status_code == 404
    assert query(client) == []


def test_validation_error_names_the_field(client: TestClient) -> None:
    body = statement()
    del body["verb"]
    error = assert_error(client.post("/xapi/statements", json=body), 400)
    assert set(error) == {"code", "message", "field"}
    assert error["field"] == "verb"
    assert error["code"] == "invalid"

    body = statement()
    body["verb"]["id"] = "not an iri"
    assert assert_error(client.post("/xapi/statements", json=body), 400)["field"].startswith("verb.id")
    assert query(client) == []


def test_statement_with_unknown_property_is_refused(client: TestClient) -> None:
    assert_error(client.post("/xapi/statements", json={**statement(), "colour": "red"}), 400)


# reading ------------------------------------------------------------------------------------
@pytest.mark.parametrize("ascending", [False, True])
def test_more_links_survive_statements_arriving_between_pages(
    client: TestClient, ascending: bool
) -> None:
    original = post(client, [statement(f"l{i}") for i in range(7)])
    params = {"limit": "2", "ascending": str(ascending).lower()}
    response = client.get("/xapi/statements", params=params)
    seen: list[str] = []
    arrived: list[str] = []
    for _ in range(20):
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["statements"]) <= 2
        seen += ids_of(page["statements"])
        arrived += post(client, statement("newcomer"))
        if not page["more"]:
            break
        assert page["more"].startswith("/xapi/statements?more=")
        response = client.get(page["more"])
    else:
        raise AssertionError("more links never end")

    assert len(seen) == len(set(seen)), "a statement was returned twice"
    in_order = [i for i in seen if i in original]
    # the batch shares one stored time, so its order is the order of the array
    assert in_order == (original if ascending else original[::-1])
    if not ascending:
        assert not set(arrived) & set(seen), "descending pages must not reach newer statements"


def test_limit_caps_the_page_and_more_is_empty_at_the_end(client: TestClient) -> None:
    post(client, [statement(f"l{i}") for i in range(3)])
    page = client.get("/xapi/statements", params={"limit": "3"}).json()
    assert len(page["statements"]) == 3
    assert page["more"] == ""
    page = client.get("/xapi/statements", params={"limit": "2"}).json()
    assert len(page["statements"]) == 2 and page["more"]


def more_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


@pytest.mark.parametrize(
    "state",
    [
        None,
        [1],
        "text",
        {"format": "exact", "attachments": False, "limit": "2"},
        {"format": "exact", "attachments": False, "limit": 0},
        {"format": "exact", "attachments": False, "limit": -3},
        {"format": "exact", "attachments": False, "limit": 2, "cursor": "9"},
        {"format": "exact", "attachments": False, "limit": 2, "cursor": 2**64 - 1},
        {"format": "exact", "attachments": False, "limit": 2, "ascending": "yes"},
        {"format": "exact", "attachments": False, "limit": 2, "agent": 5},
        {"format": "exact", "attachments": False, "limit": 2, "colour": "red"},
        {"format": "pretty", "attachments": False, "limit": 2},
        {"format": "exact", "attachments": "no", "limit": 2},
    ],
)
def test_an_edited_more_token_is_refused(client: TestClient, state: Any) -> None:
    """A `more` token is opaque, but a client can still decode, edit and send it back."""
    post(client, [statement(f"l{i}") for i in range(3)])
    response = client.get("/xapi/statements", params={"more": more_token(state)})
    assert_error(response, 400, "more")


def test_a_more_token_cannot_raise_the_page_size(client: TestClient) -> None:
    post(client, [statement(f"l{i}") for i in range(5)])
    page_size = client.app.state.settings.page_size  # type: ignore[attr-defined]
    client.app.state.settings = replace(client.app.state.settings, page_size=2)  # type: ignore[attr-defined]
    first = client.get("/xapi/statements").json()
    assert len(first["statements"]) == 2
    token = first["more"].split("more=", 1)[1]
    state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    state["limit"] = page_size * 10
    page = client.get("/xapi/statements", params={"more": more_token(state)}).json()
    assert len(page["statements"]) == 2


def test_filters_agent_verb_activity_registration(client: TestClient) -> None:
    registration = str(uuid.uuid4())
    ann_done, ann_tried, bob_done = post(
        client,
        [
            statement("ann", COMPLETED, "course/1", context={"registration": registration}),
            statement("ann", ATTEMPTED, "course/2"),
            statement("bob", COMPLETED, "course/2"),
        ],
    )
    ann = '{"mbox": "mailto:ann@example.org"}'
    assert set(ids_of(query(client, agent=ann))) == {ann_done, ann_tried}
    assert set(ids_of(query(client, verb=COMPLETED))) == {ann_done, bob_done}
    assert set(ids_of(query(client, activity="http://example.org/course/2"))) == {ann_tried, bob_done}
    assert ids_of(query(client, registration=registration.upper())) == [ann_done]
    assert ids_of(query(client, agent=ann, verb=COMPLETED)) == [ann_done]
    assert query(client, agent='{"mbox": "mailto:nobody@example.org"}') == []


def test_related_agents_and_activities(client: TestClient) -> None:
    [with_instructor] = post(
        client,
        statement(
            "ann",
            context={
                "instructor": {"mbox": "mailto:teacher@example.org"},
                "contextActivities": {"parent": {"id": "http://example.org/program"}},
            },
        ),
    )
    teacher = '{"mbox": "mailto:teacher@example.org"}'
    assert query(client, agent=teacher) == []
    assert ids_of(query(client, agent=teacher, related_agents="true")) == [with_instructor]
    program = "http://example.org/program"
    assert query(client, activity=program) == []
    assert ids_of(query(client, activity=program, related_activities="true")) == [with_instructor]


def test_since_and_until(client: TestClient) -> None:
    ids = []
    for learner in ("ann", "bob", "cat"):
        ids += post(client, statement(learner))
        time.sleep(0.005)  # each request in its own millisecond
    stored = [get_one(client, i).json()["stored"] for i in ids]
    assert stored == sorted(stored) and len(set(stored)) == 3

    assert set(ids_of(query(client, since=stored[0]))) == {ids[1], ids[2]}
    assert set(ids_of(query(client, until=stored[1]))) == {ids[0], ids[1]}
    assert ids_of(query(client, since=stored[0], until=stored[1])) == [ids[1]]
    # the same instant written with another offset
    moment = datetime.strptime(stored[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    for hours in (7, -5):
        spelled = moment.astimezone(timezone(timedelta(hours=hours))).isoformat(timespec="milliseconds")
        assert not spelled.endswith("Z")
        assert set(ids_of(query(client, since=spelled))) == {ids[1], ids[2]}
    assert_error(client.get("/xapi/statements", params={"since": "yesterday"}), 400, "since")


def test_voiding_hides_the_voided_statement(client: TestClient) -> None:
    target, kept = post(client, [statement("ann"), statement("ann", ATTEMPTED)])
    voiding = {
        "actor": {"mbox": "mailto:admin@example.org"},
        "verb": {"id": VOIDED},
        "object": {"objectType": "StatementRef", "id": target},
    }
    [voiding_id] = post(client, voiding)

    assert_error(get_one(client, target), 404, "statementId")
    voided = client.get("/xapi/statements", params={"voidedStatementId": target})
    assert voided.status_code == 200 and voided.json()["id"] == target
    assert get_one(client, voiding_id).json()["object"]["id"] == target
    assert client.get("/xapi/statements", params={"voidedStatementId": kept}).status_code == 404

    everything = ids_of(query(client))
    assert target not in everything
    assert set(everything) == {kept, voiding_id}
    assert ids_of(query(client, verb=VOIDED)) == [voiding_id]
    # a filter the voided statement matches finds the voiding statement, not the voided one
    assert target not in ids_of(query(client, agent='{"mbox": "mailto:ann@example.org"}'))


def test_a_voiding_statement_cannot_be_voided(client: TestClient) -> None:
    [target] = post(client, statement())
    void = {"actor": {"mbox": "mailto:x@example.org"}, "verb": {"id": VOIDED}}
    [voiding] = post(client, {**void, "object": {"objectType": "StatementRef", "id": target}})
    response = client.post(
        "/xapi/statements", json={**void, "object": {"objectType": "StatementRef", "id": voiding}}
    )
    assert_error(response, 400)
    assert get_one(client, voiding).status_code == 200


def test_statement_ref_matches_the_filters_of_its_target(client: TestClient) -> None:
    later_target = str(uuid.uuid4())
    # a reference stored before its target must match once the target arrives
    [early_ref] = post(
        client,
        statement("bob", "http://example.org/verbs/liked", object={"objectType": "StatementRef", "id": later_target}),
    )
    [target] = post(client, statement("ann", COMPLETED, id=later_target))
    [ref] = post(
        client,
        statement("cat", "http://example.org/verbs/commented", object={"objectType": "StatementRef", "id": target}),
    )
    assert set(ids_of(query(client, verb=COMPLETED))) == {target, early_ref, ref}
    assert ids_of(query(client, verb="http://example.org/verbs/commented")) == [ref]
    ann = '{"mbox": "mailto:ann@example.org"}'
    assert set(ids_of(query(client, agent=ann))) == {target, early_ref, ref}


def without_type(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "objectType"}


def test_format_ids(client: TestClient) -> None:
    body = statement()
    body["object"]["definition"] = {"name": {"en-US": "Course"}}
    [statement_id] = post(client, body)
    got = get_one(client, statement_id, format="ids").json()
    assert without_type(got["actor"]) == {"mbox": "mailto:ann@example.org"}
    assert got["verb"] == {"id": COMPLETED}
    assert without_type(got["object"]) == {"id": "http://example.org/course/1"}
    assert "name" not in got["authority"]
    listed = client.get("/xapi/statements", params={"format": "ids"}).json()["statements"]
    assert listed[0]["verb"] == {"id": COMPLETED}
    assert_error(get_one(client, statement_id, format="short"), 400, "format")


def test_format_canonical_picks_the_accepted_language(client: TestClient) -> None:
    body = statement()
    body["verb"]["display"] = {"en-US": "completed", "fr-FR": "terminé", "vi": "hoàn thành"}
    body["object"]["definition"] = {"name": {"en-US": "Course", "vi": "Khóa học"}}
    [statement_id] = post(client, body)

    got = get_one(client, statement_id, format="canonical").json()
    assert len(got["verb"]["display"]) == 1
    vi = client.get(
        "/xapi/statements",
        params={"statementId": statement_id, "format": "canonical"},
        headers={"Accept-Language": "vi, en;q=0.5"},
    ).json()
    assert vi["verb"]["display"] == {"vi": "hoàn thành"}
    assert vi["object"]["definition"]["name"] == {"vi": "Khóa học"}
    fr = client.get(
        "/xapi/statements",
        params={"format": "canonical"},
        headers={"Accept-Language": "fr"},
    ).json()["statements"][0]
    assert fr["verb"]["display"] == {"fr-FR": "terminé"}
    exact = get_one(client, statement_id).json()
    assert len(exact["verb"]["display"]) == 3


def _multipart(statement_json: bytes, data: bytes, boundary: str = "b0undary") -> bytes:
    sha2 = hashlib.sha256(data).hexdigest()
    return (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode()
        + statement_json
        + f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n"
        f"Content-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {sha2}\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_attachments_round_trip_as_multipart_mixed(client: TestClient) -> None:
    data = b"certificate of completion\n"
    body = statement()
    body["attachments"] = [
        {
            "usageType": "http://id.tincanapi.com/attachment/certificate",
            "display": {"en-US": "Certificate"},
            "contentType": "text/plain",
            "length": len(data),
            "sha2": hashlib.sha256(data).hexdigest(),
        }
    ]
    response = client.post(
        "/xapi/statements",
        content=_multipart(orjson.dumps(body), data),
        headers={"Content-Type": "multipart/mixed; boundary=b0undary"},
    )
    assert response.status_code == 200, response.text
    [statement_id] = response.json()

    plain = get_one(client, statement_id)
    assert plain.headers["content-type"].startswith("application/json")
    with_data = get_one(client, statement_id, attachments="true")
    assert with_data.status_code == 200
    content_type = with_data.headers["content-type"]
    assert content_type.startswith("multipart/mixed") and "boundary=" in content_type
    boundary = content_type.split("boundary=", 1)[1].strip('"')
    assert with_data.content.count(b"--" + boundary.encode()) == 3
    assert data in with_data.content
    assert hashlib.sha256(data).hexdigest().encode() in with_data.content

    listed = client.get("/xapi/statements", params={"attachments": "true"})
    assert listed.headers["content-type"].startswith("multipart/mixed")
    assert data in listed.content

    # raw attachment data needs multipart: the same statement as plain JSON is refused
    assert_error(client.post("/xapi/statements", json=body), 400)


def test_consistent_through_and_last_modified(client: TestClient) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    [statement_id] = post(client, statement())
    for response in (get_one(client, statement_id), client.get("/xapi/statements")):
        assert response.status_code == 200
        consistent = response.headers["X-Experience-API-Consistent-Through"]
        assert datetime.fromisoformat(consistent.replace("Z", "+00:00")) >= before
        assert parsedate_to_datetime(response.headers["Last-Modified"]) >= before
    # even an error answer from the statement resource says it
    missing = get_one(client, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert "X-Experience-API-Consistent-Through" in missing.headers


# versions -----------------------------------------------------------------------------------
def test_version_2_0_is_answered_as_2_0_0(client: TestClient) -> None:
    response = client.post("/xapi/statements", json=statement(), headers=V2)
    assert response.status_code == 200
    assert response.headers["X-Experience-API-Version"] == "2.0.0"
    stored = get_one(client, response.json()[0]).json()
    assert stored["version"] == "2.0.0"
    assert client.get("/xapi/statements").headers["X-Experience-API-Version"] == "1.0.3"


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
@pytest.mark.parametrize(
    "timestamp", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:60Z"]
)
def test_timestamps_with_no_utc_form_are_refused(
    client: TestClient, version: str, timestamp: str
) -> None:
    """Stored, such a statement crashed every later UTC conversion (the profile processor's)."""
    response = client.post(
        "/xapi/statements",
        json=statement(timestamp=timestamp),
        headers={"X-Experience-API-Version": version},
    )
    assert_error(response, 400, "timestamp")
    assert catch_up(client.app.state.store, [PROFILES]) == 0  # type: ignore[attr-defined]
    since = client.get("/xapi/statements", params={"since": timestamp})
    assert_error(since, 400, "since")


def test_2_0_timestamps_are_stored_in_utc(client: TestClient) -> None:
    body = statement(timestamp="2024-03-10T08:30:00.250+07:00")
    [statement_id] = post(client, body, headers=V2)
    stored = get_one_v2(client, statement_id).json()
    assert stored["timestamp"].endswith("Z")
    assert datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00")) == datetime(
        2024, 3, 10, 1, 30, 0, 250000, tzinfo=UTC
    )


def test_context_agents_need_2_0(client: TestClient) -> None:
    context = {
        "contextAgents": [
            {
                "objectType": "contextAgent",
                "agent": {"mbox": "mailto:mentor@example.org"},
                "relevantTypes": ["http://example.org/types/mentor"],
            }
        ]
    }
    assert_error(client.post("/xapi/statements", json=statement(context=context)), 400)
    assert query(client) == []
    [statement_id] = post(client, statement(context=context), headers=V2)
    got = get_one_v2(client, statement_id).json()
    assert got["context"]["contextAgents"][0]["agent"]["mbox"] == "mailto:mentor@example.org"
    mentor = '{"mbox": "mailto:mentor@example.org"}'
    assert ids_of(query(client, agent=mentor, related_agents="true")) == [statement_id]


def test_missing_version_header_is_400(client: TestClient) -> None:
    request = client.build_request("POST", "/xapi/statements", json=statement())
    del request.headers["X-Experience-API-Version"]
    response = client.send(request)
    assert_error(response, 400, "X-Experience-API-Version")
    assert query(client) == []
    response = client.get("/xapi/statements", headers={"X-Experience-API-Version": "0.95"})
    assert_error(response, 400, "X-Experience-API-Version")


# scopes -------------------------------------------------------------------------------------
def test_read_only_credential_cannot_write(api: APIClient) -> None:
    key, secret = api.credential(["statements/read"])
    auth = {"Authorization": basic_auth(key, secret)}
    response = api.http.post("/xapi/statements", json=statement(), headers=auth)
    assert_error(response, 403)
    assert api.http.get("/xapi/statements", headers=auth).json()["statements"] == []


def test_read_mine_sees_only_its_own_statements(api: APIClient) -> None:
    client = api.http
    [theirs] = post(client, statement("ann"))
    key, secret = api.credential(["statements/read/mine", "statements/write"], name="app")
    mine_auth = {"Authorization": basic_auth(key, secret)}
    [mine] = post(client, statement("bob"), headers=mine_auth)

    response = client.get("/xapi/statements", headers=mine_auth)
    assert ids_of(response.json()["statements"]) == [mine]
    single = client.get("/xapi/statements", params={"statementId": theirs}, headers=mine_auth)
    assert_error(single, 404)
    own = client.get("/xapi/statements", params={"statementId": mine}, headers=mine_auth)
    assert own.status_code == 200
    # the wider credential sees both
    assert set(ids_of(query(client))) == {theirs, mine}
