"""Retention over HTTP: policies, legal holds and runs (lrs.ops.retention decides).

Changing a policy or a hold, or running retention, is an administrator's act only (the
`admin` scope or role): `all` is not enough, because what retention removes cannot be
brought back. Auditors may read the policies and holds, as they read the access log.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.access import is_admin, is_auditor
from lrs.api.v1.permissions import endpoint
from lrs.api.xapi.common import in_thread, json_response
from lrs.domain.records import Credential
from lrs.ops import retention
from lrs.ports import Store
from lrs.xapi.errors import Forbidden, ValidationError


def manage(credential: Credential) -> None:
    if not is_admin(credential):
        raise Forbidden(
            "retention policies, legal holds and runs need an admin credential", "Authorization"
        )


def read(credential: Credential) -> None:
    if not (is_admin(credential) or is_auditor(credential)):
        raise Forbidden(
            "retention policies and legal holds are read by admin and auditor credentials",
            "Authorization",
        )


def _body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise ValidationError("the body must be JSON", "body") from None


@endpoint(read)
async def list_policies(request: Request, store: Store) -> Response:
    return json_response({"policies": await in_thread(retention.policies, store)})


@endpoint(manage)
async def put_policy(request: Request, store: Store) -> Response:
    body = _body(await request.body())
    if not isinstance(body, dict):
        raise ValidationError("a policy is a JSON object", "body")
    body = {
        **body,
        "org": request.path_params["org"],
        "data_class": request.path_params["data_class"],
    }
    minimum = request.app.state.settings.retention_access_log_min_days
    policy = retention.check_policy(body, minimum)
    credential = request.state.credential
    return json_response(await in_thread(retention.put_policy, store, policy, credential))


@endpoint(manage)
async def delete_policy(request: Request, store: Store) -> Response:
    params = request.path_params
    await in_thread(
        retention.delete_policy,
        store,
        params["org"],
        params["data_class"],
        request.state.credential,
    )
    return Response(status_code=204)


@endpoint(read)
async def list_holds(request: Request, store: Store) -> Response:
    return json_response({"holds": await in_thread(retention.holds, store)})


@endpoint(manage)
async def post_hold(request: Request, store: Store) -> Response:
    hold = retention.check_hold(_body(await request.body()))
    placed = await in_thread(retention.put_hold, store, hold, request.state.credential)
    return json_response(placed, 201)


@endpoint(manage)
async def delete_hold(request: Request, store: Store) -> Response:
    params = request.path_params
    await in_thread(
        retention.release_hold,
        store,
        params["subject_type"],
        params["subject"],
        request.state.credential,
    )
    return Response(status_code=204)


@endpoint(manage)
async def post_run(request: Request, store: Store) -> Response:
    word = request.query_params.get("dry_run", "false").lower()
    if word not in ("true", "false"):
        raise ValidationError("dry_run is true or false", "dry_run")
    done = await in_thread(
        retention.run_retention,
        store,
        request.app.state.reducers(store),
        access_log_min_days=request.app.state.settings.retention_access_log_min_days,
        dry_run=word == "true",
        credential=request.state.credential,
    )
    return json_response(done.as_dict())
