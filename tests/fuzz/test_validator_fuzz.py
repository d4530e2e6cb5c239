"""Fuzzing the statement validator (issue 6, point 6a).

The promise: `validate_statement` / `validate_statement_batch` either accept a value or raise
an XAPIError (rendered as the JSON error, naming a field); never another exception, whatever
JSON a client sends. Valid statements built from the xAPI structure must be accepted in both
versions, which keeps the generator honest and catches over-strict rules.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from lrs.xapi.errors import XAPIError
from lrs.xapi.validation import validate_statement, validate_statement_batch
from tests.fuzz.conftest import Cases, examples
from tests.fuzz.strategies import json_values, mutated, statements

VERSIONS = st.sampled_from(["1.0.3", "2.0.0"])


def judged(value: Any, version: str) -> XAPIError | None:
    """The validator's verdict; any exception that is not an XAPIError fails the test."""
    try:
        validate_statement_batch(value, version)
    except XAPIError as error:
        body = error.body()["error"]
        assert isinstance(body["message"], str) and body["message"]
        assert body.get("field") is None or isinstance(body["field"], str)
        assert 400 <= error.status < 500
        orjson.dumps(error.body())  # renders as JSON
        return error
    return None


@settings(max_examples=examples(200))
@given(statement=statements(), version=VERSIONS)
def test_valid_statements_are_accepted(statement: dict[str, Any], version: str, fuzz_cases: Cases) -> None:
    fuzz_cases()
    error = judged(statement, version)
    assert error is None, f"refused a valid statement: {error} ({error.field if error else ''})"
    validate_statement(statement, version)


@settings(max_examples=examples(300))
@given(value=mutated(), version=VERSIONS)
def test_broken_statements_only_raise_validation_errors(value: Any, version: str, fuzz_cases: Cases) -> None:
    fuzz_cases()
    judged(value, version)


@settings(max_examples=examples(100))
@given(batch=st.lists(st.one_of(statements(), mutated()), max_size=3), version=VERSIONS)
def test_batches_only_raise_validation_errors(batch: list[Any], version: str, fuzz_cases: Cases) -> None:
    fuzz_cases()
    error = judged(batch, version)
    if error is not None and len(batch) > 1 and error.field:
        assert error.field.startswith("["), error.field  # names which statement


@settings(max_examples=examples(100))
@given(value=json_values, version=VERSIONS)
def test_any_json_value_only_raises_validation_errors(value: Any, version: str, fuzz_cases: Cases) -> None:
    fuzz_cases()
    assert judged(value, version) is not None or isinstance(value, list) and value == []
