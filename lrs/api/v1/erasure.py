"""Erasure on request over HTTP: `DELETE /api/v1/persons/{person}`, `POST /api/v1/erasures`.

An administrator's act only (the `admin` scope or role): `all` is not enough, because
erasure cannot be undone.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.api.v1.persons import keys_from_body
from lrs.api.xapi.common import error_response, in_thread, json_response
from lrs.erasure import erase
from lrs.storage.base import Credential
from lrs.xapi.errors import Forbidden, ValidationError, XAPIError


def _admin(request: Request) -> Credential:
    credential: Credential = request.app.state.authenticator.authenticate(
        request.headers.get("authorization")
    )
    if credential.role != "admin" and "admin" not in credential.scopes:
        raise Forbidden("erasing a person needs an admin credential", "Authorization")
    return credential


async def erase_person(request: Request) -> Response:
    try:
        credential = _admin(request)
        done = await in_thread(
            erase, request.app.state.store, credential, person=request.path_params["person"]
        )
        return json_response(done.as_dict())
    except XAPIError as exc:
        return error_response(exc)


def _request(body: bytes) -> dict[str, Any]:
    """`{"person": id}`, or `{"keys": [...]}` and/or `{"agents": [...]}`."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("the body must be JSON", "body") from None
    if isinstance(value, dict) and isinstance(value.get("person"), str):
        if set(value) != {"person"}:
            raise ValidationError("give a person, or keys/agents, not both", "body")
        return {"person": value["person"]}
    return {"keys": keys_from_body(body)}


async def post_erasure(request: Request) -> Response:
    try:
        credential = _admin(request)
        target = _request(await request.body())
        done = await in_thread(erase, request.app.state.store, credential, **target)
        return json_response(done.as_dict())
    except XAPIError as exc:
        return error_response(exc)
