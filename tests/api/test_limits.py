"""Limits, rate limiting, timeouts, security headers and CORS (issue 6, point 5).

Every refusal is the project's JSON error with the right status and names what was too big;
nothing refused is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from lrs.api.app import create_app
from lrs.api.ratelimit import TokenBucket
from lrs.auth import create_credential
from lrs.cli import _settings, build_parser
from lrs.config import Settings, load_settings
from tests.conftest import XAPI_VERSION, basic_auth
from tests.processes import LRSProcess

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
JSON = {"Content-Type": "application/json"}


def statement(**extra: Any) -> dict[str, Any]:
    return {
        "actor": {"objectType": "Agent", "mbox": "mailto:ann@example.org"},
        "verb": {"id": COMPLETED},
        "object": {"id": "http://example.org/course/1"},
        **extra,
    }


def with_extension(value: str) -> bytes:
    """A statement whose activity extension is `value`, written as raw JSON text."""
    prefix = '{"actor":{"mbox":"mailto:ann@example.org"},"verb":{"id":"' + COMPLETED + '"},'
    rest = '"object":{"id":"http://example.org/a","definition":{"extensions":{"http://example.org/e":'
    return (prefix + rest + value + "}}}}").encode()


Client = Callable[..., TestClient]


@pytest.fixture
def make_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., TestClient]]:
    """A client for an app with the given settings, authenticated with an `all` credential."""
    for name in [k for k in __import__("os").environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    made: list[TestClient] = []

    def make(routes: list[Route] | None = None, **overrides: Any) -> TestClient:
        data = tmp_path / f"lrs{len(made)}"
        app = create_app(load_settings(data=str(data), processors=False, **overrides))
        for route in routes or []:
            app.router.routes.insert(0, route)
        new = create_credential(app.state.store, "tests", ["all"])
        client = TestClient(
            app,
            headers={
                "Authorization": basic_auth(new.credential.key, new.secret),
                "X-Experience-API-Version": XAPI_VERSION,
            },
            raise_server_exceptions=False,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
        client.app.state.store.close()  # type: ignore[attr-defined]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error  # type: ignore[no-any-return]


def stored(client: TestClient) -> int:
    return len(client.get("/xapi/statements").json()["statements"])


# body size ----------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413_before_it_is_read(make_client: Client) -> None:
    client = make_client(max_body_bytes=1000)
    body = json.dumps(statement(result={"response": "x" * 2000})).encode()
    error = error_of(client.post("/xapi/statements", content=body, headers=JSON), 413)
    assert error["code"] == "too_large" and error["field"] == "body"
    assert client.post("/xapi/statements", json=statement()).status_code == 200
    assert stored(client) == 1


def test_a_chunked_body_over_the_limit_is_cut_off(make_client: Client) -> None:
    client = make_client(max_body_bytes=1000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        body = json.dumps(statement(result={"response": "x" * 5000})).encode()
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    response = client.post("/xapi/statements", content=chunks(), headers=JSON)
    assert error_of(response, 413)["field"] == "body"
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert stored(client) == 0


def test_the_body_limit_covers_documents_and_the_alternate_syntax(make_client: Client) -> None:
    client = make_client(max_body_bytes=1000)
    state = {
        "activityId": "http://example.org/a",
        "agent": json.dumps({"mbox": "mailto:ann@example.org"}),
        "stateId": "s",
    }
    response = client.put("/xapi/activities/state", params=state, content=b"x" * 1001)
    assert error_of(response, 413)["code"] == "too_large"
    form = b"content=" + b"x" * 2000
    response = client.post(
        "/xapi/statements?method=PUT",
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    error_of(response, 413)


# JSON shape ---------------------------------------------------------------------------------
def test_nesting_past_the_depth_limit_is_400_naming_where(make_client: Client) -> None:
    client = make_client(max_json_depth=10)
    error = error_of(client.post("/xapi/statements", content=with_extension("[" * 8 + "]" * 8), headers=JSON), 400)
    assert error["code"] == "too_deep"
    assert error["field"].startswith('object.definition.extensions["http://example.org/e"]')
    assert client.post("/xapi/statements", content=with_extension("[[1]]"), headers=JSON).status_code == 200


@pytest.mark.parametrize("depth", [300, 1000, 10_000])
def test_deep_nesting_is_refused_not_a_500(make_client: Client, depth: int) -> None:
    """Regression: 300 levels used to parse and validate, then fail in the store (orjson writes
    at most 254 levels): a 500. 10,000 levels is past what orjson parses at all."""
    client = make_client()
    body = with_extension("[" * depth + "]" * depth)
    error_of(client.post("/xapi/statements", content=body, headers=JSON), 400)
    assert stored(client) == 0


def test_a_string_over_the_limit_is_413_naming_the_field(make_client: Client) -> None:
    client = make_client()  # the default: 256 Ki characters
    body = json.dumps(statement(result={"response": "x" * 1_000_000})).encode()
    error = error_of(client.post("/xapi/statements", content=body, headers=JSON), 413)
    assert error == {**error, "code": "too_large", "field": "result.response"}
    long_key = with_extension("1").replace(b"http://example.org/e", b"http://example.org/" + b"k" * 300_000)
    assert error_of(client.post("/xapi/statements", content=long_key, headers=JSON), 413)
    fits = json.dumps(statement(result={"response": "x" * 64_000})).encode()  # SCORM suspend data
    assert client.post("/xapi/statements", content=fits, headers=JSON).status_code == 200
    assert stored(client) == 1


@pytest.mark.parametrize(
    "number",
    ["1e19", "-1e300", "18446744073709551615", "9223372036854775808", "1e400", "1" + "0" * 400],
)
def test_huge_numbers_are_400(make_client: Client, number: str) -> None:
    client = make_client()
    response = client.post("/xapi/statements", content=with_extension(number), headers=JSON)
    error_of(response, 400)
    assert stored(client) == 0


def test_numbers_within_the_limit_are_kept(make_client: Client) -> None:
    client = make_client()
    for number in ("9007199254740993", "-1e18", "1.5e-300", "0.1"):
        assert client.post("/xapi/statements", content=with_extension(number), headers=JSON).status_code == 200
    client = make_client(max_number=100)
    error = error_of(client.post("/xapi/statements", content=with_extension("101"), headers=JSON), 400)
    assert error["field"] == 'object.definition.extensions["http://example.org/e"]'


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"actor":{"mbox":"mailto:a@example.org"},"actor":{"mbox":"mailto:b@example.org"},'
         b'"verb":{"id":"http://x.org/v"},"object":{"id":"http://x.org/o"}}', "actor"),
        (b'{"actor":{"mbox":"mailto:a@example.org"},"verb":{"id":"http://x.org/v",'
         b'"id" : "http://x.org/w"},"object":{"id":"http://x.org/o"}}', "verb.id"),
        # the same key spelled two ways: "\u0069d" is "id"
        (b'[{"actor":{"mbox":"mailto:a@example.org"},"verb":{"id":"http://x.org/v"},'
         b'"object":{"id":"http://x.org/o","\\u0069d":"http://x.org/p"}}]', "[0].object.id"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_key(make_client: Client, body: bytes, field: str) -> None:
    client = make_client()
    error = error_of(client.post("/xapi/statements", content=body, headers=JSON), 400)
    assert error["code"] == "duplicate_key" and error["field"] == field
    assert stored(client) == 0


def test_strings_that_look_like_keys_are_not_duplicates(make_client: Client) -> None:
    client = make_client()
    tricky = [
        '"\\":"',  # an escaped quote then a colon, inside a string
        '":starts with a colon"',
        '{"a" : 1, "b"\n:\t2}',  # whitespace before colons
        '{"\\\\": "\\\\\\":"}',
    ]
    for value in tricky:
        response = client.post("/xapi/statements", content=with_extension(value), headers=JSON)
        assert response.status_code == 200, (value, response.text)


def test_a_batch_over_the_limit_is_413(make_client: Client) -> None:
    client = make_client(max_batch=3)
    error = error_of(client.post("/xapi/statements", json=[statement()] * 4), 413)
    assert error["code"] == "too_large"
    assert client.post("/xapi/statements", json=[statement()] * 3).status_code == 200
    assert stored(client) == 3


def multipart(statement_json: bytes, data: bytes) -> tuple[bytes, dict[str, str]]:
    body = (
        b"--b0undary\r\nContent-Type: application/json\r\n\r\n"
        + statement_json
        + b"\r\n--b0undary\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
        + b"X-Experience-API-Hash: "
        + hashlib.sha256(data).hexdigest().encode()
        + b"\r\n\r\n"
        + data
        + b"\r\n--b0undary--\r\n"
    )
    return body, {"Content-Type": "multipart/mixed; boundary=b0undary"}


def test_an_attachment_over_the_limit_is_413(make_client: Client) -> None:
    client = make_client(max_attachment_bytes=100)

    def attached(data: bytes) -> httpx.Response:
        attachment = {
            "usageType": "http://example.org/usage",
            "display": {"en-US": "notes"},
            "contentType": "text/plain",
            "length": len(data),
            "sha2": hashlib.sha256(data).hexdigest(),
        }
        body, headers = multipart(json.dumps(statement(attachments=[attachment])).encode(), data)
        return client.post("/xapi/statements", content=body, headers=headers)

    error = error_of(attached(b"x" * 101), 413)
    assert error["code"] == "too_large" and error["field"] == "multipart"
    assert attached(b"x" * 100).status_code == 200
    assert stored(client) == 1


# rate limit ---------------------------------------------------------------------------------
def test_the_rate_limit_is_per_credential_with_retry_after(make_client: Client) -> None:
    client = make_client(rate_limit=0.01, rate_burst=3)
    for _ in range(3):
        assert client.get("/xapi/statements").status_code == 200
    limited = client.get("/xapi/statements")
    error = error_of(limited, 429)
    assert error["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-Experience-API-Version"] == "1.0.3"
    # another credential has its own bucket; probes are never limited
    app = client.app
    other = create_credential(app.state.store, "other", ["all"])  # type: ignore[attr-defined]
    auth = {"Authorization": basic_auth(other.credential.key, other.secret)}
    assert client.get("/xapi/statements", headers=auth).status_code == 200
    assert client.get("/health").status_code == 200
    # a wrong secret gets its own bucket: it cannot spend the owner's tokens
    assert client.get("/xapi/statements", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_no_rate_limit_by_default(make_client: Client) -> None:
    client = make_client()
    assert all(client.get("/xapi/about").status_code == 200 for _ in range(150))


def test_token_bucket_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0, now=0.0)
    assert bucket.take(0.0) == 0.0 and bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0 and bucket.take(100.0) == 0.0  # never above the burst
    assert bucket.take(100.0) > 0


# timeouts -----------------------------------------------------------------------------------
async def _slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return Response(b"late")


def test_a_slow_handler_gets_a_json_503(make_client: Client) -> None:
    client = make_client(routes=[Route("/xapi/slow", _slow)], request_timeout=0.2)
    response = client.get("/xapi/slow")
    error = error_of(response, 503)
    assert error["code"] == "timeout"
    assert response.headers["Retry-After"] and response.headers["X-Experience-API-Version"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/xapi/about").status_code == 200


# security headers ---------------------------------------------------------------------------
async def _boom(request: Request) -> Response:
    raise RuntimeError("a bug")


def test_every_answer_has_the_security_headers(make_client: Client) -> None:
    client = make_client(routes=[Route("/boom", _boom)], rate_limit=0.01, rate_burst=50)
    answers = {
        "ok": client.get("/xapi/statements"),
        "about": client.get("/xapi/about"),
        "bad": client.get("/xapi/statements?limit=x"),
        "unauthorised": client.get("/xapi/statements", headers={"Authorization": "Basic eDp5"}),
        "not found": client.get("/nothing"),
        "too large": client.post("/xapi/statements", content=b"x" * 20_000_000, headers=JSON),
        "server error": client.get("/boom"),
        "preflight": client.options(
            "/xapi/statements",
            headers={"Origin": "https://course.example.org", "Access-Control-Request-Method": "PUT"},
        ),
        "query api": client.get("/api/v1/frameworks"),
        "metrics": client.get("/metrics"),
    }
    assert answers["server error"].status_code == 500
    for name, response in answers.items():
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", name
        assert headers["X-Frame-Options"] == "DENY", name
        assert headers["Referrer-Policy"] == "no-referrer", name
        assert "default-src 'none'" in headers["Content-Security-Policy"], name
        assert "Strict-Transport-Security" not in headers, name
    for name in ("ok", "bad", "unauthorised", "query api"):
        assert answers[name].headers["Cache-Control"] == "no-store", name


def test_public_answers_may_be_cached_and_hsts_is_a_setting(make_client: Client) -> None:
    client = make_client(hsts_max_age=31536000)
    request = client.build_request("GET", "/xapi/about")
    del request.headers["Authorization"]
    about = client.send(request)
    assert "Cache-Control" not in about.headers
    hsts = about.headers["Strict-Transport-Security"]
    assert hsts == "max-age=31536000; includeSubDomains"


# CORS ---------------------------------------------------------------------------------------
def test_cors_origins_can_be_restricted(make_client: Client) -> None:
    client = make_client(cors_origins="https://lms.example.org, https://course.example.org")
    allowed = client.get("/xapi/statements", headers={"Origin": "https://course.example.org"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://course.example.org"
    other = client.get("/xapi/statements", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    preflight = client.options(
        "/xapi/statements",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert preflight.status_code == 400
    closed = make_client(cors_origins="")
    response = closed.get("/xapi/statements", headers={"Origin": "https://course.example.org"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_headers_are_on_errors_too(make_client: Client) -> None:
    client = make_client(rate_limit=0.01, rate_burst=1)
    origin = {"Origin": "https://course.example.org"}
    client.get("/xapi/statements", headers=origin)
    limited = client.get("/xapi/statements", headers=origin)
    assert limited.status_code == 429
    assert limited.headers["Access-Control-Allow-Origin"] == "*"
    assert "retry-after" in limited.headers["Access-Control-Expose-Headers"].lower()


# settings -----------------------------------------------------------------------------------
def test_every_limit_is_a_setting_from_env_toml_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = Settings()
    assert defaults.max_body_bytes == 16 * 1024 * 1024 and defaults.rate_limit == 0
    toml = tmp_path / "lrs.toml"
    toml.write_text(
        '[lrs]\nmax_json_depth = 20\ncors_origins = ["https://a.example", "https://b.example"]\n'
        "rate_limit = 5.5\n"
    )
    monkeypatch.setenv("LRS_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("LRS_HSTS_MAX_AGE", "60")
    settings = load_settings(str(toml))
    assert settings.max_body_bytes == 2048 and settings.hsts_max_age == 60
    assert settings.max_json_depth == 20 and settings.rate_limit == 5.5
    assert settings.cors_origins == "https://a.example,https://b.example"

    args = build_parser().parse_args(
        ["serve", "--config", str(toml), "--max-body-bytes", "4096", "--rate-limit", "2",
         "--rate-burst", "4", "--request-timeout", "30", "--header-timeout", "5",
         "--keep-alive-timeout", "3", "--max-number", "1e9", "--cors-origins", ""]
    )
    flagged = _settings(args)
    assert flagged.max_body_bytes == 4096 and flagged.rate_limit == 2.0 and flagged.rate_burst == 4
    assert flagged.request_timeout == 30 and flagged.header_timeout == 5
    assert flagged.keep_alive_timeout == 3 and flagged.max_number == 1e9
    assert flagged.cors_origins == "" and flagged.max_json_depth == 20


# a real server: header and keep-alive timeouts ---------------------------------------------
def _read_all(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and how long that took."""
    sock.settimeout(limit)
    started = time.monotonic()
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data, time.monotonic() - started
        data += chunk


def test_a_connection_slow_with_its_headers_is_closed(tmp_path: Path) -> None:
    server = LRSProcess("lrs-timeouts", tmp_path, {"data": str(tmp_path / "data"),
                                                    "header_timeout": "1", "keep_alive_timeout": "2"})
    server.serve()
    try:
        # headers that never finish: a JSON 408 after the header timeout, then closed
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /xapi/about HTTP/1.1\r\nHost: lrs\r\n")
            data, waited = _read_all(sock, 10)
        assert data.startswith(b"HTTP/1.1 408"), data
        assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "timeout"
        assert 0.5 < waited < 5
        # a connection that says nothing at all is closed too
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            data, waited = _read_all(sock, 10)
        assert data.startswith(b"HTTP/1.1 408") and waited < 5
        # an answered request, then idle: closed by the keep-alive timeout, without a 408
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: lrs\r\n\r\n")
            data, waited = _read_all(sock, 10)
        assert data.startswith(b"HTTP/1.1 200") and b"408" not in data
        assert b"nosniff" in data.lower()
        assert 1 < waited < 6
    finally:
        server.stop()
