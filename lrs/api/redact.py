"""Keep credentials out of logs: a logging filter that redacts them from every record.

Where a secret could reach a log line: uvicorn logs the ASGI scope, headers included, at its
trace level, and its access log writes the request line, query string included (the 1.0.x
alternate request syntax lets a client put `Authorization` in the query); an exception
message may quote a header or a store URL with a password (`mongodb://user:pass@...`); a
traceback may include them. The filter rewrites the message, its arguments and any
exception text before a handler formats it, so it protects every handler it is attached to.

`install()` attaches it to the handlers that exist (called when the app is created, for
whatever host runs it); `uvicorn_log_config()` is the logging configuration `lrs serve`
hands uvicorn, with the filter on its handlers and a root handler for our own loggers.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[REDACTED]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # An HTTP Basic / Bearer credential, in a header, a repr of one, or URL-encoded. The token
    # must hold a digit or one of + / = : (as base64 of "key:secret" and "key:secret" do),
    # so prose such as "basic skills" is left alone.
    (
        re.compile(
            r"(?i)\b(basic|bearer|digest)((?:\s|%20|\+)+)(?=[^\s'\"&]*[0-9+/=:])[A-Za-z0-9+/=:._~%-]{6,}"
        ),
        r"\1\2" + REDACTED,
    ),
    # Header or parameter named like a credential: Authorization: ..., ('authorization', '...'),
    # authorization=... in a query string or form.
    (
        re.compile(
            r"(?i)\b(authorization|proxy-authorization|x-api-key|cookie|set-cookie)"
            r"(['\"]?\s*[:=,]\s*\(?\s*(?:(?-i:b)(?=['\"]))?['\"]?)(?!\[REDACTED\])[^'\"\r\n&]+"
        ),
        r"\1\2" + REDACTED,
    ),
    # secret=..., "secret": "...", password: ..., token=..., api_key=...
    (
        re.compile(
            r"(?i)\b([a-z_]*(?:secret|password|passwd|token|api[_-]?key))"
            r"(['\"]?\s*[:=]\s*(?:(?-i:b)(?=['\"]))?['\"]?)[^'\"\s,&;}]+"
        ),
        r"\1\2" + REDACTED,
    ),
    # user:password@ in a URL (store and bus URLs).
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]*):[^@\s/'\"]+@"), r"\1:" + REDACTED + "@"),
]

_SIMPLE = (str, int, float, bool, type(None))


def redact(text: str) -> str:
    """The text with every credential-looking value replaced by [REDACTED]."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record so that no handler can write a credential; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # a filter must never lose the record it was given
            record.msg, record.args = REDACTED + " (a log record that could not be redacted)", None
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and all(isinstance(a, _SIMPLE) for a in args):
            # Keep the tuple (uvicorn's access formatter unpacks it), redact each string.
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
            if isinstance(record.msg, str):
                record.msg = redact(record.msg)
            message = record.getMessage()
            if redact(message) != message:  # a credential split across arguments
                record.msg, record.args = redact(message), None
        else:
            # Dicts, bytes, exceptions, scopes: their str() is what gets written.
            record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)


def _attach(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactSecrets) for f in handler.filters):
        handler.addFilter(RedactSecrets())


def install() -> None:
    """Attach the filter to every handler now configured (root, uvicorn's, last resort).

    Handler filters, not logger filters: a logger's filter sees only records logged on that
    very logger, while a handler's sees every record that reaches it by propagation.
    """
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            _attach(handler)
    if logging.lastResort is not None:
        _attach(logging.lastResort)


def uvicorn_log_config(level: str, json: bool = False) -> dict[str, Any]:
    """uvicorn's own logging configuration, with the filter on every handler, plus a root
    handler (same format) so our loggers' warnings go through the filter too; `json`: one
    JSON object per line (lrs.api.logformat)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if json:
        for name in ("default", "access"):
            config["formatters"][name] = {"()": "lrs.api.logformat.JsonFormatter"}
    config.setdefault("filters", {})["redact_secrets"] = {"()": RedactSecrets}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_secrets")
    # Our loggers only warn and worse; libraries' INFO chatter (kafka-python) stays out.
    root_level = level.upper() if level.lower() in ("error", "critical") else "WARNING"
    config["root"] = {"handlers": ["default"], "level": root_level}
    return config
