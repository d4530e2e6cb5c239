"""Moodle mapping pieces the fixtures exercise only in passing: PHP's loose conversions, PHP
object unserialisation (lesson essays), and refusal (MappingError, never a crash) when the
database rows an event needs are missing or damaged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.base import MappingError
from connectors.moodle import map_event
from connectors.moodle.mapping import parse_other, slugify
from connectors.moodle.php import is_numeric, php_float, php_text
from connectors.moodle.readers import RowOnlyLookup
from tests.connectors.test_moodle_fixtures import (
    CONFIG,
    FIXTURES,
    FixtureLookup,
    _load,
    cases,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("23", True), (" 2.5", True), ("1e3", True), ("12abc", False), ("", False), (None, False),
     (7, True), (True, False), ("*", False)],
)
def test_is_numeric_follows_php(value: Any, expected: bool) -> None:
    assert is_numeric(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [("12abc", 12.0), ("", 0.0), (None, 0.0), ("x", 0.0), (3, 3.0)]
)
def test_php_float_reads_the_leading_number(value: Any, expected: float) -> None:
    assert php_float(value) == expected


def test_php_text_writes_numbers_as_php_concatenation_does() -> None:
    written = (php_text(23.0), php_text(22.5), php_text(None), php_text("x"))
    assert written == ("23", "22.5", "", "x")


def test_slugify_treats_null_as_empty() -> None:
    assert slugify(None) == "" and slugify(" Answer_1! ") == "answer-1"


def test_php_serialised_objects_read_as_their_properties() -> None:
    text = 'O:8:"stdClass":2:{s:5:"score";i:1;s:6:"answer";s:2:"hi";}'
    assert parse_other(text) == {"score": 1, "answer": "hi"}
    nested = 'a:1:{s:1:"o";O:8:"stdClass":1:{s:1:"k";N;}}'
    assert parse_other(nested) == {"o": {"k": None}}


def _damaged(data: dict[str, list[dict[str, Any]]]) -> list[dict[str, list[dict[str, Any]]]]:
    """data.json with each table dropped in turn, and each column of each row nulled."""
    out = []
    for table, rows in data.items():
        out.append({k: v for k, v in data.items() if k != table})
        for index, row in enumerate(rows):
            for column in row:
                changed = copy.deepcopy(data)
                changed[table][index][column] = None
                out.append(changed)
    return out


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"no shared Moodle fixtures at {FIXTURES}")
def test_missing_or_damaged_rows_are_refused_not_crashes() -> None:
    for case in cases():
        folder = FIXTURES / case
        event = _load(folder, "event.json")
        lookups: list[Any] = [RowOnlyLookup()]
        lookups += [FixtureLookup(d) for d in _damaged(_load(folder, "data.json"))]
        for lookup in lookups:
            try:
                map_event(event, lookup, CONFIG)
            except MappingError:
                pass
