"""One JSON object per log line (`log_format = "json"`), for log collectors that index
fields: time, level, logger, message, and for the HTTP access log (`access_log = true`)
client, method, path, status. Records reach it already redacted (lrs.api.redact's filter
sits on the same handlers), so no credential gets into a field either."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            line.update(client=client, method=method, path=path, http=version, status=status)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["error"] = record.exc_text
        return orjson.dumps(line, default=str).decode()
