"""Statement forwarding over HTTP: /api/v1/forwarding/rules and what hangs off a rule.

Administrators only (the admin role or scope): a rule sends statements out of the LRS.
The operations themselves are in lrs.forwarding.rules, shared with `lrs forwarding`.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.access import is_admin
from lrs.api.v1.permissions import endpoint
from lrs.api.xapi.common import in_thread, json_response
from lrs.domain.records import Credential
from lrs.forwarding import rules
from lrs.ports import Store
from lrs.xapi.errors import Forbidden, ValidationError


def manage_forwarding(credential: Credential) -> None:
    if not is_admin(credential):
        raise Forbidden("forwarding rules need an admin credential", "Authorization")


admin = endpoint(manage_forwarding)


async def _body(request: Request, *, optional: bool = False) -> Any:
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationError("the body must be JSON", "body") from None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValidationError(f"{name} must be a whole number from {low} to {high}", name)
    return int(text)


def _rule_id(request: Request) -> str:
    return str(request.path_params["rule"])


@admin
async def list_rules(request: Request, store: Store) -> Response:
    return json_response({"rules": await in_thread(rules.list_rules, store)})


@admin
async def create_rule(request: Request, store: Store) -> Response:
    body = await _body(request)
    from_start = request.query_params.get("from") == "start"
    return json_response(
        await in_thread(rules.create_rule, store, body, from_start=from_start), 201
    )


@admin
async def get_rule(request: Request, store: Store) -> Response:
    return json_response(await in_thread(rules.show_rule, store, _rule_id(request)))


@admin
async def put_rule(request: Request, store: Store) -> Response:
    body = await _body(request)
    return json_response(await in_thread(rules.replace_rule, store, _rule_id(request), body))


@admin
async def delete_rule(request: Request, store: Store) -> Response:
    await in_thread(rules.delete_rule, store, _rule_id(request))
    return Response(status_code=204)


@admin
async def pause(request: Request, store: Store) -> Response:
    return json_response(await in_thread(rules.set_paused, store, _rule_id(request), True))


@admin
async def resume(request: Request, store: Store) -> Response:
    return json_response(await in_thread(rules.set_paused, store, _rule_id(request), False))


@admin
async def replay(request: Request, store: Store) -> Response:
    body = await _body(request)
    if not isinstance(body, dict):
        raise ValidationError('the body must be a JSON object: {"since": date}', "body")
    done = await in_thread(rules.replay_since, store, _rule_id(request), body.get("since"))
    return json_response(done)


@admin
async def dead_letters(request: Request, store: Store) -> Response:
    after = _int_param(request, "after", 0, 0, 2**63 - 1)
    limit = _int_param(request, "limit", 100, 1, 1000)
    page = await in_thread(rules.dead_letter_page, store, _rule_id(request), after, limit)
    return json_response(page)


@admin
async def replay_dead_letters(request: Request, store: Store) -> Response:
    body = await _body(request, optional=True)
    if not isinstance(body, dict):
        raise ValidationError('the body must be a JSON object: {"offsets": [...]}', "body")
    offsets = body.get("offsets")
    done = await in_thread(rules.replay_dead_letters, store, _rule_id(request), offsets)
    return json_response(done)
