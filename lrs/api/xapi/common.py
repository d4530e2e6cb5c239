"""What every xAPI resource shares: version negotiation, auth, parameters, JSON responses."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from lrs.access import Access, check_may_write
from lrs.api.errors import headers_of, status_of
from lrs.auth import Authenticator, authorize
from lrs.domain.records import Credential
from lrs.domain.times import format_stored, parse_stored
from lrs.ports import Store
from lrs.xapi.agent_keys import agent_key
from lrs.xapi.errors import ValidationError, XAPIError
from lrs.xapi.time import parse_timestamp
from lrs.xapi.validation import validate_agent, validate_iri, validate_uuid

SUPPORTED_VERSIONS = ("2.0.0", "1.0.3", "1.0.2", "1.0.1", "1.0.0")
_VERSION = re.compile(r"^(1\.0(\.\d+)?|2\.0(\.\d+)?)$")

T = TypeVar("T")


@dataclass(frozen=True)
class XAPIContext:
    """One authenticated xAPI request: who, which version, and its parameters."""

    request: Request
    credential: Credential
    version: str  # as the client sent it
    params: dict[str, str]
    store: Store
    settings: Any

    @property
    def is_v2(self) -> bool:
        return self.version.startswith("2.")


Handler = Callable[[XAPIContext], Awaitable[Response]]


def version_of(request: Request) -> str:
    version = request.headers.get("x-experience-api-version")
    if version is None:
        raise ValidationError(
            "send the X-Experience-API-Version header (1.0.3 or 2.0.0)", "X-Experience-API-Version"
        )
    version = version.strip()
    if not _VERSION.match(version):
        raise ValidationError(
            f"unsupported xAPI version {version!r}; this LRS speaks {', '.join(SUPPORTED_VERSIONS)}",
            "X-Experience-API-Version",
        )
    return version


def query_params(request: Request) -> dict[str, str]:
    """Query parameters; a parameter given twice is an error, not a silent choice."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(request.url.query, keep_blank_values=True):
        if name in params:
            raise ValidationError(f"parameter {name} is given more than once", name)
        params[name] = value
    return params


def check_params(
    params: dict[str, str], allowed: set[str], required: tuple[str, ...] = ()
) -> None:
    for name in params:
        if name not in allowed:
            raise ValidationError(f"unknown parameter {name!r} for this resource", name)
    for name in required:
        if name not in params:
            raise ValidationError(f"parameter {name} is required", name)


def xapi_endpoint(resource: str | None) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a resource handler: version check, authentication and scope, error rendering."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            state = request.app.state
            version = state.settings.default_xapi_version
            try:
                version = version_of(request)
                authenticator: Authenticator = state.authenticator
                credential = authenticator.authenticate(request.headers.get("authorization"))
                if resource is not None:
                    authorize(credential, resource, request.method in ("GET", "HEAD"))
                if request.method not in ("GET", "HEAD"):
                    check_may_write(credential)
                params = request.scope.get("lrs.params")
                if params is None:
                    params = query_params(request)
                context = XAPIContext(
                    request, credential, version, params, state.store, state.settings
                )
                response = await handler(context)
            except XAPIError as exc:
                response = error_response(exc)
            response.headers["X-Experience-API-Version"] = (
                "2.0.0" if version.startswith("2.") else "1.0.3"
            )
            return response

        return endpoint

    return wrap


def error_response(exc: XAPIError) -> Response:
    """The JSON error body with the status and headers lrs.api.errors maps the error to."""
    return json_response(exc.body(), status=status_of(exc), headers=headers_of(exc))


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(value), status, headers, media_type="application/json")


def raw_json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status, headers, media_type="application/json")


def agent_param(params: dict[str, str], name: str = "agent") -> tuple[dict[str, Any], str]:
    """An agent given as JSON in a parameter: the object and its learner key."""
    try:
        agent = orjson.loads(params[name])
    except orjson.JSONDecodeError:
        raise ValidationError(f"parameter {name} must be an Agent as JSON", name) from None
    validate_agent(agent, name)
    key = agent_key(agent)
    if key is None:
        raise ValidationError(f"parameter {name} must identify an Agent", name)
    return agent, key


def iri_param(params: dict[str, str], name: str) -> str:
    value = params[name]
    validate_iri(value, name)
    return value


def uuid_param(params: dict[str, str], name: str) -> str:
    value = params[name]
    validate_uuid(value, name)
    return value.lower()


def timestamp_param(params: dict[str, str], name: str, version: str) -> str:
    """A since/until parameter as a stored-format UTC timestamp, comparable with `stored`."""
    return format_stored(parse_timestamp(params[name], version, name))


def http_date(stored: str) -> str:
    """A stored timestamp as an HTTP date (Last-Modified)."""
    return format_datetime(parse_stored(stored), usegmt=True)


async def in_thread(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking store work off the event loop."""
    return await run_in_threadpool(func, *args, **kwargs)


def _loaded_access(store: Store, credential: Credential) -> Access:
    access = Access(store, credential)
    access.scope  # noqa: B018 - reads the credentials here, in the worker thread
    return access


async def access_for(store: Store, credential: Credential) -> Access:
    """The request's view of whose data it may see (lrs.access), credentials read off-loop."""
    return await in_thread(_loaded_access, store, credential)
