"""Request limits: body size for every request, and the shape of posted statement JSON.

Why limits at all: a request a client can send must never cost the LRS more than a bounded
amount of memory and CPU, and must never reach code that fails on it (orjson cannot write
JSON nested deeper than 254 levels, so a deeper statement used to parse, validate and then
fail at the store with a 500; MongoDB cannot store an integer beyond 64 bits). Every limit is
a setting (`lrs.config.Settings`), breaches answer with the project's JSON error:

* body larger than `max_body_bytes`                -> 413 too_large, field "body"
* a string (or key) longer than `max_string_length` -> 413 too_large, field = its path
* nesting deeper than `max_json_depth`              -> 400 invalid, field = its path
* a number beyond +/-`max_number`, or an integer
  outside the signed 64-bit range                   -> 400 invalid, field = its path
* the same key twice in one object                  -> 400 invalid, field = its path
* an attachment part larger than `max_attachment_bytes` -> 413 too_large, field "multipart"

Duplicate keys: JSON (RFC 8259) leaves them undefined and parsers silently keep one value,
so a statement's meaning would depend on the parser; xAPI says each property is used at most
once (the conformance suite's "Multiplicity" checks say a malformed statement is rejected
and never post one), so statements with duplicate keys are refused, naming the key.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lrs.xapi.errors import PayloadTooLarge, ValidationError
from lrs.xapi.schema_errors import join

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# orjson refuses to write JSON nested deeper than 254 levels: a deeper statement could be
# parsed and validated but never stored, so no setting may allow more than this.
MAX_WRITABLE_DEPTH = 250

# One JSON string token, unrolled so the engine does not branch per character; when it is
# followed by a colon it is an object key. Only used on bytes orjson already accepted.
_STRING_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"(\s*:)?', re.DOTALL)
_SPACED_COLON = re.compile(rb'"[ \t\r\n]+:')


# --------------------------------------------------------------------------- request bodies


class BodyTooLarge(Exception):
    """Raised inside `receive` when a body without (or lying about) Content-Length grows past
    the limit; the middleware turns it into a 413."""


def error_message(scope: Scope, status: int, error: dict[str, Any], headers: dict[str, str]) -> list[Message]:
    """The ASGI messages of a JSON error answered by a middleware (no handler ran).

    xAPI wants X-Experience-API-Version on every answer under /xapi/, errors included.
    """
    body = orjson.dumps({"error": error})
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
    ]
    if scope.get("path", "").startswith("/xapi/"):
        version = b"1.0.3"
        for name, value in scope.get("headers", []):
            if name == b"x-experience-api-version" and value.strip().startswith(b"2."):
                version = b"2.0.0"
        raw.append((b"x-experience-api-version", version))
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    ]


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    for reply in error_message(scope, status, error, headers or {}):
        await send(reply)


class BodyLimit:
    """Refuse a request body over `max_body_bytes` before it is read into memory.

    A Content-Length above the limit is answered at once; a chunked body (or one longer than
    it said) is counted as it arrives and cut off when it passes the limit, so no handler or
    middleware behind this one (the alternate request syntax reads whole bodies) ever holds
    more than the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    return await self._refuse(scope, send)
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await send_error(
            scope,
            send,
            413,
            "too_large",
            f"the request body is larger than this LRS accepts ({self.max_bytes} bytes)",
            "body",
            {"Connection": "close"},
        )


# --------------------------------------------------------------------------- statement JSON


def parse_limited_json(raw: bytes, settings: Any, field: str = "body") -> Any:
    """Parse a statement body and hold it to the JSON limits of `settings`.

    The fast path costs one orjson parse, one pass over the parsed containers (about 7 us for
    a 1 KB statement, a fifth of what validating it costs) and two scans of the bytes; only a
    body that breaks a rule pays for finding where.
    """
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", field) from None
    keys = check_json_limits(value, settings, strings=len(raw) > int(settings.max_string_length))
    # Exact without a regex pass when no key is followed by whitespace before its colon:
    # every key adds one `":`, anything else (an escaped quote, a string starting with a
    # colon) only adds more, so equal counts mean every key was kept.
    if raw.count(b'":') != keys or _SPACED_COLON.search(raw) is not None:
        if _count_key_tokens(raw) != keys:
            _raise_duplicate(raw)
    return value


def effective_depth(settings: Any) -> int:
    """The depth limit in force: the setting, but never past what orjson can write back."""
    depth = int(settings.max_json_depth)
    return MAX_WRITABLE_DEPTH if depth <= 0 else min(depth, MAX_WRITABLE_DEPTH)


