"""Statement validation for xAPI 1.0.3 and xAPI 2.0 (IEEE 9274.1.1-2023).

Two layers. The JSON Schemas in `schemas/` carry every structural rule (types, required
and forbidden properties, enums, formats); they are compiled once with jsonschema_rs so a
valid statement costs one native pass. Only when that pass fails is the pure-Python
`jsonschema` run, because it can say *where* and *why*; clients get a message and a
dotted field path instead of "invalid". The code below the schema layer then checks what
a schema cannot say: cross-field rules (score ordering, voiding, revision/platform only
with Activities, distinct interaction component ids) and calendar validity of timestamps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from lrs.xapi.errors import ValidationError
from lrs.xapi.schema_errors import explain
from lrs.xapi.schema_errors import invalid as _invalid
from lrs.xapi.schema_errors import join as _join
from lrs.xapi.time import is_v2, parse_timestamp

__all__ = [
    "VOIDED_VERB",
    "schema_for",
    "validate_agent",
    "validate_duration",
    "validate_iri",
    "validate_language_tag",
    "validate_statement",
    "validate_statement_batch",
    "validate_uuid",
]

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"

_SCHEMA_FILES = {
    "1.0.3": "xapi-statement-1.0.3.schema.json",
    "2.0": "xapi-statement-2.0.schema.json",
}
_COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
_CONTEXT_ACTIVITY_KEYS = ("parent", "grouping", "category", "other")
_DURATION_COMPONENT = re.compile(r"([0-9]+(?:[.,][0-9]+)?)([YMWDHS])", re.ASCII)
# Validators whose failure says little on its own; a sibling error usually says more.


@dataclass(frozen=True)
class _Rules:
    """One version's compiled schema: the fast checker and the explaining one."""

    schema: Mapping[str, Any]
    fast: Any
    slow: jsonschema.Draft7Validator


def _rules_key(version: str) -> str:
    return "2.0" if is_v2(version) else "1.0.3"


@cache
def _load_rules(key: str) -> _Rules:
    """Load and compile a schema once per process; the only I/O this module does."""
    schema = json.loads((SCHEMA_DIR / _SCHEMA_FILES[key]).read_text(encoding="utf-8"))
    return _Rules(
        schema=schema,
        fast=jsonschema_rs.Draft7Validator(schema),
        slow=jsonschema.Draft7Validator(schema),
    )


def schema_for(version: str) -> Mapping[str, Any]:
    """The statement schema that applies to a request version (for publishing it)."""
    return _load_rules(_rules_key(version)).schema


@cache
def _definition_validator(key: str, definition: str) -> tuple[Any, jsonschema.Draft7Validator]:
    """Validators for one named definition, for values that arrive outside a statement."""
    definitions = _load_rules(key).schema["definitions"]
    sub = {"$ref": f"#/definitions/{definition}", "definitions": definitions}
    return jsonschema_rs.Draft7Validator(sub), jsonschema.Draft7Validator(sub)


# --------------------------------------------------------------------------- public API


def validate_statement(statement: object, version: str) -> None:
    """Raise ValidationError naming the first broken rule, or return if the statement is valid."""
    _validate_statement_at(statement, version, "")


def validate_statement_batch(statements: object, version: str) -> list[dict[str, Any]]:
    """Validate a POST body: one statement or a list of them.

    Ids must be distinct within the batch because the batch is stored atomically and a
    second statement with the same id could not be stored beside the first.
    """
    if isinstance(statements, Mapping):
        validate_statement(statements, version)
        return [statements]  # type: ignore[list-item]
    if not isinstance(statements, list):
        raise _invalid(None, "a statement batch must be a JSON object or an array of them")
    seen: dict[str, int] = {}
    for index, statement in enumerate(statements):
        prefix = f"[{index}]"
        _validate_statement_at(statement, version, prefix)
        statement_id = statement.get("id")
        if statement_id is not None:
            key = statement_id.lower()
            if key in seen:
                raise _invalid(
                    f"{prefix}.id", f"duplicates the id of statement [{seen[key]}] in this batch"
                )
            seen[key] = index
    return statements


def validate_agent(agent: object, field: str = "agent", version: str = "2.0.0") -> None:
    """Check an Agent (or identified Group) given as a query parameter.

    The State, Agent Profile and Agents resources key documents by the agent's identity,
    so exactly one inverse functional identifier is required even for a Group.
    """
    if not isinstance(agent, Mapping):
        raise _invalid(field, "must be a JSON object (an Agent or identified Group)")
    definition = "group" if agent.get("objectType") == "Group" else "agent"
    _run_definition(agent, version, definition, field)
    if definition == "group" and not any(
        k in agent for k in ("mbox", "mbox_sha1sum", "openid", "account")
    ):
        raise _invalid(
            field,
            "must be identified by one inverse functional identifier "
            "(mbox, mbox_sha1sum, openid, account)",
        )


def validate_iri(value: object, field: str) -> None:
    """Check an absolute IRI (scheme present, no whitespace), e.g. a query parameter."""
    _run_definition(value, "2.0.0", "iri", field)


def validate_uuid(value: object, field: str) -> None:
    """Check a UUID in its hyphenated hex form; any version or variant is accepted."""
    _run_definition(value, "2.0.0", "uuid", field)


def validate_language_tag(value: object, field: str) -> None:
    """Check the RFC 5646 shape of a language tag (registry membership is not checked)."""
    _run_definition(value, "2.0.0", "languageTag", field)


