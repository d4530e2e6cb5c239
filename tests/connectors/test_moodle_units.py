"""Moodle mapping pieces the fixtures exercise only in passing: PHP's loose conversions, PHP
object unserialisation (lesson essays), and refusal (MappingError, never a crash) when the
database rows an event needs are missing or damaged."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connectors.base import MappingError
from connectors.moodle import Config, map_event
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


def _case(case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if not FIXTURES.is_dir():  # a clone outside /work has no ../shared beside it
        pytest.skip(f"no shared Moodle fixtures at {FIXTURES}")
    return _load(FIXTURES / case, "event.json"), _load(FIXTURES / case, "data.json")


SITE_CONFIG = Config(app_url="http://www.example.org")  # the right behaviour, not the plugin's
EVENT_TIME = 1433946701  # the lesson fixtures' event time


def test_a_lesson_ending_carries_that_sessions_grade_not_a_later_one() -> None:
    event, data = _case("mod_lesson/lesson_ended")
    data["grade_items"][0].update(grademax=10, grademin=0, gradepass=5)
    data["lesson_grades"] = [
        {"id": 1, "lessonid": 1, "userid": 1, "grade": 40.0, "completed": EVENT_TIME - 10},
        {"id": 2, "lessonid": 1, "userid": 1, "grade": 90.0, "completed": EVENT_TIME + 1000},
    ]
    [statement] = map_event(event, FixtureLookup(data), SITE_CONFIG)
    # 40 % of 10 = 4.0, below the grade to pass (5)
    assert statement["result"] == {
        "completion": True,
        "score": {"raw": 4.0, "min": 0.0, "max": 10.0, "scaled": 0.4},
        "success": False,
    }


def test_a_lesson_answer_is_the_one_that_event_recorded() -> None:
    event, data = _case("mod_lesson/question_answered/shortanswer")
    [later] = data["lesson_attempts"]
    data["lesson_attempts"] = [
        {**later, "id": 1, "correct": 0, "useranswer": "Wrong", "timeseen": EVENT_TIME - 5},
        {**later, "id": 2, "correct": 1, "useranswer": "Thing", "timeseen": EVENT_TIME + 60},
    ]
    [statement] = map_event(event, FixtureLookup(data), SITE_CONFIG)
    assert statement["result"] == {"success": False, "response": "Wrong"}
    [plugin] = map_event(event, FixtureLookup(data), CONFIG)  # the plugin: the latest of all
    assert plugin["result"] == {"success": True, "response": "Thing"}


def test_a_manual_grade_scores_the_graded_slot_not_the_first_question() -> None:
    event, data = _case("mod_quiz/question_manually_graded")  # other: attempt 1, slot 1
    event["other"] = '{"quizid": "1", "attemptid": "1", "slot": 2}'
    data["question_attempts"] = [
        {"id": 1, "questionusageid": 1, "slot": 1, "maxfraction": 1.0, "minfraction": 0.0},
        {"id": 2, "questionusageid": 1, "slot": 2, "maxfraction": 1.0, "minfraction": 0.0},
    ]
    data["question_attempt_steps"] = [
        {"id": 1, "questionattemptid": 1, "fraction": 0.5, "sequencenumber": 1},
        {"id": 2, "questionattemptid": 2, "fraction": 0.25, "sequencenumber": 1},
    ]
    [statement] = map_event(event, FixtureLookup(data), SITE_CONFIG)
    assert statement["object"]["id"] == "http://www.example.org/review.php?attempt=1&slot=2"
    assert statement["result"] == {"score": {"raw": 0.25, "min": 0.0, "max": 1.0, "scaled": 0.25}}


def test_a_regraded_assignment_keeps_the_grade_that_event_gave() -> None:
    case = "mod_assign/assignment_graded/existing_assignment_graded_nocomment"
    event, data = _case(case)  # graded 1 of 2 (pass 1) at the event's time
    data["grade"] = [{"id": 1, "userid": 2, "assignment": 1, "grade": 2,
                      "timemodified": EVENT_TIME + 3600}]  # regraded an hour later: 2 of 2
    data["grade_grades_history"] = [
        {"id": 1, "itemid": 1, "userid": 2, "rawgrade": 1.0, "timemodified": EVENT_TIME},
        {"id": 2, "itemid": 1, "userid": 2, "rawgrade": 2.0, "timemodified": EVENT_TIME + 3600},
    ]
    [statement] = map_event(event, FixtureLookup(data), SITE_CONFIG)
    assert statement["result"] == {
        "success": True, "score": {"raw": 1.0, "min": 0.0, "max": 2.0, "scaled": 0.5},
    }
    # without a history of it, no score rather than the later one
    del data["grade_grades_history"]
    [statement] = map_event(event, FixtureLookup(data), SITE_CONFIG)
    assert "result" not in statement
