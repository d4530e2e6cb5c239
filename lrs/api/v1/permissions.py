"""Who may call what in the query API: one wrapper for every /api/v1 route, and one rule
per permission, so an endpoint cannot forget a check or apply its own idea of "admin".

The wrapper authenticates, applies the route's rule, leaves the credential and its view of
whose data it sees (lrs.access.Access) on `request.state`, and renders errors as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lrs.access import is_admin, is_auditor, may_write
from lrs.api.xapi.common import access_for, error_response
from lrs.auth import authorize
from lrs.domain.records import Credential
from lrs.ports import Store
from lrs.xapi.errors import Forbidden, XAPIError

Handler = Callable[[Request, Store], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
Rule = Callable[[Credential], None]  # raises Forbidden when the credential may not


def read_learners(credential: Credential) -> None:
    authorize(credential, "learners", read_only=True)


def link_identities(credential: Credential) -> None:
    """Changing who is who: administrators, and writers with the `all` scope."""
    if not (is_admin(credential) or "all" in credential.scopes) or not may_write(credential):
        raise Forbidden("linking identities needs the admin scope", "Authorization")


def administer(credential: Credential) -> None:
    """The site's competency set-up (rule sets, crosswalks, person attributes) and the
    results export: administrators, and writers with the `all` scope."""
    if not (is_admin(credential) or "all" in credential.scopes) or not may_write(credential):
        raise Forbidden("this needs the admin scope", "Authorization")


def erase_data(credential: Credential) -> None:
    """`all` is not enough: erasure cannot be undone."""
    if not is_admin(credential):
        raise Forbidden("erasing a person needs an admin credential", "Authorization")


def manage_credentials(credential: Credential) -> None:
    """Who may call the API is an administrator's decision: `all` is not enough, or a
    platform's credential could mint itself a wider one."""
    if not is_admin(credential) or not may_write(credential):
        raise Forbidden("managing credentials needs an admin credential", "Authorization")


def read_access_log(credential: Credential) -> None:
    if not (is_admin(credential) or is_auditor(credential)):
        raise Forbidden("the access log is read by admin and auditor credentials", "Authorization")


def endpoint(rule: Rule) -> Callable[[Handler], Endpoint]:
    """The route for `handler`, open to the credentials `rule` lets through."""

    def wrap(handler: Handler) -> Endpoint:
        async def route(request: Request) -> Response:
            try:
                credential = request.app.state.authenticator.authenticate(
                    request.headers.get("authorization")
                )
                rule(credential)
                store: Store = request.app.state.store
                request.state.credential = credential
                request.state.access = await access_for(store, credential)
                return await handler(request, store)
            except XAPIError as exc:
                return error_response(exc)

        return route

    return wrap


query_endpoint = endpoint(read_learners)  # reads of learner data: most of /api/v1
admin_endpoint = endpoint(administer)  # the site's set-up and the results export
