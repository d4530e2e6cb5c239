"""Caliper endpoint: sensors (Canvas live events, Open edX, any Caliper 1.1/1.2 emitter) POST
envelopes to /caliper/v1p2 (or /caliper/v1p1); the events are mapped to xAPI and stored
exactly as POST /xapi/statements stores statements (same validation, store and authority).

Auth: Caliper sensors send `Authorization: Bearer <token>`. The token is an ordinary LRS
credential written `<key>:<secret>` (from `lrs credentials create --scope statements/write`),
so no second kind of secret exists to issue, store or revoke; HTTP Basic with the same pair
is accepted too. The credential needs a scope that may write statements.

Answers: 200 `{"received", "statements", "ids"}`; 400 with the field for a malformed envelope or
an event that cannot be mapped (nothing of the envelope is stored: a batch is atomic); 401
for a missing or wrong token; 403 for a credential that may not write statements.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.base import MappingError
from connectors.caliper.mapping import map_event
from lrs.access import check_may_write
from lrs.api.limits import parse_limited_json
from lrs.api.xapi.common import error_response, in_thread, json_response
from lrs.auth import authority_for, authorize
from lrs.domain.records import Credential
from lrs.ops.ingest import Writer, complete_batch, store_batch
from lrs.xapi.errors import PayloadTooLarge, Unauthorized, ValidationError, XAPIError

XAPI_VERSION = "1.0.3"


def _credential(request: Request) -> Credential:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        key, sep, secret = token.strip().partition(":")
        if not sep and request.app.state.authenticator.bearer is not None:
            # a JWT from a configured OpenID Connect issuer (lrs.oidc)
            return request.app.state.authenticator.authenticate(header)  # type: ignore[no-any-return]
        if not (sep and key and secret):
            raise Unauthorized("the bearer token must be <key>:<secret> of an LRS credential", "Authorization")
        header = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    elif scheme.lower() != "basic":
        raise Unauthorized("send Authorization: Bearer <key>:<secret>", "Authorization")
    return request.app.state.authenticator.authenticate(header)  # type: ignore[no-any-return]


def _envelope(body: bytes, settings: Any) -> tuple[str, list[dict[str, Any]]]:
    value = parse_limited_json(body, settings)  # events become statements: same JSON limits
    if not isinstance(value, dict):
        raise ValidationError("a Caliper envelope is a JSON object", "body")
    for name in ("sensor", "sendTime", "dataVersion"):
        if not isinstance(value.get(name), str) or not value[name]:
            raise ValidationError(f"the envelope needs {name} (a string)", name)
    data = value.get("data")
    if not isinstance(data, list):
        raise ValidationError("the envelope needs data, a list of events", "data")
    return value["sensor"], data


async def receive(request: Request) -> Response:
    try:
        credential = _credential(request)
        authorize(credential, "statements", read_only=False)
        check_may_write(credential)  # auditors only read, whatever their scopes
        settings = request.app.state.settings
        body = await request.body()
        if 0 < settings.max_body_bytes < len(body):
            raise PayloadTooLarge("the request body is too large", "body")
        sensor, events = _envelope(body, settings)
        statements: list[dict[str, Any]] = []
        for index, event in enumerate(events):
            try:
                statements.extend(map_event(event, sensor))
            except MappingError as exc:
                raise ValidationError(str(exc), f"data[{index}]") from None
        if len(statements) > settings.max_batch:
            raise PayloadTooLarge(f"an envelope holds at most {settings.max_batch} events", "data")
        ids: list[str] = []
        if statements:
            # The one ingest operation, as for xAPI POST (lrs.ops.ingest).
            batch = complete_batch(statements, XAPI_VERSION)
            writer = Writer(credential, authority_for(credential, settings.public_url))
            ids = await in_thread(
                store_batch, request.app.state.store, batch, writer, XAPI_VERSION
            )
            request.app.state.metrics.count_stored(len(ids))
            for hook in request.app.state.stored_hooks:
                hook()
    except XAPIError as exc:
        response = error_response(exc)
        if exc.code == Unauthorized.code:
            response.headers["WWW-Authenticate"] = 'Bearer realm="caliper"'
        return response
    return json_response({"received": len(events), "statements": len(ids), "ids": ids})
