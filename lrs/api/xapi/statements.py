"""The Statement resource: PUT, POST (JSON or multipart with attachments), GET, HEAD."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.api.limits import check_attachment_sizes, parse_limited_json
from lrs.api.xapi.common import (
    XAPIContext,
    access_for,
    agent_param,
    check_params,
    http_date,
    in_thread,
    iri_param,
    json_response,
    raw_json_response,
    timestamp_param,
    uuid_param,
    xapi_endpoint,
)
from lrs.auth import authority_for, reads_only_own
from lrs.domain.records import Attachment, StatementQuery
from lrs.ops.audit import record_read, statement_learner
from lrs.ops.ingest import Writer, complete_batch, store_batch
from lrs.xapi.attachments import build_multipart, parse_multipart
from lrs.xapi.errors import NotFound, PayloadTooLarge, ValidationError
from lrs.xapi.statements import format_canonical, format_ids

QUERY_PARAMS = {
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
}
SINGLE_PARAMS = {"statementId", "voidedStatementId", "format", "attachments"}
FORMATS = ("exact", "ids", "canonical")
# What the access log keeps of a statement query: the filters that identify nobody.
_LOGGED = (
    "verb",
    "activity",
    "registration",
    "since",
    "until",
    "related_agents",
    "related_activities",
)


# writing -------------------------------------------------------------------------------------
async def _read_statements(ctx: XAPIContext) -> tuple[Any, list[Attachment]]:
    """The posted statement(s) and attachments, from a JSON or a multipart/mixed body."""
    content_type = ctx.request.headers.get("content-type", "")
    body = await ctx.request.body()
    if 0 < ctx.settings.max_body_bytes < len(body):
        raise PayloadTooLarge("the request body is too large", "body")
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "multipart/mixed":
        json_part, parts = parse_multipart(body, content_type)
        check_attachment_sizes(parts, ctx.settings)
        value = parse_limited_json(json_part, ctx.settings)
        attachments = [Attachment(p.sha2.lower(), p.content_type, p.data) for p in parts.values()]
        return (value, parts), attachments
    if media != "application/json":
        raise ValidationError(
            "statements must be sent as application/json or multipart/mixed", "Content-Type"
        )
    return (parse_limited_json(body, ctx.settings), {}), []


def _complete(ctx: XAPIContext, value: Any, parts: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch as it will be stored (lrs.ops.ingest decides, as for every entrance)."""
    limit = ctx.settings.max_batch
    if isinstance(value, list) and 0 < limit < len(value):  # refused before validating it all
        raise PayloadTooLarge(f"a batch holds at most {limit} statements", "body")
    return complete_batch(value, ctx.version, parts)


async def _save(
    ctx: XAPIContext, batch: list[dict[str, Any]], attachments: list[Attachment]
) -> list[str]:
    writer = Writer(ctx.credential, authority_for(ctx.credential, ctx.settings.public_url))
    ids = await in_thread(store_batch, ctx.store, batch, writer, ctx.version, attachments)
    ctx.request.app.state.metrics.count_stored(len(ids))
    for hook in ctx.request.app.state.stored_hooks:
        hook()
    return ids


async def put_statement(ctx: XAPIContext) -> Response:
    check_params(ctx.params, {"statementId"}, ("statementId",))
    statement_id = uuid_param(ctx.params, "statementId")
    (value, parts), attachments = await _read_statements(ctx)
    if not isinstance(value, dict):
        raise ValidationError("PUT takes a single statement object", "body")
    if "id" in value and str(value["id"]).lower() != statement_id:
        raise ValidationError("the statement id differs from the statementId parameter", "id")
    value = {**value, "id": statement_id}
    batch = _complete(ctx, value, parts)
    await _save(ctx, batch, attachments)
    return Response(status_code=204)


async def post_statements(ctx: XAPIContext) -> Response:
    check_params(ctx.params, set())
    (value, parts), attachments = await _read_statements(ctx)
    batch = _complete(ctx, value, parts)
    ids = await _save(ctx, batch, attachments)
    return json_response(ids)


# reading -------------------------------------------------------------------------------------
def _flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise ValidationError(f"parameter {name} must be true or false", name)
    return value == "true"


