"""Errors a client can cause. Each maps to one HTTP status and a JSON body naming the field."""

from __future__ import annotations

from typing import Any


class XAPIError(Exception):
    """A request the LRS refuses; rendered as `{"error": {"code", "message", "field"}}`."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        field: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class ValidationError(XAPIError):
    """A statement or parameter breaks a rule of the xAPI Data or Communication part."""

    status = 400
    code = "invalid"


class Unauthorized(XAPIError):
    status = 401
    code = "unauthorized"


class Forbidden(XAPIError):
    status = 403
    code = "forbidden"


class NotFound(XAPIError):
    status = 404
    code = "not_found"


class Conflict(XAPIError):
    status = 409
    code = "conflict"


class PreconditionFailed(XAPIError):
    status = 412
    code = "precondition_failed"


class PayloadTooLarge(XAPIError):
    status = 413
    code = "too_large"
