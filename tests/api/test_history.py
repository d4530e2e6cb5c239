"""GET /api/v1/learners/{learner}/history and /api/v1/persons/{person}/history.

The complete record: voided and voiding statements included, each with its stored time,
authority and source; filters; an opaque cursor that stays put while statements arrive;
and JSON-lines / CSV exports streamed in bounded memory.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from starlette.testclient import TestClient

from lrs.adapters.sqlite import SQLiteStore
from lrs.api.v1.history import Sources, export
from lrs.domain.records import HistoryQuery
from tests.conftest import APIClient

LEARNER = "mbox:mailto:an@example.org"
AGENT = {"mbox": "mailto:an@example.org"}
OTHER = {"mbox": "mailto:binh@example.org"}
COURSE = "http://example.org/course/digital-skills"
QUIZ = "http://example.org/quiz/1"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def statement(
    agent: dict[str, Any] = AGENT,
    verb: str = COMPLETED,
    activity: str = QUIZ,
    course: str | None = COURSE,
    **extra: Any,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": agent,
        "verb": {"id": verb},
        "object": {"id": activity},
        **extra,
    }
    if course is not None:
        value["context"] = {"contextActivities": {"grouping": [{"id": course}]}}
    return value


def post(client: TestClient, *statements: dict[str, Any]) -> None:
    response = client.post("/xapi/statements", json=list(statements))
    assert response.status_code == 200, response.text


def url(learner: str = LEARNER, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return f"/api/v1/learners/{quote(learner, safe='')}/history" + (f"?{query}" if query else "")


def ids(body: dict[str, Any]) -> list[str]:
    return [entry["id"] for entry in body["entries"]]


def test_the_history_is_the_complete_record(api: APIClient) -> None:
    client = api.http
    first, second = statement(), statement(verb=PASSED)
    post(client, first, second)
    voiding = statement(verb=VOIDED, course=None)
    voiding["object"] = {"objectType": "StatementRef", "id": first["id"]}
    post(client, voiding)
    post(client, statement(agent=OTHER))

    body = client.get(url()).json()
    assert body["learner"] == LEARNER and body["next"] is None
    assert ids(body) == [first["id"], second["id"], voiding["id"]]
    voided, kept, voids = body["entries"]
    assert (voided["voided"], kept["voided"], voids["voided"]) == (True, False, False)
    assert voids["voids"] == first["id"] and voided["voids"] is None
    for entry in body["entries"]:
        assert entry["stored"] == entry["statement"]["stored"]
        assert entry["authority"]["account"]["name"] == api.key
        assert entry["source"] == {"kind": "credential", "credential": api.key, "org": "default"}
    # GET /xapi/statements hides the voided statement; the history does not
    listed = client.get("/xapi/statements", params={"agent": json.dumps(AGENT)}).json()
    assert first["id"] not in [s["id"] for s in listed["statements"]]


def test_filters(api: APIClient) -> None:
    client = api.http
    early = statement()
    post(client, early)
    time.sleep(0.01)
    middle = client.get("/xapi/about").headers.get("date")  # not used: stored times below
    del middle
    boundary = client.get(url()).json()["entries"][0]["stored"]
    time.sleep(0.01)
    passed = statement(verb=PASSED)
    elsewhere = statement(activity="http://example.org/quiz/2", course="http://example.org/other")
    post(client, passed, elsewhere)

    assert ids(client.get(url(verb=PASSED)).json()) == [passed["id"]]
    assert ids(client.get(url(activity="http://example.org/quiz/2")).json()) == [elsewhere["id"]]
    assert ids(client.get(url(course=COURSE)).json()) == [early["id"], passed["id"]]
    assert ids(client.get(url(since=boundary)).json()) == [passed["id"], elsewhere["id"]]
    assert ids(client.get(url(until=boundary)).json()) == [early["id"]]
    for bad in ({"since": "yesterday"}, {"verb": "not an iri"}, {"limit": "-1"}, {"cursor": "nope"},
                {"format": "xml"}, {"colour": "blue"}):
        response = client.get(url(**bad))
        assert response.status_code == 400, bad
        assert response.json()["error"]["field"] == next(iter(bad))


def test_cursor_pages_stay_stable_while_statements_arrive(api: APIClient) -> None:
    client = api.http
    sent = [statement() for _ in range(5)]
    post(client, *sent)
    page = client.get(url(limit="2")).json()
    seen = ids(page)
    late = statement()
    post(client, late)  # arrives after the first page was read
    while page["next"]:
        assert "cursor=" in page["next"] and "limit=2" in page["next"]
        page = client.get(page["next"]).json()
        seen += ids(page)
    assert seen == [s["id"] for s in [*sent, late]]


def test_by_agent_and_for_a_person_over_all_keys(api: APIClient) -> None:
    client = api.http
    mine, theirs, about_me = statement(), statement(agent=OTHER), statement(agent=OTHER)
    about_me["object"] = {"objectType": "Agent", **AGENT}
    post(client, mine, theirs, about_me, statement(agent={"mbox": "mailto:chi@example.org"}))
    by_agent = client.get("/api/v1/learners/history", params={"agent": json.dumps(AGENT)}).json()
    assert ids(by_agent) == [mine["id"], about_me["id"]]

    keys = [LEARNER, "mbox:mailto:binh@example.org"]
    assert client.post("/api/v1/persons/p-1/keys", json={"keys": keys}).status_code == 200
    body = client.get("/api/v1/persons/p-1/history").json()
    assert body["person"] == "p-1" and body["keys"] == sorted(keys)
    assert ids(body) == [mine["id"], theirs["id"], about_me["id"]]  # each once
    assert client.get("/api/v1/persons/nobody/history").status_code == 404


def test_exports_stream_every_entry(api: APIClient) -> None:
    client = api.http
    sent = [statement() for _ in range(7)]
    post(client, *sent)
    lines = client.get(url(format="jsonl"))
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["id"] for line in lines.text.splitlines()] == [s["id"] for s in sent]

    table = client.get(url(), headers={"Accept": "text/csv"})
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert [row["id"] for row in rows] == [s["id"] for s in sent]
    assert rows[0]["verb"] == COMPLETED and rows[0]["org"] == "default"
    assert json.loads(rows[0]["statement"])["id"] == sent[0]["id"]

    by_accept = client.get(url(), headers={"Accept": "application/x-ndjson"})
    assert by_accept.text == lines.text
    assert client.get(url(format="jsonl", cursor=_cursor_after(client, 5))).text.count("\n") == 2


def _cursor_after(client: TestClient, count: int) -> str:
    page = client.get(url(limit=str(count))).json()
    return page["next"].split("cursor=")[1]


def test_the_openapi_document_describes_the_history(api: APIClient) -> None:
    paths = api.http.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/api/v1/learners/{learner}/history", "/api/v1/persons/{person}/history"):
        content = paths[path]["get"]["responses"]["200"]["content"]
        assert {"application/json", "text/csv", "application/x-ndjson"} <= set(content)


# bounded memory -------------------------------------------------------------------------------
def _fill(store: SQLiteStore, count: int) -> None:
    authority = {"objectType": "Agent", "account": {"homePage": "http://lrs.test", "name": "k"}}
    for start in range(0, count, 1000):
        batch = [
            statement(result={"response": "x" * 200}) for _ in range(min(1000, count - start))
        ]
        store.save_statements(
            batch, authority=authority, credential="k", version="1.0.3", attachments=[]
        )


def _settle(path: Path) -> None:
    """Wait for the store's background statement indexer (it indexes when the store is
    idle), whose allocations tracemalloc would count as the export's."""
    conn = sqlite3.connect(path)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                through = conn.execute("SELECT through FROM index_progress").fetchone()[0]
            except sqlite3.OperationalError:
                return  # a store that indexes as it writes
            if through >= conn.execute("SELECT max(seq) FROM statements").fetchone()[0]:
                return
            time.sleep(0.05)
    finally:
        conn.close()


