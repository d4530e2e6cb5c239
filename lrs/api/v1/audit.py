"""The access log over HTTP: `GET /api/v1/audit`, for admins and auditors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from lrs.api.v1.permissions import endpoint, read_access_log
from lrs.api.xapi.common import in_thread, json_response
from lrs.domain.records import AccessQuery, Credential
from lrs.domain.times import format_stored
from lrs.ops.audit import pseudonym, record_read
from lrs.ports import Store
from lrs.xapi.agent_keys import normalise_key
from lrs.xapi.errors import ValidationError
from lrs.xapi.time import parse_timestamp

PARAMS = {"since", "until", "credential", "learner", "person", "after", "limit"}
MAX_PAGE = 1000


def _credential_of(request: Request) -> Credential:
    """The request's credential, as the route's wrapper (lrs.api.v1.permissions) left it."""
    credential: Credential = request.state.credential
    return credential


async def log_read(
    request: Request,
    what: str,
    learner: str | None,
    count: int,
    query: dict[str, Any] | None = None,
) -> None:
    """`lrs.ops.audit.record_read` for a /api/v1 route: call it before answering, so a read
    that cannot be logged is refused (the error propagates) instead of answered unlogged."""
    credential = _credential_of(request)
    await in_thread(record_read, request.app.state.store, credential, what, learner, count, query)


class CountedReads:
    """Wraps a store's page reader and counts the records it returns (for exports)."""

    def __init__(self, read: Callable[[Any], Any]) -> None:
        self.read = read
        self.count = 0

    def __call__(self, query: Any) -> Any:
        page = self.read(query)
        self.count += len(page.records)
        return page


def logged_stream(
    request: Request,
    chunks: Iterator[bytes],
    counted: CountedReads,
    what: str,
    learner: str | None,
    query: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """An export, logged once streamed with the number of records it held: the count is
    not known before. (So an export cut off mid-way is logged with what it had sent.)"""
    credential = _credential_of(request)
    store = request.app.state.store
    try:
        yield from chunks
    finally:
        record_read(store, credential, what, learner, counted.count, query)


def _int(params: Any, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()):
        raise ValidationError(f"{name} must be a non-negative integer", name)
    return int(value)


def access_query(store: Store, credential: Credential, params: Any) -> AccessQuery:
    """The page asked for; an auditor assigned to organisations sees their entries only."""
    for name in params:
        if name not in PARAMS:
            raise ValidationError(f"unknown parameter {name!r}", name)
    if "learner" in params and "person" in params:
        raise ValidationError("give learner or person, not both", "person")
    query = AccessQuery(
        credential=params.get("credential"),
        after=_int(params, "after", 0),
        limit=max(1, min(_int(params, "limit", 100), MAX_PAGE)),
    )
    for name in ("since", "until"):
        if name in params:
            setattr(query, name, format_stored(parse_timestamp(params[name], "2.0.0", name)))
    if "learner" in params:
        query.learner = pseudonym(store, normalise_key(params["learner"]))
    elif "person" in params:
        query.learner = pseudonym(store, params["person"])
    if credential.role == "auditor" and credential.audits:
        query.orgs = tuple(credential.audits)
    return query


def read_page(store: Store, credential: Credential, params: Any) -> dict[str, Any]:
    """Blocking: the page, the link to the next one, and the head to anchor elsewhere."""
    query = access_query(store, credential, params)
    found = store.read_access(query)
    head = store.access_head()
    body: dict[str, Any] = {
        "entries": [asdict(entry) for entry in found],
        "next": None,
        "head": None if head is None else asdict(head),
    }
    if len(found) == query.limit:
        following = {k: v for k, v in params.items() if k != "after"} | {"after": found[-1].seq}
        body["next"] = "/api/v1/audit?" + urlencode(following)
    # Reading who read whom is itself a read of learner data (as pseudonyms): logged too.
    record_read(store, credential, "audit", None, len(found), {"filtered": sorted(params)})
    return body


@endpoint(read_access_log)
async def audit_log(request: Request, store: Store) -> Response:
    credential = _credential_of(request)
    return json_response(await in_thread(read_page, store, credential, request.query_params))
