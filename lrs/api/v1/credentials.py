"""Credentials over HTTP, for administrators: list, show, create, revoke, rotate.

`/api/v1/credentials` (GET list, POST create), `/api/v1/credentials/{key}` (GET),
`/api/v1/credentials/{key}/revoke` and `/rotate` (POST). Secrets are shown once, in the
answer that made them; the list and show answers never carry a secret or its hash.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.api.v1.permissions import endpoint, manage_credentials
from lrs.api.xapi.common import in_thread, json_response
from lrs.auth import (
    DEFAULT_GRACE,
    create_credential,
    find_credential,
    parse_expiry,
    parse_period,
    revoke_credential,
    rotate_credential,
)
from lrs.ports import Store
from lrs.readmodels.credentials import credential_view, new_credential_view
from lrs.xapi.errors import ValidationError

_CREATE_FIELDS = {"name", "scopes", "org", "role", "audits", "expires"}


def _object(body: bytes, allowed: set[str]) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("the body must be a JSON object", "body") from None
    if not isinstance(value, dict):
        raise ValidationError("the body must be a JSON object", "body")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ValidationError(f"unknown field; known: {', '.join(sorted(allowed))}", unknown[0])
    return value


def _strings(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("must be an array of strings", field)
    return value


def _text(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError("must be a string", field)
    return value


@endpoint(manage_credentials)
async def list_credentials(request: Request, store: Store) -> Response:
    found = await in_thread(store.list_credentials)
    return json_response({"credentials": [credential_view(c) for c in found]})


@endpoint(manage_credentials)
async def show_credential(request: Request, store: Store) -> Response:
    credential = await in_thread(find_credential, store, request.path_params["key"])
    return json_response(credential_view(credential))


@endpoint(manage_credentials)
async def post_credential(request: Request, store: Store) -> Response:
    body = _object(await request.body(), _CREATE_FIELDS)
    name = _text(body.get("name"), "name")
    if not name:
        raise ValidationError("who the credential is for", "name")
    scopes = _strings(body.get("scopes"), "scopes")
    expires_text = _text(body.get("expires"), "expires")
    expires = parse_expiry(expires_text) if expires_text else None
    try:
        new = await in_thread(
            create_credential,
            store,
            name,
            scopes,
            _text(body.get("org"), "org"),
            role=_text(body.get("role"), "role"),
            audits=_strings(body.get("audits", []), "audits"),
            expires=expires,
        )
    except ValueError as exc:
        raise ValidationError(str(exc), "body") from None
    return json_response(new_credential_view(new.credential, new.secret), 201)


@endpoint(manage_credentials)
async def revoke(request: Request, store: Store) -> Response:
    credential = await in_thread(revoke_credential, store, request.path_params["key"])
    return json_response(credential_view(credential))


@endpoint(manage_credentials)
async def rotate(request: Request, store: Store) -> Response:
    body = _object(await request.body(), {"grace"})
    grace_text = _text(body.get("grace"), "grace")
    grace = parse_period(grace_text, "grace") if grace_text else DEFAULT_GRACE
    new = await in_thread(rotate_credential, store, request.path_params["key"], grace)
    return json_response(new_credential_view(new.credential, new.secret))
