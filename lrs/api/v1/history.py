"""A learner's (or person's) complete record: what an auditor reads, and what a learner
exports.

Unlike GET /xapi/statements, the history keeps voided statements (flagged) and voiding ones,
and says of each when it was stored, with which authority, and from which source: the
credential and organisation that stored it, or the connector. Pages follow `seq`, the
store's order, through an opaque cursor, so a page boundary never moves while statements
arrive (new ones come after). `format=jsonl` or `format=csv` (or an Accept header asking
for them) streams the whole history from the store a page at a time, so an export of a
million statements holds one page in memory, never the history.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from lrs.access import Access, org_of
from lrs.api.v1.audit import CountedReads, log_read, logged_stream
from lrs.api.v1.learners import learner_from
from lrs.api.v1.permissions import query_endpoint
from lrs.api.v1.persons import person_keys
from lrs.api.xapi.common import in_thread, json_response
from lrs.domain.records import DEFAULT_ORG, HistoryPage, HistoryQuery, HistoryRecord
from lrs.domain.times import format_stored
from lrs.ports import Store
from lrs.xapi.errors import ValidationError
from lrs.xapi.statements import is_voiding, statement_ref_target
from lrs.xapi.time import parse_timestamp
from lrs.xapi.validation import validate_iri

PAGE = 100
MAX_PAGE = 1000
EXPORT_PAGE = 500  # statements read from the store per step of a streamed export
FORMATS = ("json", "jsonl", "csv")
PARAMS = {"since", "until", "verb", "activity", "course", "limit", "cursor", "format", "agent"}
CSV_COLUMNS = (
    "id",
    "stored",
    "timestamp",
    "voided",
    "voids",
    "actor",
    "verb",
    "object",
    "org",
    "source_kind",
    "source",
    "authority",
    "statement",
)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"h1:{seq}".encode()).decode().rstrip("=")


def decode_cursor(token: str) -> int:
    """The seq a cursor continues after; a cursor only moves the start, it widens nothing."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, number = text.partition(":")
    if prefix != "h1" or not number.isdigit() or int(number) > 2**62:
        raise ValidationError("the cursor is not one this LRS issued", "cursor")
    return int(number)


def history_query(request: Request, learners: list[str]) -> tuple[HistoryQuery, str]:
    """The query and output format a request asks for (checked before anything streams)."""
    params = request.query_params
    for name in params:
        if name not in PARAMS:
            raise ValidationError(f"unknown parameter {name!r}", name)
    query = HistoryQuery(learners=learners, limit=PAGE)
    for name in ("since", "until"):
        if name in params:
            moment = parse_timestamp(params[name], "2.0.0", name)
            setattr(query, name, format_stored(moment))
    for name in ("verb", "activity", "course"):
        if name in params:
            validate_iri(params[name], name)
            setattr(query, name, params[name])
    if "limit" in params:
        if not params["limit"].isdigit():
            raise ValidationError("limit must be a positive integer", "limit")
        query.limit = max(1, min(int(params["limit"]), MAX_PAGE))
    if "cursor" in params:
        query.after = decode_cursor(params["cursor"])
    return query, _format(request)


def _format(request: Request) -> str:
    fmt = request.query_params.get("format")
    if fmt is None:
        accept = request.headers.get("accept", "")
        if "text/csv" in accept:
            return "csv"
        if "ndjson" in accept or "jsonl" in accept:
            return "jsonl"
        return "json"
    if fmt not in FORMATS:
        raise ValidationError("format must be json, jsonl or csv", "format")
    return fmt


class Sources:
    """Credential key -> (organisation, is a credential), read once per request."""

    def __init__(self, store: Store) -> None:
        self.orgs = {c.key: org_of(c) for c in store.list_credentials()}

    def source(self, key: str) -> dict[str, Any]:
        if key in self.orgs:
            return {"kind": "credential", "credential": key, "org": self.orgs[key]}
        # Not a credential: a connector (or the Kafka ingest) stored it under its source name.
        return {"kind": "connector", "connector": key, "org": DEFAULT_ORG}