def validate_duration(value: object, field: str) -> None:
    """Check an ISO 8601:2004 section 4.4.3.2 duration (PnYnMnDTnHnMnS or PnW)."""
    _run_definition(value, "2.0.0", "duration", field)
    _check_duration(value, field)  # type: ignore[arg-type]


# ------------------------------------------------------------------- schema layer


def _validate_statement_at(statement: object, version: str, prefix: str) -> None:
    rules = _load_rules(_rules_key(version))
    if not _fast_is_valid(rules.fast, statement):
        raise _explain(rules.slow, statement, prefix)
    _check_statement(statement, version, prefix)  # type: ignore[arg-type]


def _fast_is_valid(validator: Any, instance: object) -> bool:
    try:
        return bool(validator.is_valid(instance))
    except (ValueError, TypeError, OverflowError):
        # Values JSON never produces (huge ints, non-JSON types): let the slow path judge.
        return False


def _run_definition(value: object, version: str, definition: str, field: str) -> None:
    fast, slow = _definition_validator(_rules_key(version), definition)
    if not _fast_is_valid(fast, value):
        raise _explain(slow, value, field)


def _explain(
    validator: jsonschema.Draft7Validator, instance: object, prefix: str
) -> ValidationError:
    """Turn the most specific schema error into a message and a dotted field path."""
    error = explain(validator.iter_errors(instance), prefix)
    if error is None:
        # The Rust and Python regex engines disagree on some corner; say what we can.
        return _invalid(prefix or None, "does not conform to the xAPI statement schema")
    return error


# --------------------------------------------------------------------- rule layer
# Runs only on statements the schema accepted, so shapes and types can be relied on.


def _check_statement(statement: Mapping[str, Any], version: str, path: str) -> None:
    _check_statement_body(statement, version, path)
    if "stored" in statement:
        parse_timestamp(statement["stored"], version, _key(path, "stored"))
    verb = statement["verb"]
    target = statement["object"]
    if verb["id"] == VOIDED_VERB and target.get("objectType") != "StatementRef":
        raise _invalid(
            _key(path, "object"), "a voiding statement's object must be a StatementRef"
        )


def _check_statement_body(statement: Mapping[str, Any], version: str, path: str) -> None:
    """Rules shared by Statements and SubStatements."""
    if "timestamp" in statement:
        parse_timestamp(statement["timestamp"], version, _key(path, "timestamp"))
    target = statement["object"]
    object_path = _key(path, "object")
    object_type = target.get("objectType", "Activity")
    if object_type == "Activity":
        _check_activity(target, object_path)
    elif object_type == "SubStatement":
        _check_statement_body(target, version, object_path)
    if "result" in statement:
        _check_result(statement["result"], _key(path, "result"))
    if "context" in statement:
        _check_context(statement["context"], object_type, _key(path, "context"))


def _key(path: str, name: str) -> str:
    """`join(path, [name])` for a property name that is an identifier, without the general
    join's checks: the rule layer names a few fixed properties of every statement, and
    building their paths eagerly cost microseconds a statement (they are used on errors)."""
    return f"{path}.{name}" if path else name


def _check_activity(activity: Mapping[str, Any], path: str) -> None:
    definition = activity.get("definition")
    if not definition:
        return
    for key in _COMPONENT_LISTS:
        components = definition.get(key)
        if not components:
            continue
        seen: set[str] = set()
        for index, component in enumerate(components):
            component_id = component["id"]
            if component_id in seen:
                field = _join(path, ["definition", key, index, "id"])
                raise _invalid(field, f"{component_id!r} repeats an id in the same list")
            seen.add(component_id)


def _check_result(result: Mapping[str, Any], path: str) -> None:
    if "duration" in result:
        _check_duration(result["duration"], _key(path, "duration"))
    score = result.get("score")
    if not score:
        return
    low, high, raw = score.get("min"), score.get("max"), score.get("raw")
    if low is not None and high is not None and not low < high:
        field = _join(path, ["score", "min"])
        raise _invalid(field, "must be less than score.max")
    if raw is not None and low is not None and raw < low:
        field = _join(path, ["score", "raw"])
        raise _invalid(field, "must not be less than score.min")
    if raw is not None and high is not None and raw > high:
        field = _join(path, ["score", "raw"])
        raise _invalid(field, "must not be greater than score.max")


def _check_context(context: Mapping[str, Any], object_type: str, path: str) -> None:
    if object_type != "Activity":
        for key in ("revision", "platform"):
            if key in context:
                field = _join(path, [key])
                raise _invalid(field, "may only be used when the statement's object is an Activity")
    activities = context.get("contextActivities") or {}
    for key in _CONTEXT_ACTIVITY_KEYS:
        value = activities.get(key)
        if value is None:
            continue
        items: Sequence[Mapping[str, Any]] = value if isinstance(value, list) else [value]
        for index, activity in enumerate(items):
            if not activity.get("definition"):  # nothing to check: no path to build
                continue
            parts: list[object] = ["contextActivities", key]
            if isinstance(value, list):
                parts.append(index)
            _check_activity(activity, _join(path, parts))


def _check_duration(value: str, field: str) -> None:
    """Only the smallest component present may carry a fraction (ISO 8601:2004 4.4.3.2)."""
    components = _DURATION_COMPONENT.findall(value)
    for number, _unit in components[:-1]:
        if "." in number or "," in number:
            raise _invalid(field, "may only have a decimal fraction on its smallest component")
