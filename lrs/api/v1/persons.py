"""Persons: several learner keys (LMS account, school account, national e-ID) as one."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.access import Access
from lrs.api.v1.audit import log_read
from lrs.api.v1.learners import learner_from
from lrs.api.v1.permissions import endpoint, link_identities, query_endpoint
from lrs.api.xapi.common import in_thread, json_response
from lrs.ops import identity
from lrs.ports import Store
from lrs.readmodels.profiles import NAME as PROFILES
from lrs.readmodels.profiles import fold_all
from lrs.xapi.agent_keys import agent_key, check_key
from lrs.xapi.errors import NotFound, ValidationError
from lrs.xapi.validation import validate_agent


def keys_from_body(body: bytes) -> list[str]:
    """`{"keys": [learner keys]}` and/or `{"agents": [xAPI agents]}`."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError(
            'the body must be JSON: {"keys": [...]} or {"agents": [...]}', "body"
        ) from None
    if not isinstance(value, dict) or not (value.get("keys") or value.get("agents")):
        raise ValidationError("give keys (learner keys) or agents (xAPI agents)", "body")
    for name in ("keys", "agents"):  # found by fuzzing: {"keys": true} was a 500
        if not isinstance(value.get(name) or [], list):
            raise ValidationError(f"{name} must be an array", name)
    keys: list[str] = []
    for index, key in enumerate(value.get("keys") or []):
        if not isinstance(key, str):
            raise ValidationError(
                "a learner key looks like mbox:mailto:... or account:<homePage>|<name>",
                f"keys[{index}]",
            )
        keys.append(check_key(key, f"keys[{index}]"))
    for index, agent in enumerate(value.get("agents") or []):
        validate_agent(agent, f"agents[{index}]")
        key = agent_key(agent)
        assert key is not None
        keys.append(key)
    return sorted(set(keys))


@endpoint(link_identities)
async def link(request: Request, store: Store) -> Response:
    person = request.path_params["person"]
    keys = keys_from_body(await request.body())
    access: Access = request.state.access
    shown = await in_thread(identity.link, store, person, keys, access)
    return json_response({"person": person, "keys": shown})


@endpoint(link_identities)
async def unlink(request: Request, store: Store) -> Response:
    person = request.path_params["person"]
    access: Access = request.state.access
    await in_thread(identity.unlink, store, request.path_params["key"], person, access)
    return Response(status_code=204)


async def person_keys(request: Request, store: Store) -> tuple[str, list[str]]:
    """The person named in the path and the learner keys the reader sees; 404 for an
    unknown person, and alike for one with no key in the reader's organisations."""
    person = request.path_params["person"]
    access: Access = request.state.access
    keys = await in_thread(access.visible_keys, await in_thread(store.keys_of, person))
    if not keys:
        raise NotFound(f"no person {person!r} (link keys with lrs identity link)", "person")
    return person, keys


@query_endpoint
async def show(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    await log_read(request, "person/keys", person, len(keys))
    return json_response({"person": person, "keys": keys})


@query_endpoint
async def profile(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    contributions = await in_thread(store.get_contributions, PROFILES, keys)
    state = fold_all(contributions)
    await log_read(request, "person/profile", person, 0 if state is None else 1)
    if state is None:
        raise NotFound(f"no activity yet for person {person!r}", "person")
    return json_response({**state, "learner": None, "person": person, "keys": keys})


@query_endpoint
async def person_of_learner(request: Request, store: Store) -> Response:
    key = learner_from(request)
    access: Access = request.state.access
    visible = await in_thread(access.sees_learner, key)
    person = await in_thread(store.person_of, key) if visible else None
    await log_read(request, "learner/person", key, 0 if person is None else 1)
    if person is None:
        raise NotFound(f"{key} is not linked to a person", "learner")
    keys = await in_thread(access.visible_keys, await in_thread(store.keys_of, person))
    return json_response({"person": person, "keys": keys})

