"""HTTP behaviour around the resources: About, auth, CORS, alternate syntax, HEAD, Agents,
Activities, and the promise that no request a client can send makes the LRS answer 5xx."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import APIClient, basic_auth

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ANN = {"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.org"}


def statement(**extra: Any) -> dict[str, Any]:
    return {
        "actor": ANN,
        "verb": {"id": COMPLETED},
        "object": {"id": "http://example.org/course/1"},
        **extra,
    }


def without_auth(client: TestClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    request = client.build_request(method, url, **kwargs)
    del request.headers["Authorization"]
    return client.send(request)


def assert_json_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    if status is None:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
    else:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


# about --------------------------------------------------------------------------------------
def test_about_needs_no_auth(client: TestClient) -> None:
    response = without_auth(client, "GET", "/xapi/about")
    assert response.status_code == 200
    about = response.json()
    assert "1.0.3" in about["version"] and "2.0.0" in about["version"]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    v2 = client.get("/xapi/about", headers={"X-Experience-API-Version": "2.0.0"})
    assert v2.headers["X-Experience-API-Version"] == "2.0.0"


@pytest.mark.parametrize("path", ["/xapi/", "/xapi"])
def test_the_endpoint_itself_answers_with_about(client: TestClient, path: str) -> None:
    response = without_auth(client, "GET", path)
    assert response.status_code == 200
    assert response.json() == without_auth(client, "GET", "/xapi/about").json()


# auth ---------------------------------------------------------------------------------------
def test_no_credentials_is_401_with_www_authenticate(client: TestClient) -> None:
    response = without_auth(client, "GET", "/xapi/statements")
    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = without_auth(client, "POST", "/xapi/statements", json=statement())
    assert_json_error(response, 401)
    assert client.get("/xapi/statements").json()["statements"] == []


def test_bad_secret_is_401(api: APIClient) -> None:
    bad = {"Authorization": basic_auth(api.key, api.secret + "x")}
    assert_json_error(api.http.get("/xapi/statements", headers=bad), 401)
    unknown = {"Authorization": basic_auth("nobody", api.secret)}
    assert_json_error(api.http.get("/xapi/statements", headers=unknown), 401)
    for header in ("Basic !!!not-base64", "Bearer abc", "Basic"):
        response = api.http.get("/xapi/statements", headers={"Authorization": header})
        assert_json_error(response, 401)
    # a good secret after a bad one still works
    assert api.http.get("/xapi/statements").status_code == 200


def test_scopes_limit_what_a_credential_can_do(api: APIClient) -> None:
    key, secret = api.credential(["statements/read"])
    reader = {"Authorization": basic_auth(key, secret)}
    assert_json_error(api.http.post("/xapi/statements", json=statement(), headers=reader), 403)
    state = {"activityId": "http://example.org/a", "agent": json.dumps(ANN), "stateId": "s"}
    assert_json_error(api.http.get("/xapi/activities/state", params=state, headers=reader), 403)
    assert api.http.get("/xapi/statements", headers=reader).status_code == 200

    key, secret = api.credential(["state"])
    state_only = {"Authorization": basic_auth(key, secret)}
    response = api.http.put("/xapi/activities/state", params=state, json={}, headers=state_only)
    assert response.status_code == 204
    assert_json_error(api.http.get("/xapi/statements", headers=state_only), 403)


# CORS ---------------------------------------------------------------------------------------
def test_cors_preflight(client: TestClient) -> None:
    response = without_auth(
        client,
        "OPTIONS",
        "/xapi/statements",
        headers={
            "Origin": "https://course.example.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Authorization, Content-Type, X-Experience-API-Version",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://course.example.org")
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for header in ("authorization", "content-type", "x-experience-api-version"):
        assert header in allowed


def test_cors_exposes_xapi_headers(client: TestClient) -> None:
    response = client.get("/xapi/statements", headers={"Origin": "https://course.example.org"})
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://course.example.org")
    exposed = response.headers["Access-Control-Expose-Headers"].lower()
    for header in ("etag", "last-modified", "x-experience-api-consistent-through"):
        assert header in exposed


# alternate request syntax ------------------------------------------------------------------
def alternate(
    client: TestClient, method: str, path: str, form: dict[str, str], version: str = "1.0.3"
) -> httpx.Response:
    """A form POST carrying method, headers and content, the way a 1.0.x browser sends it."""
    fields = {
        "Authorization": client.headers["Authorization"],
        "X-Experience-API-Version": version,
        **form,
    }
    request = client.build_request(
        "POST",
        f"{path}?method={method}",
        content=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    del request.headers["Authorization"]
    del request.headers["X-Experience-API-Version"]
    return client.send(request)


def test_alternate_request_syntax_put_and_get(client: TestClient) -> None:
    statement_id = str(uuid.uuid4())
    form = {
        "statementId": statement_id,
        "content": json.dumps(statement()),
        "Content-Type": "application/json",
    }
    response = alternate(client, "PUT", "/xapi/statements", form)
    assert response.status_code == 204, response.text
    assert client.get("/xapi/statements", params={"statementId": statement_id}).status_code == 200

    got = alternate(client, "GET", "/xapi/statements", {"statementId": statement_id})
    assert got.status_code == 200
    assert got.json()["id"] == statement_id


def test_alternate_request_syntax_needs_auth_in_the_form(client: TestClient) -> None:
    request = client.build_request(
        "POST",
        "/xapi/statements?method=GET",
        content=urlencode({"X-Experience-API-Version": "1.0.3"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    del request.headers["Authorization"]
    assert_json_error(client.send(request), 401)


def test_alternate_request_syntax_is_refused_in_2_0(client: TestClient) -> None:
    form = {"statementId": str(uuid.uuid4()), "content": json.dumps(statement())}
    response = alternate(client, "PUT", "/xapi/statements", form, version="2.0.0")
    assert_json_error(response, 400)
    assert client.get("/xapi/statements").json()["statements"] == []


# HEAD ---------------------------------------------------------------------------------------
def test_head_returns_headers_without_body(client: TestClient) -> None:
    [statement_id] = client.post("/xapi/statements", json=statement()).json()
    params = {"statementId": statement_id}
    get = client.get("/xapi/statements", params=params)
    head = client.head("/xapi/statements", params=params)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["X-Experience-API-Consistent-Through"]
    assert head.headers["Last-Modified"] == get.headers["Last-Modified"]
    assert head.headers["content-type"] == get.headers["content-type"]

    state = {"activityId": "http://example.org/a", "agent": json.dumps(ANN), "stateId": "s"}
    assert client.put("/xapi/activities/state", params=state, json={"a": 1}).status_code == 204
    head = client.head("/xapi/activities/state", params=state)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == client.get("/xapi/activities/state", params=state).headers["ETag"]
    missing = client.head("/xapi/statements", params={"statementId": str(uuid.uuid4())})
    assert missing.status_code == 404 and missing.content == b""


def test_unsupported_method_is_405(client: TestClient) -> None:
    response = client.delete("/xapi/statements")
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "PUT", "POST"}
    assert client.put("/xapi/about", json={}).status_code == 405
    assert client.get("/xapi/statementz").status_code == 404


def test_unsupported_method_and_unknown_path_answer_json_errors(client: TestClient) -> None:
    assert_json_error(client.delete("/xapi/statements"), 405)
    assert_json_error(client.get("/xapi/statementz"), 404)


# agents and activities ----------------------------------------------------------------------
def test_agents_resource_returns_a_person(client: TestClient) -> None:
    client.post("/xapi/statements", json=statement())
    client.post("/xapi/statements", json=statement(actor={**ANN, "name": "Ann Lee"}))
    response = client.get("/xapi/agents", params={"agent": json.dumps({"mbox": ANN["mbox"]})})
    assert response.status_code == 200
    person = response.json()
    assert person["objectType"] == "Person"
    assert sorted(person["name"]) == ["Ann", "Ann Lee"]
    assert person["mbox"] == [ANN["mbox"]]

    unknown = client.get("/xapi/agents", params={"agent": '{"mbox": "mailto:new@example.org"}'})
    assert unknown.json() == {"objectType": "Person", "mbox": ["mailto:new@example.org"]}
    assert_json_error(client.get("/xapi/agents"), 400)
    assert_json_error(client.get("/xapi/agents", params={"agent": '{"name": "no ifi"}'}), 400)


def test_activities_resource_returns_the_merged_definition(client: TestClient) -> None:
    activity = "http://example.org/course/9"
    first = {
        "name": {"en-US": "Course"},
        "description": {"en-US": "An introduction"},
        "type": "http://adlnet.gov/expapi/activities/course",
    }
    second = {"name": {"vi": "Khóa học"}, "moreInfo": "http://example.org/info"}
    for definition in (first, second):
        body = statement(object={"id": activity, "definition": definition})
        assert client.post("/xapi/statements", json=body).status_code == 200

    response = client.get("/xapi/activities", params={"activityId": activity})
    assert response.status_code == 200
    got = response.json()
    assert got["objectType"] == "Activity" and got["id"] == activity
    assert got["definition"] == {
        "name": {"en-US": "Course", "vi": "Khóa học"},
        "description": {"en-US": "An introduction"},
        "type": "http://adlnet.gov/expapi/activities/course",
        "moreInfo": "http://example.org/info",
    }
    unknown = client.get("/xapi/activities", params={"activityId": "http://example.org/none"})
    assert unknown.json() == {"objectType": "Activity", "id": "http://example.org/none"}
    assert_json_error(client.get("/xapi/activities", params={"activityId": "not an iri"}), 400)


# never a 5xx --------------------------------------------------------------------------------
JSON = {"Content-Type": "application/json"}
SOME_ID = "6f1a4f0e-5b7c-4d7e-9c1a-2b3c4d5e6f70"  # fixed: test ids must match across xdist workers
NONSENSE: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/xapi/statements", {"content": b"{not json", "headers": JSON}),
    ("POST", "/xapi/statements", {"content": b"", "headers": JSON}),
    ("POST", "/xapi/statements", {"content": b"\xff\xfe\x00garbage", "headers": JSON}),
    ("POST", "/xapi/statements", {"content": '{"actor": "\udcff"}'.encode("utf-8", "surrogatepass"), "headers": JSON}),
    ("POST", "/xapi/statements", {"json": [[["nonsense", 1, None], {"a": [[]]}], [[True]]]}),
    ("POST", "/xapi/statements", {"json": [[[]]]}),
    ("POST", "/xapi/statements", {"json": "a string"}),
    ("POST", "/xapi/statements", {"json": 42}),
    ("POST", "/xapi/statements", {"content": b"1e400", "headers": JSON}),
    ("POST", "/xapi/statements", {"content": b"[" * 100_000 + b"]" * 100_000, "headers": JSON}),
    ("POST", "/xapi/statements", {"json": {"actor": 1, "verb": [], "object": "x"}}),
    ("POST", "/xapi/statements", {"json": {"actor": {"mbox": ["mailto:a@b.c"]}, "verb": {"id": 5}, "object": {"id": {}}}}),
    ("POST", "/xapi/statements", {"json": statement(timestamp=12)}),
    ("POST", "/xapi/statements", {"json": statement(id=7)}),
    ("POST", "/xapi/statements", {"json": statement(result={"score": {"scaled": "high"}})}),
    ("POST", "/xapi/statements", {"json": statement(context={"contextActivities": {"parent": "x"}})}),
    ("POST", "/xapi/statements", {"json": statement(object={"objectType": "StatementRef", "id": []})}),
    ("POST", "/xapi/statements", {"json": statement(object={"objectType": "SubStatement", "actor": 1})}),
    ("POST", "/xapi/statements", {"json": statement(attachments=[{"sha2": 5}])}),
    ("POST", "/xapi/statements", {"content": b"--x\r\n\r\n", "headers": {"Content-Type": "multipart/mixed; boundary=x"}}),
    ("POST", "/xapi/statements", {"content": b"{}", "headers": {"Content-Type": "multipart/mixed"}}),
    ("POST", "/xapi/statements", {"content": b"<xml/>", "headers": {"Content-Type": "text/xml"}}),
    ("POST", "/xapi/statements?statementId=1", {"json": statement()}),
    ("PUT", "/xapi/statements?statementId=not-a-uuid", {"json": statement()}),
    ("PUT", "/xapi/statements?statementId=" + SOME_ID, {"json": [statement()]}),
    ("PUT", "/xapi/statements?statementId=" + SOME_ID, {"content": b"\x80\x81", "headers": JSON}),
    ("GET", "/xapi/statements?limit=abc", {}),
    ("GET", "/xapi/statements?limit=-1", {}),
    ("GET", "/xapi/statements?limit=%C2%B2", {}),  # a superscript two: str.isdigit() says yes
    ("GET", "/xapi/statements?ascending=maybe", {}),
    ("GET", "/xapi/statements?attachments=2", {}),
    ("GET", "/xapi/statements?format=%FF", {}),
    ("GET", "/xapi/statements?agent=notjson", {}),
    ("GET", "/xapi/statements?agent=%5B1%2C2%5D", {}),
    ("GET", "/xapi/statements?agent=%7B%22mbox%22%3A5%7D", {}),
    ("GET", "/xapi/statements?agent=null", {}),
    ("GET", "/xapi/statements?agent=%FF%FE", {}),
    ("GET", "/xapi/statements?verb=%00", {}),
    ("GET", "/xapi/statements?activity=", {}),
    ("GET", "/xapi/statements?registration=123", {}),
    ("GET", "/xapi/statements?since=yesterday", {}),
    ("GET", "/xapi/statements?until=2024-13-45T99:99:99Z", {}),
    ("GET", "/xapi/statements?since=9999-12-31T23:59:59-23:59", {}),  # after year 9999 in UTC
    ("GET", "/xapi/statements?until=0001-01-01T00:00:00%2B23:59", {}),  # before year 1 in UTC
    ("GET", "/xapi/statements?since=9999-12-31T23:59:60Z", {}),  # a leap second past the end
    ("GET", "/xapi/statements?since=9999999-01-01T00:00:00Z", {}),
    ("GET", "/xapi/statements?statementId=%FF", {}),
    ("GET", "/xapi/statements?statementId=x&voidedStatementId=y", {}),
    ("GET", "/xapi/statements?more=garbage", {}),
    ("GET", "/xapi/statements?more=eyJsaW1pdCI6ICJ4In0", {}),  # {"limit": "x"}
    ("GET", "/xapi/statements?more=WzFd", {}),  # [1]
    ("GET", "/xapi/statements?more=bnVsbA", {}),  # null
    ("GET", "/xapi/statements?limit=1&limit=2", {}),
    ("GET", "/xapi/statements?unknown=1", {}),
    ("POST", "/xapi/statements", {"json": statement(timestamp="9999-12-31T23:59:59-23:59")}),
    ("POST", "/xapi/statements", {"json": statement(timestamp="0001-01-01T00:00:00+01:00")}),
    ("POST", "/xapi/statements", {"json": statement(timestamp="0001-01-01T00:00:00+01:00"), "headers": {"X-Experience-API-Version": "2.0.0"}}),
    ("PUT", "/xapi/activities/state?activityId=http://a.b/c&agent=%7B%7D&stateId=s", {"json": {}}),
    ("PUT", "/xapi/activities/state?activityId=http://a.b/c&agent=%5B%5B%5B%5D%5D%5D&stateId=s", {"json": {}}),
    ("GET", "/xapi/activities/state?activityId=%FF&agent=%FF", {}),
    ("POST", "/xapi/activities/state?activityId=http://a.b/c&agent=%7B%22mbox%22%3A%22mailto%3Aa%40b.c%22%7D&stateId=s", {"content": b"\xff\xfe", "headers": JSON}),
    ("POST", "/xapi/activities/profile?activityId=http://a.b/c&profileId=p", {"json": [[["x"]]]}),
    ("GET", "/xapi/activities/profile?activityId=http://a.b/c&since=never", {}),
    ("PUT", "/xapi/agents/profile?agent=%22mailto%3Aa%40b.c%22&profileId=p", {"json": {}}),
    ("GET", "/xapi/agents?agent=%7B%22account%22%3A%7B%22name%22%3A1%7D%7D", {}),
    ("GET", "/xapi/activities?activityId=%FF", {}),
    ("GET", "/xapi/activities", {}),
    ("POST", "/xapi/statements?method=PUT", {"content": b"%FF%FE=%FF", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    ("POST", "/xapi/statements?method=FLY", {"content": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
    ("POST", "/xapi/statements?method=PUT", {"content": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
]


@pytest.mark.parametrize(
    ("method", "url", "kwargs"), NONSENSE, ids=[f"{m} {u[:70]}" for m, u, _ in NONSENSE]
)
def test_a_client_cannot_cause_a_5xx(
    client: TestClient, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    response = client.request(method, url, **kwargs)
    assert_json_error(response)


def test_a_rejected_request_stores_nothing(client: TestClient) -> None:
    for method, url, kwargs in NONSENSE:
        if url.startswith("/xapi/statements") and method != "GET":
            client.request(method, url, **kwargs)
    assert client.get("/xapi/statements").json()["statements"] == []
