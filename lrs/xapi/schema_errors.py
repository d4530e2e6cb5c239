"""From JSON Schema errors to one client-facing error: a message and a dotted field path.

Shared by every schema-checked document (statements, frameworks, ...) so that all of them
report errors alike: the most specific error wins, named by its path (`actor.mbox`,
`areas[0].competences[2].id`), with the schema's own `x-message` where it gives one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema

from lrs.xapi.errors import ValidationError

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*", re.ASCII)
# Combinators whose own error says less than the errors of their branches.
_WEAK = frozenset({"anyOf", "oneOf", "allOf", "if", "then", "else"})


def invalid(field: str | None, message: str) -> ValidationError:
    """A ValidationError whose message leads with the field, so logs read on their own."""
    return ValidationError(f"{field}: {message}" if field else message, field)


def x_message(error: jsonschema.ValidationError) -> str | None:
    schema = error.schema
    if isinstance(schema, Mapping):
        message = schema.get("x-message")
        if isinstance(message, str):
            return message
    return None


def leaf_errors(
    errors: Iterable[jsonschema.ValidationError],
) -> Iterable[jsonschema.ValidationError]:
    """Yield errors, descending into anyOf/oneOf only when they carry no message of their own."""
    for error in errors:
        if error.context and error.validator in ("anyOf", "oneOf") and x_message(error) is None:
            yield from leaf_errors(error.context)
        else:
            yield error


def join(prefix: str, path: Iterable[object]) -> str:
    field = prefix
    for part in path:
        if isinstance(part, int):
            field += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            field += f".{part}" if field else part
        else:
            field += f"[{json.dumps(part)}]"
    return field


def to_validation_error(error: jsonschema.ValidationError, prefix: str) -> ValidationError:
    field = join(prefix, error.absolute_path)
    in_key = "propertyNames" in error.absolute_schema_path
    instance = error.instance
    validator = error.validator
    # The error of a failed `required` or `additionalProperties` carries what it checked.
    checked: Any = error.validator_value
    schema: Any = error.schema
    message: str
    if validator == "required" and isinstance(instance, Mapping):
        missing = next((k for k in checked if k not in instance), None)
        if missing is not None and x_message(error) is None:
            field = join(field, [missing])
            message = "is required"
        else:
            message = x_message(error) or error.message
    elif validator == "additionalProperties" and isinstance(instance, Mapping):
        allowed = schema.get("properties", {})
        extra = next((k for k in instance if k not in allowed), None)
        if extra is not None:
            field = join(field, [extra])
        message = "is not an allowed property here"
    elif in_key:
        message = f"has an invalid key {instance!r}: {x_message(error) or describe(error)}"
    else:
        message = x_message(error) or describe(error)
    return invalid(field or None, message)


def describe(error: jsonschema.ValidationError) -> str:
    """A short, client-facing wording for the standard validators."""
    value: Any = error.validator_value
    match error.validator:
        case "type":
            return f"must be of type {value}"
        case "const":
            return f"must be {json.dumps(value)}"
        case "enum":
            return "must be one of " + ", ".join(json.dumps(v) for v in value)
        case "minimum":
            return f"must be >= {value}"
        case "maximum":
            return f"must be <= {value}"
        case "minItems":
            return f"must have at least {value} item(s)"
        case "maxItems":
            return f"must have at most {value} item(s)"
        case "pattern":
            return "is not in the expected format"
        case "not":
            return "is not allowed here"
        case _:
            return error.message


def most_specific(
    errors: Iterable[jsonschema.ValidationError],
) -> jsonschema.ValidationError | None:
    """The error that says most: deepest path, not a combinator, with a message of its own."""
    best: jsonschema.ValidationError | None = None
    best_rank: tuple[int, bool, bool] = (-1, False, False)
    for error in leaf_errors(errors):
        rank = (
            len(error.absolute_path),
            error.validator not in _WEAK,
            x_message(error) is not None,
        )
        if rank > best_rank:
            best, best_rank = error, rank
    return best


def explain(
    errors: Iterable[jsonschema.ValidationError], prefix: str = ""
) -> ValidationError | None:
    """The ValidationError for a set of schema errors; None when there are none."""
    best = most_specific(errors)
    return None if best is None else to_validation_error(best, prefix)
