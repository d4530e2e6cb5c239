"""Hostile request bodies against POST/PUT /xapi/statements (issue 6, point 6c).

Fixed cases: malformed multipart, invalid UTF-8, duplicate JSON keys, 1 MB strings, 10,000
levels of nesting, huge numbers: every one a 4xx JSON error, and the store holds exactly as
many statements after as before. Then hypothesis: byte-level damage to a valid JSON body and
to a valid multipart body, and structurally broken statements sent over HTTP: never a 5xx;
a refusal stores nothing, an acceptance stores the statement.

Duplicate keys: xAPI says each property is used at most once, and the ADL conformance suite
never sends duplicates (its "Multiplicity" checks are left to the JSON parser), so they are
refused with 400 naming the key.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from lrs.api.app import create_app
from lrs.auth import create_credential
from lrs.config import load_settings
from lrs.xapi.errors import XAPIError
from lrs.xapi.validation import validate_statement_batch
from tests.conftest import basic_auth
from tests.fuzz.conftest import Cases, examples
from tests.fuzz.strategies import HOSTILE_VALUES, agents, iris, mutated, statements

JSON = {"Content-Type": "application/json"}
BOUNDARY = "xapi-b0undary"
MULTIPART = {"Content-Type": f"multipart/mixed; boundary={BOUNDARY}"}
ATTACHMENT_DATA = b"here is a simple attachment"
SHA = hashlib.sha256(ATTACHMENT_DATA).hexdigest()


def statement(**extra: Any) -> dict[str, Any]:
    return {
        "actor": {"objectType": "Agent", "mbox": "mailto:ann@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.org/course/1"},
        **extra,
    }


def with_attachment() -> dict[str, Any]:
    return statement(
        attachments=[
            {
                "usageType": "http://example.org/usage",
                "display": {"en-US": "notes"},
                "contentType": "text/plain",
                "length": len(ATTACHMENT_DATA),
                "sha2": SHA,
            }
        ]
    )


def multipart(
    statement_json: bytes,
    data: bytes = ATTACHMENT_DATA,
    part_headers: bytes | None = None,
    first_headers: bytes = b"Content-Type: application/json\r\n",
) -> bytes:
    if part_headers is None:
        part_headers = (
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
            b"X-Experience-API-Hash: " + hashlib.sha256(data).hexdigest().encode() + b"\r\n"
        )
    dash = b"--" + BOUNDARY.encode()
    return (
        dash + b"\r\n" + first_headers + b"\r\n" + statement_json + b"\r\n"
        + dash + b"\r\n" + part_headers + b"\r\n" + data + b"\r\n" + dash + b"--\r\n"
    )


VALID_MULTIPART = multipart(json.dumps(with_attachment()).encode())


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module (hypothesis runs many examples per test), default settings."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("LRS_")]:
            patch.delenv(name)
        data: Path = tmp_path_factory.mktemp("fuzz-http")
        app = create_app(load_settings(data=str(data), processors=False))
    new = create_credential(app.state.store, "fuzz", ["all"])
    client = TestClient(
        app,
        headers={
            "Authorization": basic_auth(new.credential.key, new.secret),
            "X-Experience-API-Version": "1.0.3",
        },
        raise_server_exceptions=False,
    )
    try:
        yield client
    finally:
        client.close()
        app.state.store.close()


def count(client: TestClient) -> int:
    """Statements in the store: the length of its statement log."""
    return len(client.app.state.store.read_log(0, 1_000_000))  # type: ignore[attr-defined]


def assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["message"]


def test_the_valid_bodies_used_below_are_accepted(http: TestClient) -> None:
    before = count(http)
    assert http.post("/xapi/statements", content=VALID_MULTIPART, headers=MULTIPART).status_code == 200
    assert http.post("/xapi/statements", json=statement()).status_code == 200
    assert count(http) == before + 2


# --------------------------------------------------------------------------- fixed cases

def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def _extension(raw: str) -> bytes:
    head = json.dumps(statement(object={"id": "http://example.org/a", "definition": {"extensions": {"http://example.org/e": 0}}}))
    return head.replace('"http://example.org/e": 0', f'"http://example.org/e": {raw}').encode()


ONE_MB = "x" * 1_048_576
BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\x80"]
good_json = json.dumps(statement(result={"response": "MARK"})).encode()

MALFORMED: list[tuple[str, str, bytes, dict[str, Any]]] = [
    # multipart
    ("multipart: no closing boundary", "POST", VALID_MULTIPART.removesuffix(b"--\r\n"), MULTIPART),
    ("multipart: truncated mid-part", "POST", VALID_MULTIPART[: len(VALID_MULTIPART) // 2], MULTIPART),
    ("multipart: boundary not in body", "POST", VALID_MULTIPART, {"Content-Type": "multipart/mixed; boundary=other"}),
    ("multipart: no boundary parameter", "POST", VALID_MULTIPART, {"Content-Type": "multipart/mixed"}),
    ("multipart: boundary of 71 characters", "POST", VALID_MULTIPART, {"Content-Type": "multipart/mixed; boundary=" + "b" * 71}),
    ("multipart: empty body", "POST", b"", MULTIPART),
    ("multipart: only the close delimiter", "POST", b"--" + BOUNDARY.encode() + b"--\r\n", MULTIPART),
    ("multipart: first part not JSON", "POST", multipart(json.dumps(with_attachment()).encode(), first_headers=b"Content-Type: text/plain\r\n"), MULTIPART),
    ("multipart: part without hash header", "POST", multipart(json.dumps(with_attachment()).encode(), part_headers=b"Content-Type: text/plain\r\n"), MULTIPART),
    ("multipart: data does not match hash", "POST", multipart(json.dumps(with_attachment()).encode(), data=b"other data"), MULTIPART),
    ("multipart: base64 transfer encoding", "POST", multipart(json.dumps(with_attachment()).encode(), part_headers=b"Content-Transfer-Encoding: base64\r\nX-Experience-API-Hash: " + SHA.encode() + b"\r\n"), MULTIPART),
    ("multipart: header line without colon", "POST", multipart(json.dumps(with_attachment()).encode(), part_headers=b"garbage line\r\n"), MULTIPART),
    ("multipart: hash header not hex", "POST", multipart(json.dumps(with_attachment()).encode(), part_headers=b"X-Experience-API-Hash: zz\r\n"), MULTIPART),
    ("multipart: part nobody references", "POST", multipart(json.dumps(statement()).encode()), MULTIPART),
    ("multipart: invalid UTF-8 in the JSON part", "POST", multipart(good_json.replace(b"MARK", b"\xff\xfe")), MULTIPART),
    ("multipart: 10,000 levels in the JSON part", "POST", multipart(_extension(_deep(10_000))), MULTIPART),
    ("multipart: binary garbage", "POST", bytes(range(256)) * 4, MULTIPART),
    # invalid UTF-8, in the body and in headers
    *[(f"utf-8: {bad!r} in a string", "POST", good_json.replace(b"MARK", bad), JSON) for bad in BAD_UTF8],
    ("utf-8: invalid bytes as a key", "POST", good_json.replace(b'"response"', b'"\xff"'), JSON),
    ("utf-8: UTF-16 body", "POST", json.dumps(statement()).encode("utf-16"), JSON),
    ("utf-8: BOM then JSON", "POST", b"\xef\xbb\xbf" + json.dumps(statement()).encode(), JSON),
    ("utf-8: lone surrogate escape", "POST", good_json.replace(b"MARK", b"\\ud800"), JSON),
    ("utf-8: NUL bytes", "POST", b"\x00" * 64, JSON),
    ("utf-8: version header bytes", "POST", json.dumps(statement()).encode(), {**JSON, "X-Experience-API-Version": b"1.0.\xff\xfe"}),
    # duplicate keys
    ("duplicate: actor twice", "POST", b'{"actor":{"mbox":"mailto:a@example.org"},"actor":{"mbox":"mailto:b@example.org"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/o"}}', JSON),
    ("duplicate: id twice in the object", "POST", b'{"actor":{"mbox":"mailto:a@example.org"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/o","id":"http://x.org/p"}}', JSON),
    ("duplicate: spelled with an escape", "POST", b'{"actor":{"mbox":"mailto:a@example.org"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/o"},"\\u0076erb":{"id":"http://x.org/w"}}', JSON),
    ("duplicate: in a multipart JSON part", "POST", multipart(json.dumps(with_attachment()).encode()[:-1] + b',"actor":{"mbox":"mailto:b@example.org"}}'), MULTIPART),
    ("duplicate: PUT", "PUT", b'{"actor":{"mbox":"mailto:a@example.org"},"verb":{"id":"http://x.org/v"},"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/o"}}', JSON),
    # 1 MB strings
    ("1 MB: result.response", "POST", json.dumps(statement(result={"response": ONE_MB})).encode(), JSON),
    ("1 MB: actor name", "POST", json.dumps(statement(actor={"mbox": "mailto:a@example.org", "name": ONE_MB})).encode(), JSON),
    ("1 MB: verb id", "POST", json.dumps(statement(verb={"id": "http://example.org/" + ONE_MB})).encode(), JSON),
    ("1 MB: an extension key", "POST", json.dumps(statement(result={"extensions": {"http://example.org/" + ONE_MB: 1}})).encode(), JSON),
    ("1 MB: escaped characters", "POST", json.dumps(statement(result={"response": "\u00e9" * 1_048_576})).encode(), JSON),
    # deep nesting
    ("deep: 10,000 levels in an extension", "POST", _extension(_deep(10_000)), JSON),
    ("deep: 10,000 levels of objects", "POST", _extension('{"a":' * 10_000 + "1" + "}" * 10_000), JSON),
    ("deep: 10,000 levels as the body", "POST", _deep(10_000).encode(), JSON),
    ("deep: 300 levels (orjson parses, cannot write)", "POST", _extension(_deep(300)), JSON),
    ("deep: PUT", "PUT", _extension(_deep(10_000)), JSON),
    # huge numbers
    *[(f"number: {n[:20]}", "POST", _extension(n), JSON)
      for n in ["1e400", "-1e309", "1" + "0" * 400, "18446744073709551615", "-9223372036854775809",
                "1e999999999", "1.7976931348623157e308", "123456789012345678901234567890.5"]],
    ("number: score.raw 1e300", "POST", json.dumps(statement(result={"score": {"raw": 1e300}})).encode(), JSON),
]


@pytest.mark.parametrize(
    ("method", "body", "headers"),
    [(m, b, h) for _, m, b, h in MALFORMED],
    ids=[name for name, *_ in MALFORMED],
)
def test_hostile_bodies_are_4xx_and_store_nothing(
    http: TestClient, method: str, body: bytes, headers: dict[str, Any]
) -> None:
    before = count(http)
    params = {"statementId": str(uuid.uuid4())} if method == "PUT" else None
    response = http.request(method, "/xapi/statements", content=body, headers=headers, params=params)
    assert_refused(response)
    assert count(http) == before


# --------------------------------------------------------------------------- hypothesis

@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one to four byte-level injuries: flipped, cut, spliced, invalid UTF-8."""
    body = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not body:
            break
        at = draw(st.integers(0, len(body) - 1))
        injury = draw(st.sampled_from(["flip", "cut", "insert", "utf8", "delete"]))
        if injury == "flip":
            body[at] = draw(st.integers(0, 255))
        elif injury == "cut":
            del body[at:]
        elif injury == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif injury == "utf8":
            body[at:at] = draw(st.sampled_from(BAD_UTF8))
        else:
            del body[at : at + draw(st.integers(1, 16))]
    return bytes(body)


