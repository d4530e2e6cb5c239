"""Errors a request can cause, as the domain sees them: a code, a message, the field.

They carry no HTTP status: the HTTP edge (lrs.api.errors) maps each code to one, so the
operations and the stream processors (which answer no HTTP) never speak HTTP.
"""

from __future__ import annotations

from typing import Any


class XAPIError(Exception):
    """A request the LRS refuses; rendered as `{"error": {"code", "message", "field"}}`."""

    code: str = "bad_request"

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class ValidationError(XAPIError):
    """A statement or parameter breaks a rule of the xAPI Data or Communication part."""

    code = "invalid"


class Unauthorized(XAPIError):
    code = "unauthorized"
    # The WWW-Authenticate challenge sent with it (a bearer token's refusal names its error).
    challenge = 'Basic realm="xAPI"'


class Forbidden(XAPIError):
    code = "forbidden"


class NotFound(XAPIError):
    code = "not_found"


class Conflict(XAPIError):
    code = "conflict"


class PreconditionFailed(XAPIError):
    code = "precondition_failed"


class PayloadTooLarge(XAPIError):
    code = "too_large"