def check_json_limits(value: Any, settings: Any, strings: bool = True) -> int:
    """Check depth, string and number sizes of a parsed JSON value; return its key count.

    `strings=False` skips string lengths, for a caller that knows the whole body is shorter
    than the string limit. Recursion is bounded by the depth limit (at most 250 frames).
    """
    max_depth = effective_depth(settings)
    max_string = int(settings.max_string_length) if strings else 0
    max_number = float(settings.max_number)
    if max_number <= 0:
        max_number = float("inf")
    if max_string <= 0:
        max_string = 0

    def visit(item: Any, depth: int) -> int:
        keys = 0
        if type(item) is dict:
            keys = len(item)
            if max_string and any(len(key) > max_string for key in item):
                raise _Broken
            children: Any = item.values()
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= max_depth:
                    raise _Broken
                keys += visit(child, depth + 1)
            elif kind is str:
                if max_string and len(child) > max_string:
                    raise _Broken
            elif kind is int:
                if not INT64_MIN <= child <= INT64_MAX or abs(child) > max_number:
                    raise _Broken
            elif kind is float and abs(child) > max_number:
                raise _Broken
        return keys

    try:
        if type(value) is dict or type(value) is list:
            return visit(value, 1)
        visit([value], 0)
        return 0
    except _Broken:
        _locate(value, settings, strings)
        raise AssertionError("unreachable") from None  # pragma: no cover


class _Broken(Exception):
    """Some limit is broken; `_locate` finds which and where."""


def _locate(value: Any, settings: Any, strings: bool) -> None:
    """Walk again, depth first in document order, to name the first value over a limit."""
    max_depth = effective_depth(settings)
    max_string = int(settings.max_string_length) if strings else 0
    max_number = float(settings.max_number)
    if max_number <= 0:
        max_number = float("inf")
    stack: list[tuple[Any, int, tuple[object, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list) and depth > max_depth:
            where = _where(path)
            raise ValidationError(
                f"{where}: nested deeper than {max_depth} levels", where, code="too_deep"
            )
        if isinstance(item, dict):
            if max_string > 0 and any(len(key) > max_string for key in item):
                where = _where(path)
                raise PayloadTooLarge(
                    f"{where}: holds a key longer than {max_string} characters", where
                )
            stack.extend((item[k], depth + 1, (*path, k)) for k in reversed(list(item)))
        elif isinstance(item, list):
            stack.extend((item[i], depth + 1, (*path, i)) for i in reversed(range(len(item))))
        elif isinstance(item, str) and max_string > 0 and len(item) > max_string:
            where = _where(path)
            raise PayloadTooLarge(f"{where}: longer than {max_string} characters", where)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            outside_int64 = isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX
            if outside_int64 or abs(item) > max_number:
                where = _where(path)
                shown = _shown(item)
                raise ValidationError(
                    f"{where}: the number {shown} is larger than this LRS accepts (magnitude "
                    f"at most {max_number:.6g}; integers within signed 64 bits)",
                    where,
                )
    raise AssertionError("a limit was broken but not found")  # pragma: no cover


def _where(path: tuple[object, ...]) -> str:
    """The field path of a value, shortened: a path may run through keys of any length."""
    where = join("", path) or "body"
    return where if len(where) <= 300 else where[:297] + "..."


def _shown(number: int | float) -> str:
    """A number short enough for a message (str() of a huge int is slow, or refused)."""
    if isinstance(number, int) and number.bit_length() > 64:
        return f"of {number.bit_length()} bits"
    text = str(number)
    return text if len(text) <= 24 else f"{number:.6g}"


def _count_key_tokens(raw: bytes) -> int:
    """Object keys written in the text: string tokens followed by a colon.

    Scanning left to right, every match starts at an opening quote (outside strings a quote
    only ever opens one), so string contents never produce a false key.
    """
    return sum(1 for match in _STRING_TOKEN.finditer(raw) if match.group(1) is not None)


class _Object(dict):  # type: ignore[type-arg]
    """A parsed object that remembers the first key it was given twice."""

    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object()
    for key, item in pairs:
        if key in result and result.duplicate is None:
            result.duplicate = key
        result[key] = item
    return result


def _raise_duplicate(raw: bytes) -> None:
    """Find, with the slow stdlib parser, the object that repeats a key, and name it."""
    try:
        value = json.loads(raw, object_pairs_hook=_pairs)
    except (ValueError, RecursionError):  # orjson accepted it: should not happen
        raise ValidationError("the body repeats a key in an object", "body") from None
    stack: list[tuple[Any, tuple[object, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _Object):
            if item.duplicate is not None:
                where = join("", (*path, item.duplicate))
                raise ValidationError(
                    f"{where}: the key {item.duplicate!r} appears more than once in one object "
                    "(xAPI: each property is used at most once)",
                    where,
                    code="duplicate_key",
                )
            stack.extend((item[k], (*path, k)) for k in reversed(list(item)))
        elif isinstance(item, list):
            stack.extend((item[i], (*path, i)) for i in reversed(range(len(item))))
    # Key counts differed for another reason (cannot happen with valid JSON): refuse safely.
    raise ValidationError("the body's object keys could not be read unambiguously", "body")


def check_attachment_sizes(parts: dict[str, Any], settings: Any) -> None:
    """Refuse an attachment part larger than `max_attachment_bytes` (413)."""
    limit = int(settings.max_attachment_bytes)
    if limit <= 0:
        return
    for sha2, part in parts.items():
        if len(part.data) > limit:
            raise PayloadTooLarge(
                f"attachment {sha2} is {len(part.data)} bytes; this LRS accepts at most {limit}",
                "multipart",
            )
