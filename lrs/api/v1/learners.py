"""Learner profiles: one learner's, and a filtered, paginated list."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.access import Access
from lrs.api.limits import INT64_MAX
from lrs.api.v1.audit import log_read
from lrs.api.v1.permissions import query_endpoint
from lrs.api.xapi.common import in_thread, json_response
from lrs.domain.records import DEFAULT_ORG, StateQuery
from lrs.domain.times import format_stored
from lrs.ports import Store
from lrs.readmodels import MEMBERSHIPS, PROFILES
from lrs.readmodels.profiles import LearnerPage, Profile, summary
from lrs.xapi.agent_keys import agent_key, normalise_key
from lrs.xapi.errors import NotFound, ValidationError
from lrs.xapi.time import parse_timestamp
from lrs.xapi.validation import validate_agent

MAX_PAGE = 1000


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
    access: Access = request.state.access
    # Another organisation's learner is answered exactly like a learner with no profile.
    visible = await in_thread(access.sees_learner, key)
    state = await in_thread(store.get_state, PROFILES, key) if visible else None
    await log_read(request, "learner/profile", key, 0 if state is None else 1)
    if state is None:
        raise NotFound(f"no profile for learner {key}", "learner")
    return json_response(state)


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
            raw = params[name]
            # ASCII digits only ("²" is a digit to str.isdigit, not to int()), and no more
            # than the stores' integers hold (SQLite and BSON: 64 bits).
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > INT64_MAX:
                raise ValidationError(f"{name} must be an integer from 0 to {INT64_MAX}", name)
            if target:
                query.at_least[target] = int(raw)
            else:
                query.limit = max(1, min(int(raw), MAX_PAGE))
    query.after = params.get("after")
    access: Access = request.state.access
    if access.scope.everything:
        rows = await in_thread(store.list_states, PROFILES, query)
        last = rows[-1][0] if len(rows) == query.limit else None
    else:
        rows, last = await in_thread(visible_learners, store, access, query)
    body: LearnerPage = {
        "learners": [summary(cast(Profile, state)) for _, state in rows],
        "next": None,
    }
    if last is not None:
        following = {k: v for k, v in params.items() if k != "after"} | {"after": last}
        body["next"] = "/api/v1/learners?" + urlencode(following)
    # `after` is a learner key: the log keeps the filters only
    filters = {k: v for k, v in params.items() if k != "after"}
    await log_read(request, "learners", None, len(rows), filters)
    return json_response(body)


SCAN_PAGES = 10  # pages of candidates one request reads at most before answering `next`


def _matches(state: dict[str, Any], query: StateQuery) -> bool:
    """The list filters, on a profile read by key (what the index does for list_states)."""
    course = query.equals.get("course")
    if course is not None and course not in state.get("courses", ()):
        return False
    active = query.at_least.get("last_active")
    if active is not None and (state.get("last_activity") or "") < active:
        return False
    return bool(state.get("completed", 0) >= query.at_least.get("completed", 0))


def visible_learners(
    store: Store, access: Access, query: StateQuery
) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    """A page of the profiles an organisation-bound reader sees, and where the next starts.

    One organisation: walk its learners (the memberships index) and read their profiles.
    Several (an auditor's), or the default one: walk the profiles the filters select and
    keep the learners it sees. Either walk stops after SCAN_PAGES pages of candidates, so a
    page may be short yet have a `next`.
    """
    found: list[tuple[str, dict[str, Any]]] = []
    after = query.after
    orgs = sorted(access.orgs or ())
    by_membership = len(orgs) == 1 and orgs[0] != DEFAULT_ORG
    for _ in range(SCAN_PAGES):
        if by_membership:
            members = StateQuery(equals={"org": orgs[0]}, limit=query.limit, after=after)
            keys = [key for key, _ in store.list_states(MEMBERSHIPS, members)]
            read = [(key, store.get_state(PROFILES, key)) for key in keys]
            keep = [(k, s) for k, s in read if s is not None and _matches(s, query)]
        else:
            page = StateQuery(dict(query.equals), dict(query.at_least), query.limit, after)
            listed = store.list_states(PROFILES, page)
            keys = [key for key, _ in listed]
            keep = [(k, s) for k, s in listed if access.sees_learner(k)]
        for key, state in keep:
            if len(found) == query.limit:
                return found, found[-1][0]
            found.append((key, state))
        if len(keys) < query.limit:
            return found, None
        after = keys[-1]
    return found, after
