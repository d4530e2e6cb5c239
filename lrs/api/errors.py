"""The HTTP edge's reading of domain errors: one status per error code, decided here only.

Domain errors (lrs.xapi.errors, lrs.domain.errors) say what went wrong; this module says
what HTTP answers. An unavailable store (unreachable, or an SQLite file locked or busy past
its timeout) is 503 with Retry-After on every route and every backend, never 500.
"""

from __future__ import annotations

from lrs.xapi.errors import Unauthorized, XAPIError

STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "invalid": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "precondition_failed": 412,
    "too_large": 413,
    "unavailable": 503,
}
RETRY_AFTER_SECONDS = 2


def status_of(exc: XAPIError) -> int:
    """The HTTP status of a domain error (400 for a code this table does not know)."""
    return STATUS_BY_CODE.get(exc.code, 400)


def headers_of(exc: XAPIError) -> dict[str, str]:
    """Headers HTTP requires with the status: a challenge for 401, a delay for 503."""
    status = status_of(exc)
    if status == 401:
        challenge = exc.challenge if isinstance(exc, Unauthorized) else 'Basic realm="xAPI"'
        return {"WWW-Authenticate": challenge}
    if status == 503:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return {}
