"""xAPI 1.0.x Alternate Request Syntax: a form POST carrying method, headers and content.

Browsers that cannot send custom headers or cross-origin PUTs use it. Rewriting such a
request into the plain request it stands for, before routing, keeps it out of every handler.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER_FIELDS = {
    "authorization",
    "x-experience-api-version",
    "content-type",
    "content-length",
    "if-match",
    "if-none-match",
}
METHODS = {"GET", "PUT", "POST", "DELETE", "HEAD"}


class AlternateRequestSyntax:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/xapi/"):
            return await self.app(scope, receive, send)
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if not any(name == "method" for name, _ in query):
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        try:
            scope, body = _rewrite(scope, query, body)
        except _Refused as exc:
            return await _refuse(send, str(exc))

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class _Refused(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _rewrite(scope: Scope, query: list[tuple[str, str]], body: bytes) -> tuple[Scope, bytes]:
    if scope["method"] != "POST":
        raise _Refused("the alternate request syntax must be sent as a POST")
    if len(query) != 1:
        raise _Refused("with the alternate request syntax, every parameter goes in the form body")
    method = query[0][1].upper()
    if method not in METHODS:
        raise _Refused(f"unknown method {query[0][1]!r}")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _Refused("the alternate request syntax needs Content-Type application/x-www-form-urlencoded")
    try:
        form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise _Refused("the form body is not URL-encoded") from None
    params: list[tuple[str, str]] = []
    content = b""
    headers.pop("content-type", None)
    headers.pop("content-length", None)
    for name, value in form:
        if name.lower() in HEADER_FIELDS:
            headers[name.lower()] = value
        elif name == "content":
            content = value.encode("utf-8")
        else:
            params.append((name, value))
    if method in ("PUT", "POST") and not content and method != "POST":
        raise _Refused("the form has no content field")
    if headers.get("x-experience-api-version", "").startswith("2."):
        raise _Refused("xAPI 2.0 removed the alternate request syntax: send a plain request")
    if content and "content-type" not in headers:
        headers["content-type"] = "application/json"
    headers["content-length"] = str(len(content))
    new_scope: dict[str, Any] = dict(scope)
    new_scope["method"] = method
    new_scope["query_string"] = urlencode(params).encode("latin-1")
    new_scope["headers"] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return new_scope, content


async def _refuse(send: Send, message: str) -> None:
    body = orjson.dumps({"error": {"code": "invalid", "message": message, "field": "method"}})
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-experience-api-version", b"1.0.3"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
