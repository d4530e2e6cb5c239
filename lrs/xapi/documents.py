"""Document resources (State, Activity Profile, Agent Profile): pure rules shared by stores."""

from __future__ import annotations

from typing import Any

import orjson

from lrs.xapi.errors import ValidationError

JSON_TYPE = "application/json"


def is_json_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == JSON_TYPE


def parse_json_object(content: bytes, field: str) -> dict[str, Any]:
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"the document is not valid JSON: {exc}", field) from None
    if not isinstance(value, dict):
        raise ValidationError("a POSTed document must be a JSON object", field)
    return value


def merge_documents(
    existing: bytes | None, existing_type: str | None, new: bytes, new_type: str
) -> bytes:
    """JSON merge on POST: top-level properties of the new object replace the old ones.

    Both documents must be JSON objects (xAPI Communication 2.2, POST to documents).
    """
    if not is_json_type(new_type):
        raise ValidationError("POST merges JSON documents: send Content-Type application/json", "Content-Type")
    update = parse_json_object(new, "body")
    if existing is None:
        return _dumps(update)
    if existing_type is None or not is_json_type(existing_type):
        raise ValidationError(
            "the stored document is not JSON, so it cannot be merged: use PUT to replace it",
            "Content-Type",
        )
    merged = parse_json_object(existing, "stored document")
    merged.update(update)
    return _dumps(merged)


def _dumps(document: dict[str, Any]) -> bytes:
    """Serialise a merged document; orjson writes at most 254 levels of nesting (it parses
    1024), so a deeper document is refused here instead of failing in the store (found by
    fuzzing: a 300-level POST was a 500)."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        raise ValidationError(
            "the document is nested too deeply to merge (at most 254 levels); PUT stores it as is",
            "body",
        ) from None
