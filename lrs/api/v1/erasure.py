"""Erasure on request over HTTP: `DELETE /api/v1/persons/{person}`, `POST /api/v1/erasures`.

An administrator's act only (the `admin` scope or role): `all` is not enough, because
erasure cannot be undone.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.api.v1.permissions import endpoint, erase_data
from lrs.api.v1.persons import keys_from_body
from lrs.api.xapi.common import in_thread, json_response
from lrs.erasure_requests import erase
from lrs.ports import Store
from lrs.xapi.errors import ValidationError


@endpoint(erase_data)
async def erase_person(request: Request, store: Store) -> Response:
    reducers = request.app.state.reducers(store)
    person = request.path_params["person"]
    done = await in_thread(erase, store, request.state.credential, person=person, reducers=reducers)
    return json_response(done.as_dict())


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


@endpoint(erase_data)
async def post_erasure(request: Request, store: Store) -> Response:
    target = _request(await request.body())
    reducers = request.app.state.reducers(store)
    done = await in_thread(erase, store, request.state.credential, **target, reducers=reducers)
    return json_response(done.as_dict())
