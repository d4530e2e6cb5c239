"""Learner profiles: one learner's, and a filtered, paginated list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from consumers.profiles import NAME as PROFILES
from lrs.api.v1.audit import log_read
from lrs.api.xapi.common import error_response, in_thread, json_response
from lrs.auth import authorize
from lrs.storage.base import StateQuery, Store, format_stored
from lrs.xapi.errors import NotFound, ValidationError, XAPIError
from lrs.xapi.identity import agent_key, normalise_key
from lrs.xapi.time import parse_timestamp
from lrs.xapi.validation import validate_agent

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_PAGE = 1000


def query_endpoint(handler: Callable[[Request, Store], Awaitable[Response]]) -> Endpoint:
    """Authenticate, authorise a read of learner data, render errors as JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            credential = request.app.state.authenticator.authenticate(
                request.headers.get("authorization")
            )
            authorize(credential, "learners", read_only=True)
            return await handler(request, request.app.state.store)
        except XAPIError as exc:
            return error_response(exc)

    return endpoint


def learner_from(request: Request) -> str:
    """The learner key from the path, or from `?agent=` (an xAPI Agent as JSON)."""
    agent = request.query_params.get("agent")
    if agent is not None:
        try:
            value = orjson.loads(agent)
        except orjson.JSONDecodeError:
            raise ValidationError("agent must be an xAPI Agent as JSON", "agent") from None
        validate_agent(value, "agent")
        key = agent_key(value)
        if key is None:
            raise ValidationError("agent must carry an identifier", "agent")
        return key
    learner = request.path_params.get("learner", "")
    if ":" not in learner:
        raise ValidationError(
            "give a learner key (mbox:mailto:..., account:<homePage>|<name>, ...) or ?agent=",
            "learner",
        )
    return normalise_key(learner)


@query_endpoint
async def profile(request: Request, store: Store) -> Response:
    key = learner_from(request)
    state = await in_thread(store.get_state, PROFILES, key)
    await log_read(request, "learner/profile", key, 0 if state is None else 1)
    if state is None:
        raise NotFound(f"no profile for learner {key}", "learner")
    return json_response(state)


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    return {
        k: state[k]
        for k in (
            "learner",
            "statements",
            "first_activity",
            "last_activity",
            "attempted",
            "completed",
            "passed",
            "failed",
            "time_spent_seconds",
        )
    }


@query_endpoint
async def learners(request: Request, store: Store) -> Response:
    params = request.query_params
    allowed = {"course", "active_since", "min_completed", "limit", "after"}
    for name in params:
        if name not in allowed:
            raise ValidationError(f"unknown parameter {name!r}", name)
    query = StateQuery()
    if "course" in params:
        query.equals["course"] = params["course"]
    if "active_since" in params:
        moment = parse_timestamp(params["active_since"], "2.0.0", "active_since")
        query.at_least["last_active"] = format_stored(moment)
    for name, target in (("min_completed", "completed"), ("limit", None)):
        if name in params:
            if not params[name].isdigit():
                raise ValidationError(f"{name} must be a non-negative integer", name)
            if target:
                query.at_least[target] = int(params[name])
            else:
                query.limit = max(1, min(int(params[name]), MAX_PAGE))
    query.after = params.get("after")
    rows = await in_thread(store.list_states, PROFILES, query)
    body: dict[str, Any] = {"learners": [_summary(state) for _, state in rows], "next": None}
    if len(rows) == query.limit:
        following = {k: v for k, v in params.items() if k != "after"} | {"after": rows[-1][0]}
        body["next"] = "/api/v1/learners?" + urlencode(following)
    # `after` is a learner key: the log keeps the filters only
    filters = {k: v for k, v in params.items() if k != "after"}
    await log_read(request, "learners", None, len(rows), filters)
    return json_response(body)
