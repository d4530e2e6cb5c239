"""Document resources: State, Activity Profile and Agent Profile.

All three share one shape (a scope, a document id, content with a type, an ETag), so one
set of handlers serves them, told apart by a `DocumentResource` description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from lrs.access import document_namespace
from lrs.api.xapi.common import (
    XAPIContext,
    agent_param,
    check_params,
    http_date,
    in_thread,
    iri_param,
    json_response,
    timestamp_param,
    uuid_param,
    xapi_endpoint,
)
from lrs.domain.documents import Preconditions
from lrs.domain.records import DocumentKind
from lrs.ops.audit import record_read
from lrs.xapi.errors import NotFound, PayloadTooLarge, ValidationError


@dataclass(frozen=True)
class DocumentResource:
    kind: str
    scope_params: tuple[str, ...]  # required parameters that name the scope
    optional_scope: tuple[str, ...]  # optional parameters that narrow it (registration)
    id_param: str
    auth_resource: str

    def scope(self, ctx: XAPIContext) -> str:
        """The stored scope: the writer's organisation namespace (lrs.access), then the
        parameters that name the document's place."""
        namespace = document_namespace(ctx.credential, ctx.params.get("org"))
        parts: list[str] = []
        for name in self.scope_params + self.optional_scope:
            if name not in ctx.params:
                parts.append("")
            elif name == "agent":
                parts.append(agent_param(ctx.params)[1])
            elif name == "registration":
                parts.append(uuid_param(ctx.params, name))
            else:
                parts.append(iri_param(ctx.params, name))
        return namespace + "\x1f".join(parts)

    def allowed(self, *extra: str) -> set[str]:
        return {*self.scope_params, *self.optional_scope, self.id_param, "org", *extra}


STATE = DocumentResource(DocumentKind.STATE, ("activityId", "agent"), ("registration",), "stateId", "state")
ACTIVITY_PROFILE = DocumentResource(
    DocumentKind.ACTIVITY_PROFILE, ("activityId",), (), "profileId", "profile"
)
AGENT_PROFILE = DocumentResource(DocumentKind.AGENT_PROFILE, ("agent",), (), "profileId", "profile")


async def _log_read(ctx: XAPIContext, resource: DocumentResource, count: int) -> None:
    """State and Agent Profile documents belong to an agent: auditors' and schools' reads
    of them go to the access log (lrs.ops.audit) like statement reads."""
    if "agent" in resource.scope_params:
        learner = agent_param(ctx.params)[1]
        what = f"xapi/{resource.kind}"
        query = {"activityId": ctx.params.get("activityId")}
        await in_thread(record_read, ctx.store, ctx.credential, what, learner, count, query)


def _preconditions(ctx: XAPIContext, resource: DocumentResource, put: bool) -> Preconditions:
    headers = ctx.request.headers
    # Profiles always need a precondition to overwrite; xAPI 2.0 extends that to State.
    required = put and (resource.kind != DocumentKind.STATE or ctx.is_v2)
    # A new profile needs none (xAPI: 409 only for an existing one; 1.0.x clients cannot
    # send If-None-Match), unless the deployment asks for the 1.0.3 suite's reading.
    when_new = (
        put
        and resource.kind != DocumentKind.STATE
        and not ctx.is_v2
        and ctx.settings.strict_profile_put
    )
    return Preconditions(headers.get("if-match"), headers.get("if-none-match"), required, when_new)


def _document_headers(etag: str, updated: str) -> dict[str, str]:
    return {"ETag": etag, "Last-Modified": http_date(updated)}


def handlers(resource: DocumentResource) -> dict[str, Any]:
    async def write(ctx: XAPIContext, merge: bool) -> Response:
        check_params(ctx.params, resource.allowed(), (*resource.scope_params, resource.id_param))
        scope = resource.scope(ctx)
        doc_id = ctx.params[resource.id_param]
        body = await ctx.request.body()
        if 0 < ctx.settings.max_body_bytes < len(body):
            raise PayloadTooLarge("the document is too large", "body")
        content_type = ctx.request.headers.get("content-type", "application/octet-stream")
        await in_thread(
            ctx.store.put_document,
            resource.kind,
            scope,
            doc_id,
            body,
            content_type,
            merge=merge,
            preconditions=_preconditions(ctx, resource, put=not merge),
        )
        return Response(status_code=204)

    async def put(ctx: XAPIContext) -> Response:
        return await write(ctx, merge=False)

    async def post(ctx: XAPIContext) -> Response:
        return await write(ctx, merge=True)

    async def get(ctx: XAPIContext) -> Response:
        check_params(ctx.params, resource.allowed("since"), resource.scope_params)
        scope = resource.scope(ctx)
        if resource.id_param in ctx.params:
            if "since" in ctx.params:
                raise ValidationError(
                    f"since applies only when {resource.id_param} is absent", "since"
                )
            document = await in_thread(
                ctx.store.get_document, resource.kind, scope, ctx.params[resource.id_param]
            )
            if document is None:
                raise NotFound("no such document", resource.id_param)
            await _log_read(ctx, resource, 1)
            return Response(
                document.content,
                200,
                _document_headers(document.etag, document.updated),
                media_type=document.content_type,
            )
        since = timestamp_param(ctx.params, "since", ctx.version) if "since" in ctx.params else None
        ids = await in_thread(ctx.store.list_documents, resource.kind, scope, since)
        await _log_read(ctx, resource, len(ids))
        return json_response(ids)

    async def delete(ctx: XAPIContext) -> Response:
        check_params(ctx.params, resource.allowed(), resource.scope_params)
        scope = resource.scope(ctx)
        if resource.id_param in ctx.params:
            try:
                await in_thread(
                    ctx.store.delete_document,
                    resource.kind,
                    scope,
                    ctx.params[resource.id_param],
                    _preconditions(ctx, resource, put=False),
                )
            except NotFound:
                pass  # deleting what is not there leaves the LRS as the client wanted it
        elif resource.kind == DocumentKind.STATE:
            await in_thread(ctx.store.delete_documents, resource.kind, scope)
        else:
            raise ValidationError(f"parameter {resource.id_param} is required", resource.id_param)
        return Response(status_code=204)

    wrap = xapi_endpoint(resource.auth_resource)
    return {"PUT": wrap(put), "POST": wrap(post), "GET": wrap(get), "DELETE": wrap(delete)}