def entry(record: HistoryRecord, sources: Sources) -> dict[str, Any]:
    """One history entry: the statement and what the store knows about it."""
    statement = orjson.loads(record.data)
    return {
        "id": statement.get("id"),
        "stored": record.stored,
        "voided": record.voided,
        "voids": statement_ref_target(statement) if is_voiding(statement) else None,
        "authority": statement.get("authority"),
        "source": sources.source(record.credential),
        "statement": statement,
    }


def csv_row(item: dict[str, Any]) -> list[Any]:
    statement = item["statement"]
    obj = statement.get("object") or {}
    source = item["source"]
    authority = item["authority"] or {}
    return [
        item["id"],
        item["stored"],
        statement.get("timestamp", ""),
        "true" if item["voided"] else "false",
        item["voids"] or "",
        orjson.dumps(statement.get("actor")).decode(),
        (statement.get("verb") or {}).get("id", ""),
        obj.get("id", "") if isinstance(obj, dict) else "",
        source["org"],
        source["kind"],
        source.get("credential") or source.get("connector"),
        authority.get("name", "") if isinstance(authority, dict) else "",
        orjson.dumps(statement).decode(),
    ]


def _csv_text(rows: Iterable[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def export(
    read: Callable[[HistoryQuery], HistoryPage], query: HistoryQuery, sources: Sources, fmt: str
) -> Iterator[bytes]:
    """The whole history from `query.after` on, as JSON lines or CSV, one store page at a
    time: memory holds a page, whatever the length of the history."""
    query.limit = EXPORT_PAGE
    if fmt == "csv":
        yield _csv_text([list(CSV_COLUMNS)])
    while True:
        page = read(query)
        # One entry at a time: a page's parsed statements are never all held at once.
        if fmt == "csv":
            chunk = _csv_text(csv_row(entry(record, sources)) for record in page.records)
        else:
            chunk = b"".join(orjson.dumps(entry(r, sources)) + b"\n" for r in page.records)
        if chunk:
            yield chunk
        if page.cursor is None:
            return
        query.after = page.cursor


async def _answer(
    request: Request, store: Store, query: HistoryQuery, fmt: str, subject: dict[str, Any], base: str
) -> Response:
    access: Access = request.state.access
    access.scope.apply(query)  # whose statements: from the credential, never the request
    sources = await in_thread(Sources, store)
    what = "person/history" if "person" in subject else "learner/history"
    whom = subject.get("person") or subject.get("learner")
    logged = {k: v for k, v in request.query_params.items() if k not in ("agent", "cursor")}
    if fmt != "json":
        counted = CountedReads(store.statement_history)
        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        name = "history." + fmt
        return StreamingResponse(
            logged_stream(request, export(counted, query, sources, fmt), counted, what, whom, logged),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    page = await in_thread(store.statement_history, query)
    body: dict[str, Any] = {
        **subject,
        "entries": [entry(record, sources) for record in page.records],
        "next": None,
    }
    if page.cursor is not None:
        following = {k: v for k, v in request.query_params.items() if k not in ("cursor", "agent")}
        body["next"] = base + "?" + urlencode({**following, "cursor": encode_cursor(page.cursor)})
    await log_read(request, what, whom, len(page.records), logged)
    return json_response(body)


@query_endpoint
async def learner_history(request: Request, store: Store) -> Response:
    key = learner_from(request)
    access: Access = request.state.access
    # Another organisation's learner has, for this reader, no history: the same answer as
    # a learner nobody ever recorded (the memberships projection says so in one lookup).
    visible = await in_thread(access.sees_learner, key)
    query, fmt = history_query(request, [key] if visible else [])
    base = f"/api/v1/learners/{quote(key, safe='')}/history"
    return await _answer(request, store, query, fmt, {"learner": key}, base)


@query_endpoint
async def person_history(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    query, fmt = history_query(request, keys)
    base = f"/api/v1/persons/{quote(person, safe='')}/history"
    return await _answer(request, store, query, fmt, {"person": person, "keys": keys}, base)
