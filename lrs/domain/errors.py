"""Failures that are nobody's fault in the request: the HTTP edge maps them (lrs.api.errors)."""

from __future__ import annotations

from lrs.xapi.errors import XAPIError


class StoreUnavailable(XAPIError):
    """The database cannot be reached, or is locked or busy past its timeout.

    Nothing was stored: the client should retry (HTTP answers 503 with Retry-After).
    """

    code = "unavailable"
