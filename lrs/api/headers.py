"""Security headers on every response, and the CORS policy.

The LRS serves JSON (and multipart, CSV, Prometheus text) to programs, never pages to
browsers, so the headers can be as strict as they come: nothing may be sniffed into HTML,
framed, run as script, or sent on as a referrer. Answers that depend on credentials are
marked `no-store`, so no shared or browser cache keeps a learner's records. A header a
handler already set is left alone.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# What anybody may read without credentials; everything else is an authenticated answer.
PUBLIC_PATHS = frozenset(
    {"/xapi", "/xapi/", "/xapi/about", "/xapi/about/", "/health", "/ready", "/metrics",
     "/api/v1/openapi.json"}
)

CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Experience-API-Version",
    "If-Match",
    "If-None-Match",
    "Accept-Language",
]
EXPOSED_HEADERS = [
    "ETag",
    "Last-Modified",
    "X-Experience-API-Version",
    "X-Experience-API-Consistent-Through",
    "Retry-After",
]


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, hsts_max_age: int = 0) -> None:
        self.app = app
        self.fixed: list[tuple[bytes, bytes]] = [
            (name.lower().encode(), value.encode())
            for name, value in self.headers_for(hsts_max_age).items()
        ]

    @staticmethod
    def headers_for(hsts_max_age: int) -> dict[str, str]:
        """The fixed headers (Cache-Control aside, which depends on the request)."""
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        }
        if hsts_max_age > 0:
            headers["Strict-Transport-Security"] = f"max-age={hsts_max_age}; includeSubDomains"
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        private = scope["path"] not in PUBLIC_PATHS or any(
            name == b"authorization" for name, _ in scope["headers"]
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.fixed if n not in present]
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def cors_middleware(origins: str) -> Middleware:
    """CORS for xAPI browser clients (TinCanJS, cmi5 players), which send Authorization and
    X-Experience-API-Version from content hosted elsewhere.

    `origins` is the `cors_origins` setting: "*" (the default, what content served from any
    host needs), a comma-separated list of origins, or "" for no cross-origin access. No
    cookies are involved (credentials travel in Authorization), so credentials mode is off.
    """
    allowed = [o.strip().rstrip("/") for o in origins.split(",") if o.strip()]
    options: dict[str, Any] = {
        "allow_origins": ["*"] if "*" in allowed else allowed,
        "allow_methods": ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"],
        "allow_headers": CORS_HEADERS,
        "expose_headers": EXPOSED_HEADERS,
        "max_age": 86400,
    }
    return Middleware(CORSMiddleware, **options)