def _export_peak(store: SQLiteStore, fmt: str) -> tuple[int, int]:
    """(peak traced bytes while exporting, bytes exported): chunks are dropped as they come,
    as the HTTP server drops them once sent."""
    _settle(store.path)
    sources = Sources(store)
    tracemalloc.start()
    try:
        exported = 0
        for chunk in export(store.statement_history, HistoryQuery([LEARNER]), sources, fmt):
            exported += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, exported


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_holds_a_page_not_the_history(tmp_path: Path, fmt: str) -> None:
    """Exporting 20,000 statements peaks at the memory of exporting 2,000: one store page
    (500 statements) at a time, so a million-statement history exports in the same."""
    small = SQLiteStore(tmp_path / "small.db", synchronous="OFF")
    large = SQLiteStore(tmp_path / "large.db", synchronous="OFF")
    try:
        _fill(small, 2_000)
        _fill(large, 20_000)
        _settle(small.path)
        _settle(large.path)  # its indexer would otherwise run while the small one exports
        _export_peak(small, fmt)  # warm up: first-use allocations (imports, caches) aside
        small_peak, small_bytes = _export_peak(small, fmt)
        large_peak, large_bytes = _export_peak(large, fmt)
    finally:
        small.close()
        large.close()
    assert large_bytes > 9 * small_bytes  # ten times the history...
    assert large_peak < small_peak * 1.25 + 256 * 1024  # ...in the same memory
    assert large_peak < large_bytes / 5  # (a page's worth, not the history's)
    print(f"{fmt}: peak {small_peak / 1e6:.2f} MB for 2k ({small_bytes / 1e6:.1f} MB out), "
          f"{large_peak / 1e6:.2f} MB for 20k ({large_bytes / 1e6:.1f} MB out)")


def test_entries_read_from_the_store_match_the_http_page(api: APIClient) -> None:
    post(api.http, statement(), statement())
    store = api.http.app.state.store  # type: ignore[attr-defined]
    page = store.statement_history(HistoryQuery([LEARNER]))
    http = api.http.get(url()).json()
    assert [orjson.loads(r.data)["id"] for r in page.records] == ids(http)
