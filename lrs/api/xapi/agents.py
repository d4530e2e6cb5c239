"""The Agents resource (Person objects) and the Activities resource (canonical definitions)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from lrs.api.xapi.common import (
    XAPIContext,
    access_for,
    agent_param,
    check_params,
    in_thread,
    iri_param,
    json_response,
    xapi_endpoint,
)
from lrs.ops.audit import record_read
from lrs.xapi.agent_keys import IFI_PROPERTIES


async def get_person(ctx: XAPIContext) -> Response:
    check_params(ctx.params, {"agent"}, ("agent",))
    agent, key = agent_param(ctx.params)
    person: dict[str, Any] = {"objectType": "Person"}
    access = await access_for(ctx.store, ctx.credential)
    # An agent the credential's organisation never recorded is answered as an unknown one.
    known = await in_thread(access.sees_agent, key)
    names = await in_thread(ctx.store.get_agent_names, key) if known else []
    if isinstance(agent.get("name"), str) and agent["name"] not in names:
        names.append(agent["name"])
    if names:
        person["name"] = names
    await in_thread(record_read, ctx.store, ctx.credential, "xapi/agents", key, 1)
    for prop in IFI_PROPERTIES:
        if prop in agent:
            person[prop] = [agent[prop]]
    return json_response(person)


async def get_activity(ctx: XAPIContext) -> Response:
    check_params(ctx.params, {"activityId"}, ("activityId",))
    activity_id = iri_param(ctx.params, "activityId")
    access = await access_for(ctx.store, ctx.credential)
    known = await in_thread(access.sees_activity, activity_id)
    definition = await in_thread(ctx.store.get_activity, activity_id) if known else None
    activity: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
    if definition:
        activity["definition"] = definition
    return json_response(activity)


agents = xapi_endpoint("define")(get_person)
activities = xapi_endpoint("define")(get_activity)