def _format(params: dict[str, str]) -> str:
    fmt = params.get("format", "exact")
    if fmt not in FORMATS:
        raise ValidationError("format must be exact, ids or canonical", "format")
    return fmt


def _languages(ctx: XAPIContext) -> list[str]:
    """Accept-Language as a list of tags, best first."""
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(ctx.request.headers.get("accept-language", "").split(",")):
        tag, _, params = item.strip().partition(";")
        if not tag:
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((-quality, index, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


def _renderer(ctx: XAPIContext, fmt: str) -> Callable[[bytes], bytes]:
    if fmt == "ids":
        return lambda raw: orjson.dumps(format_ids(orjson.loads(raw)))
    if fmt == "canonical":
        languages = _languages(ctx)
        return lambda raw: orjson.dumps(format_canonical(orjson.loads(raw), languages))
    return lambda raw: raw


def _attachment_hashes(statements: list[bytes]) -> list[str]:
    hashes: list[str] = []
    for raw in statements:
        statement = orjson.loads(raw)
        for attachment in statement.get("attachments") or []:
            if isinstance(attachment, dict) and "sha2" in attachment:
                hashes.append(str(attachment["sha2"]).lower())
        substatement = statement.get("object") or {}
        for attachment in substatement.get("attachments") or []:
            if isinstance(attachment, dict) and "sha2" in attachment:
                hashes.append(str(attachment["sha2"]).lower())
    return list(dict.fromkeys(hashes))


def _headers(ctx: XAPIContext, consistent: str, last_modified: str | None) -> dict[str, str]:
    headers = {"X-Experience-API-Consistent-Through": consistent}
    if last_modified:
        headers["Last-Modified"] = http_date(last_modified)
    return headers


async def _respond(
    ctx: XAPIContext,
    body: bytes,
    statements: list[bytes],
    attachments: bool,
    headers: dict[str, str],
) -> Response:
    if not attachments:
        return raw_json_response(body, headers=headers)
    found = await in_thread(ctx.store.get_attachments, _attachment_hashes(statements))
    multipart, content_type = build_multipart(body, found)
    return Response(multipart, 200, {**headers, "Content-Type": content_type})


async def get_statements(ctx: XAPIContext) -> Response:
    params = ctx.params
    store = ctx.store
    consistent = await in_thread(store.consistent_through)
    if "statementId" in params or "voidedStatementId" in params:
        check_params(params, SINGLE_PARAMS)
        if "statementId" in params and "voidedStatementId" in params:
            raise ValidationError("give statementId or voidedStatementId, not both", "statementId")
        voided = "voidedStatementId" in params
        name = "voidedStatementId" if voided else "statementId"
        statement_id = uuid_param(params, name)
        fmt = _format(params)
        attachments = _flag(params, "attachments")
        raw = await in_thread(store.get_statement, statement_id, voided=voided)
        if raw is None:
            raise NotFound(f"no {'voided ' if voided else ''}statement {statement_id}", name)
        if reads_only_own(ctx.credential) and not await _is_own(ctx, raw):
            raise NotFound(f"no statement {statement_id}", name)
        access = await access_for(store, ctx.credential)
        if not access.scope.sees_statement(orjson.loads(raw)):  # as if it were not there
            raise NotFound(f"no {'voided ' if voided else ''}statement {statement_id}", name)
        learner = statement_learner(raw)
        await in_thread(record_read, store, ctx.credential, "xapi/statement", learner, 1)
        stored = orjson.loads(raw).get("stored")
        return await _respond(
            ctx, _renderer(ctx, fmt)(raw), [raw], attachments, _headers(ctx, consistent, stored)
        )

    if "more" in params:
        check_params(params, {"more"})
        query, fmt, attachments = _decode_more(params["more"])
        query.limit = min(query.limit, ctx.settings.page_size)
    else:
        check_params(params, QUERY_PARAMS)
        query, fmt, attachments = _parse_query(ctx)
    if reads_only_own(ctx.credential):
        query.authority = ctx.credential.key
    (await access_for(store, ctx.credential)).scope.apply(query)  # never from the token
    page = await in_thread(store.query_statements, query)
    await in_thread(
        record_read, store, ctx.credential, "xapi/statements", query.agent, len(page.statements),
        {k: getattr(query, k) for k in _LOGGED if getattr(query, k) not in (None, False)},
    )  # fmt: skip
    render = _renderer(ctx, fmt)
    rendered = [render(s) for s in page.statements]
    more = ""
    if page.cursor is not None:
        query.cursor = page.cursor
        more = "/xapi/statements?more=" + _encode_more(query, fmt, attachments)
    body = b'{"statements":[' + b",".join(rendered) + b'],"more":' + orjson.dumps(more) + b"}"
    return await _respond(
        ctx, body, page.statements, attachments, _headers(ctx, consistent, consistent)
    )


async def _is_own(ctx: XAPIContext, raw: bytes) -> bool:
    authority = orjson.loads(raw).get("authority") or {}
    return (authority.get("account") or {}).get("name") == ctx.credential.key


def _parse_query(ctx: XAPIContext) -> tuple[StatementQuery, str, bool]:
    params = ctx.params
    query = StatementQuery()
    if "agent" in params:
        query.agent = agent_param(params)[1]
    if "verb" in params:
        query.verb = iri_param(params, "verb")
    if "activity" in params:
        query.activity = iri_param(params, "activity")
    if "registration" in params:
        query.registration = uuid_param(params, "registration")
    query.related_agents = _flag(params, "related_agents")
    query.related_activities = _flag(params, "related_activities")
    query.ascending = _flag(params, "ascending")
    if "since" in params:
        query.since = timestamp_param(params, "since", ctx.version)
    if "until" in params:
        query.until = timestamp_param(params, "until", ctx.version)
    limit = params.get("limit", "0")
    if not (limit.isascii() and limit.isdigit()):
        raise ValidationError("limit must be a non-negative integer", "limit")
    page_size = ctx.settings.page_size
    query.limit = min(int(limit), page_size) if int(limit) > 0 else page_size
    return query, _format(params), _flag(params, "attachments")


def _encode_more(query: StatementQuery, fmt: str, attachments: bool) -> str:
    state = {k: v for k, v in asdict(query).items() if v not in (None, False)}
    for recomputed in ("authority", "credentials", "exclude_credentials"):
        state.pop(recomputed, None)  # from the credential on every request, never the token
    state["format"] = fmt
    state["attachments"] = attachments
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


# A client can decode, edit and send back a `more` token: its values are checked like parameters.
_MORE_TYPES = {
    "limit": int,
    "cursor": int,
    "ascending": bool,
    "related_agents": bool,
    "related_activities": bool,
    "exclude_credentials": bool,  # never in a token (recomputed), but a field with a default
}


def _decode_more(token: str) -> tuple[StatementQuery, str, bool]:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        fmt = state.pop("format")
        attachments = state.pop("attachments")
        query = StatementQuery(**state)
    except (
        binascii.Error,
        orjson.JSONDecodeError,
        TypeError,
        KeyError,
        ValueError,
        AttributeError,
    ):
        raise ValidationError("the more token is not one this LRS issued", "more") from None
    well_formed = (
        fmt in FORMATS
        and isinstance(attachments, bool)
        and all(
            type(getattr(query, f.name)) is _MORE_TYPES.get(f.name, str)
            for f in fields(StatementQuery)
            if getattr(query, f.name) is not None
        )
    )
    if not well_formed or query.limit < 1 or not 0 <= (query.cursor or 0) <= 2**62:
        raise ValidationError("the more token is not one this LRS issued", "more")
    return query, fmt, attachments


put = xapi_endpoint("statements")(put_statement)
post = xapi_endpoint("statements")(post_statements)
_get = xapi_endpoint("statements")(get_statements)


async def get(request: Request) -> Response:
    """Every statement GET answer, errors too, says how far the store is consistent."""
    response = await _get(request)
    if "X-Experience-API-Consistent-Through" not in response.headers:
        consistent = await in_thread(request.app.state.store.consistent_through)
        response.headers["X-Experience-API-Consistent-Through"] = consistent
    return response
