"""No secret and no Authorization header in any log line (issue 6, point 5).

Two ways in: in-process, with a deliberately leaky route (a bug that logs headers and raises
with the header in the message, the way uvicorn's trace level logs whole scopes), and a real
`lrs serve` at debug level, whose log file is read back. Requests include good, wrong,
malformed and alternate-syntax credentials.
"""

from __future__ import annotations

import base64
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from lrs.api.app import create_app
from lrs.api.redact import RedactSecrets, redact, uvicorn_log_config
from lrs.auth import create_credential
from lrs.config import load_settings
from tests.processes import LRSProcess, wait_until

STATEMENT = {
    "actor": {"mbox": "mailto:ann@example.org"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
    "object": {"id": "http://example.org/course/1"},
}


def forms_of(key: str, secret: str) -> list[str]:
    """Every way the credential could show up in a log line."""
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return [secret, token, quote(token), f"{key}:{secret}"]


async def _leaky(request: Request) -> Response:
    """A bug of the worst kind: it logs the headers and the raw scope, then fails quoting one."""
    log = logging.getLogger("lrs.api.leaky")
    log.warning("headers were %s", dict(request.headers))
    logging.getLogger("uvicorn.error").log(5, "ASGI [1] Started scope=%s", request.scope)
    raise RuntimeError(f"cannot handle Authorization: {request.headers.get('authorization')}")


def requests_with(client: TestClient, key: str, secret: str) -> list[httpx.Response]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    good = {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}
    wrong = base64.b64encode(f"{key}:{secret}x".encode()).decode()
    form = urlencode(
        {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3", "content": "{"}
    )
    return [
        client.get("/xapi/statements", headers=good),
        client.post("/xapi/statements", json=STATEMENT, headers=good),
        client.post("/xapi/statements", content=b"{broken", headers={**good, "Content-Type": "application/json"}),
        client.get("/xapi/statements", headers={**good, "Authorization": f"Basic {wrong}"}),
        client.get("/xapi/statements", headers={**good, "Authorization": f"Basic {key}:{secret}"}),
        client.get("/xapi/statements", headers={**good, "Authorization": f"Bearer {key}:{secret}"}),
        client.post("/caliper/v1p2", json={"sensor": "s"}, headers={"Authorization": f"Bearer {key}:{secret}"}),
        client.post(
            "/xapi/statements?method=PUT",
            content=form.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        client.get(f"/xapi/statements?method=GET&Authorization=Basic%20{quote(token)}"),
        client.get("/leaky", headers=good),
    ]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything logged anywhere, at every level, formatted with tracebacks.

    The handler is attached before the app exists, as a host's handlers would be: the app
    installs the filter on the handlers it finds.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(1)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_no_credential_reaches_a_log_line_in_process(
    tmp_path: Path, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in __import__("os").environ if k.startswith("LRS_")]:
        monkeypatch.delenv(name)
    app = create_app(load_settings(data=str(tmp_path), processors=False))
    app.router.routes.insert(0, Route("/leaky", _leaky))
    new = create_credential(app.state.store, "tests", ["all"])
    key, secret = new.credential.key, new.secret
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = requests_with(client, key, secret)
    app.state.store.close()
    assert answers[0].status_code == 200 and answers[-1].status_code == 500
    text = captured.getvalue()
    assert "headers were" in text and "Traceback" in text and "ASGI [1] Started" in text
    assert "[REDACTED]" in text  # the leaks happened, and were caught
    for form in forms_of(key, secret):
        assert form not in text, f"{form[:12]}... appears in the log"


def test_the_filter_keeps_access_log_arguments_usable() -> None:
    """uvicorn's access formatter unpacks the record's argument tuple: it must stay a tuple."""
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/xapi/statements?Authorization=Basic%20a2V5OnNlY3JldA==", "1.1", 200),
        None,
    )
    assert RedactSecrets().filter(record)
    assert isinstance(record.args, tuple) and record.args[4] == 200
    assert "a2V5OnNlY3JldA" not in record.getMessage()
    assert redact("basic digital skills") == "basic digital skills"
    assert redact("mongodb://lrs:pa55word@db:27017/lrs") == "mongodb://lrs:[REDACTED]@db:27017/lrs"


def test_serve_hands_uvicorn_a_config_that_filters_every_handler() -> None:
    config = uvicorn_log_config("info")
    for handler in config["handlers"].values():
        assert "redact_secrets" in handler["filters"]
    assert config["root"]["handlers"] == ["default"]


def test_no_credential_in_the_log_of_a_real_server(tmp_path: Path) -> None:
    server = LRSProcess("lrs-logs", tmp_path, {"data": str(tmp_path / "data")})
    key, secret = server.credential()
    server._spawn(
        [sys.executable, "-m", "lrs.cli", "serve", "--port", str(server.port), "--log-level", "debug"],
        server._env(),
    )
    try:
        wait_until(lambda: httpx.get(server.url + "/health", timeout=1).status_code == 200, 30, "lrs serve")
        with httpx.Client(base_url=server.url, timeout=10) as http:
            answers = requests_with(http, key, secret)  # type: ignore[arg-type]
        assert answers[0].status_code == 200
    finally:
        server.stop()
    text = server.log()
    assert "Application startup complete" in text  # the log was captured
    for form in forms_of(key, secret):
        assert form not in text, f"{form[:12]}... appears in the server log"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a hex secret that happens to start with "b" is not a bytes literal: nothing kept
        ("/xapi/about?secret=b0c1d2e3f4", "/xapi/about?secret=[REDACTED]"),
        ("token=bead5eed", "token=[REDACTED]"),
        # a real bytes literal keeps its prefix and quote, its content goes
        ("{'secret': b'xyz123'}", "{'secret': b'[REDACTED]'}"),
        ("('authorization', b'Basic YWJjOmRlZg==')", "('authorization', b'[REDACTED]')"),
    ],
)
def test_a_value_starting_with_b_is_redacted_whole(text: str, expected: str) -> None:
    assert redact(text) == expected