def _post_and_check(http: TestClient, body: bytes, headers: dict[str, str], added: int) -> int:
    """POST; never a 5xx; a refusal stores nothing, an acceptance stores `added` statements."""
    before = count(http)
    response = http.post("/xapi/statements", content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code == 200:
        assert count(http) == before + added
    else:
        assert_refused(response)
        assert count(http) == before
    return response.status_code


@settings(max_examples=examples(200))
@given(body=damaged(json.dumps(statement(result={"response": "héllo"})).encode()))
def test_damaged_json_bodies(http: TestClient, body: bytes, fuzz_cases: Cases) -> None:
    fuzz_cases()
    _post_and_check(http, body, JSON, 1)


@settings(max_examples=examples(200))
@given(body=damaged(VALID_MULTIPART))
def test_damaged_multipart_bodies(http: TestClient, body: bytes, fuzz_cases: Cases) -> None:
    fuzz_cases()
    _post_and_check(http, body, MULTIPART, 1)


def _new_statements(http: TestClient, batch: list[dict[str, Any]]) -> int:
    """How many statements of a valid batch the store does not hold yet: resending a stored
    id with the same content is accepted without storing it again (hypothesis repeats ids)."""
    store = http.app.state.store  # type: ignore[attr-defined]
    return sum(
        1
        for item in batch
        if "id" not in item
        or (
            store.get_statement(item["id"].lower(), voided=False) is None
            and store.get_statement(item["id"].lower(), voided=True) is None
        )
    )


@settings(max_examples=examples(150))
@given(value=st.one_of(mutated(), statements()), version=st.sampled_from(["1.0.3", "2.0.0"]))
def test_broken_statements_over_http(
    http: TestClient, value: Any, version: str, fuzz_cases: Cases
) -> None:
    """The HTTP answer agrees with the validator: refused -> 4xx and nothing stored."""
    fuzz_cases()
    try:
        batch = validate_statement_batch(json.loads(json.dumps(value)), version)
        valid = True
    except XAPIError:
        valid = False
    body = json.dumps(value).encode()
    headers = {**JSON, "X-Experience-API-Version": version}
    status = _post_and_check(http, body, headers, _new_statements(http, batch) if valid else 0)
    if not valid:
        assert 400 <= status < 500


PARAMETERS = {
    "/xapi/statements": ["statementId", "voidedStatementId", "agent", "verb", "activity",
                         "registration", "related_activities", "related_agents", "since",
                         "until", "limit", "format", "attachments", "ascending", "more"],
    "/xapi/activities/state": ["activityId", "agent", "registration", "stateId", "since"],
    "/xapi/activities/profile": ["activityId", "profileId", "since"],
    "/xapi/agents/profile": ["agent", "profileId", "since"],
    "/xapi/agents": ["agent"],
    "/xapi/activities": ["activityId"],
}
PARAMETER_VALUES = st.one_of(
    HOSTILE_VALUES.map(lambda v: v if isinstance(v, str) else json.dumps(v)),
    agents.map(json.dumps),
    iris,
    st.text(max_size=30),
)


@settings(max_examples=examples(150))
@given(
    path=st.sampled_from(sorted(PARAMETERS)),
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"]),
    version=st.sampled_from(["1.0.3", "2.0.0"]),
    data=st.data(),
)
def test_hostile_parameters_on_every_resource(
    http: TestClient, path: str, method: str, version: str, data: st.DataObject, fuzz_cases: Cases
) -> None:
    """Any parameters, any method, any small body on every xAPI resource: never a 5xx, and
    the statement count moves only with a statement PUT or POST that was accepted."""
    fuzz_cases()
    names = data.draw(st.lists(st.sampled_from(PARAMETERS[path]), max_size=5, unique=True))
    params = {name: data.draw(PARAMETER_VALUES) for name in names}
    body = data.draw(st.one_of(st.binary(max_size=20), HOSTILE_VALUES.map(lambda v: json.dumps(v).encode())))
    content_type = data.draw(st.sampled_from(["application/json", "text/plain", f"multipart/mixed; boundary={BOUNDARY}"]))
    before = count(http)
    response = http.request(
        method, path, params=params, content=body,
        headers={"Content-Type": content_type, "X-Experience-API-Version": version},
    )
    assert response.status_code < 500, (method, path, params, body[:100], response.text[:300])
    if response.status_code >= 400 and method != "HEAD":
        assert_refused(response)
    if not (path == "/xapi/statements" and method in ("PUT", "POST") and response.status_code < 300):
        assert count(http) == before
