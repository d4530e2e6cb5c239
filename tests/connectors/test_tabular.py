"""CSV and JSON lines with a mapping file: typed templates, empty optional fields, bad rows.

The pure parts (templates, types, the mapping file) are tested directly; whole runs go
through `python -m lrs.cli connect csv|jsonl`, as an operator runs them, on a small
gradebook spreadsheet with the mistakes real ones have.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.base import MappingError, statement_id
from connectors.tabular import (
    BadRecord,
    MappingFileError,
    load_mapping,
    mapping_for,
    to_timestamp,
    zone,
)
from lrs.config import load_settings
from lrs.domain.records import StatementQuery
from lrs.storage import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]
SIS = "https://sis.example.org"
MAPPING: dict[str, Any] = {
    "source": "gradebook-2025",
    "id": "{row_id}",
    "statement": {
        "actor": {"account": {"homePage": SIS, "name": "{student}"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/{verb}"},
        "object": {"id": "https://x/{activity}"},
        "result": {"score": {"raw": "{score:number}"}, "success": "{passed:boolean}"},
        "timestamp": "{date:timestamp}",
    },
}


def row(**overrides: str) -> dict[str, str]:
    base = {
        "row_id": "17",
        "student": "hs-001",
        "verb": "scored",
        "activity": "quiz-1",
        "score": "8.5",
        "passed": "yes",
        "date": "2025-09-19T16:30:00+07:00",
    }
    return {**base, **overrides}


def map_one(data: Any, mapping: dict[str, Any] = MAPPING) -> dict[str, Any]:
    (statement,) = mapping_for(load_mapping(mapping))(data)
    return statement


# --- templates and types -------------------------------------------------------------------


def test_a_row_fills_the_template_with_typed_values() -> None:
    assert map_one(row()) == {
        "id": statement_id("gradebook-2025", "17"),
        "actor": {"account": {"homePage": SIS, "name": "hs-001"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/scored"},
        "object": {"id": "https://x/quiz-1"},
        "result": {"score": {"raw": 8.5}, "success": True},
        "timestamp": "2025-09-19T09:30:00.000Z",
    }
    assert map_one(row(score="9"))["result"]["score"]["raw"] == 9  # an integer stays one


def test_a_score_with_a_maximum_gets_scaled_as_the_fraction_of_it() -> None:
    mapping = {**MAPPING, "statement": {
        **MAPPING["statement"],
        "result": {"score": {"raw": "{score:number}", "max": 10}},
    }}
    (statement,) = mapping_for(load_mapping(mapping))(row(score="7.5"))
    assert statement["result"]["score"] == {"raw": 7.5, "max": 10, "scaled": 0.75}
    # a template's own scaled stays; one outside [-1, 1] (a percentage) is refused
    mapping["statement"]["result"]["score"]["scaled"] = "{score:number}"
    with pytest.raises(MappingError, match="scaled"):
        mapping_for(load_mapping(mapping))(row(score="75"))


def test_empty_optional_fields_are_left_out() -> None:
    statement = map_one(row(score="", passed=" "))
    assert "result" not in statement  # score {} and result {} went with it
    assert "timestamp" not in map_one(row(date=""))
    assert map_one(row(passed=""))["result"] == {"score": {"raw": 8.5}}


def test_integers_booleans_and_literal_braces() -> None:
    mapping = {
        "source": "s",
        "statement": {
            "actor": {"mbox": "mailto:{email}"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {
                "id": "https://x/{course}/{{literal}}",
                "definition": {"extensions": {"https://x/attempt": "{attempt:integer}"}},
            },
            "result": {"completion": "{done:boolean}", "response": "attempt {attempt:integer}"},
        },
    }
    statement = map_one(
        {"email": "an@x.vn", "course": "c1", "attempt": "3.0", "done": "0"}, mapping
    )
    assert statement["object"]["id"] == "https://x/c1/{literal}"
    assert statement["object"]["definition"]["extensions"] == {"https://x/attempt": 3}
    assert statement["result"] == {"completion": False, "response": "attempt 3"}
    with pytest.raises(MappingError, match="column 'attempt': '2.5' is not an integer"):
        map_one({"email": "an@x.vn", "course": "c1", "attempt": "2.5", "done": "1"}, mapping)
    with pytest.raises(MappingError, match="column 'done': 'maybe' is not a boolean"):
        map_one({"email": "an@x.vn", "course": "c1", "attempt": "1", "done": "maybe"}, mapping)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-09-19", "2025-09-19T00:00:00.000Z"),
        ("2025-09-19T16:30:00Z", "2025-09-19T16:30:00.000Z"),
        ("2025-09-19 16:30:00.1234+07:00", "2025-09-19T09:30:00.123Z"),
        ("2025-09-19T16:30", "2025-09-19T16:30:00.000Z"),
    ],
)
def test_timestamps_are_normalised_to_rfc3339_utc(text: str, expected: str) -> None:
    assert to_timestamp(text) == expected


def test_timestamps_without_offset_read_in_the_mapping_timezone() -> None:
    assert to_timestamp("2025-09-19T16:30", zone("Asia/Ho_Chi_Minh")) == "2025-09-19T09:30:00.000Z"
    assert to_timestamp("2025-09-19T16:30", zone("+07:00")) == "2025-09-19T09:30:00.000Z"
    assert to_timestamp(1758270600) == "2025-09-19T08:30:00.000Z"  # a JSON number: epoch
    assert zone("UTC") is UTC
    with pytest.raises(ValueError, match="not an ISO 8601"):
        to_timestamp("19/09/2025")


def test_bad_rows_say_why() -> None:
    mapping = mapping_for(load_mapping(MAPPING))
    with pytest.raises(MappingError, match="column 'score': 'tám' is not a number"):
        mapping(row(score="tám"))
    with pytest.raises(MappingError, match="column 'date': '1/05/2023' is not an ISO 8601"):
        mapping(row(date="1/05/2023"))
    with pytest.raises(MappingError, match="missing column 'student'"):
        mapping({k: v for k, v in row().items() if k != "student"})
    with pytest.raises(MappingError, match=r"invalid statement \(actor.account.name\)"):
        mapping(row(student=""))  # the whole account name went: the actor is not valid
    with pytest.raises(MappingError, match="the record id is empty"):
        mapping(row(row_id=""))
    with pytest.raises(MappingError, match="not JSON"):
        mapping(BadRecord("not JSON: unexpected character"))
    with pytest.raises(MappingError, match="finite"):
        mapping(row(score="nan"))


def test_json_lines_read_nested_fields_and_json_types() -> None:
    mapping = {
        "source": "quiz-app",
        "statement": {
            "actor": {"account": {"homePage": SIS, "name": "{user.id}"}},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
            "object": {"id": "https://quiz/{quiz}"},
            "result": {"score": {"scaled": "{score:number}"}, "success": "{ok:boolean}"},
            "timestamp": "{at:timestamp}",
        },
    }
    record = {"user": {"id": 42}, "quiz": "q1", "score": 0.9, "ok": True, "at": None}
    statement = map_one(record, mapping)
    assert statement["actor"]["account"]["name"] == "42"
    assert statement["result"] == {"score": {"scaled": 0.9}, "success": True}
    assert "timestamp" not in statement  # null is empty
    # no id template: the record id is a hash of the whole record, the same every run
    assert statement["id"] == map_one(dict(record), mapping)["id"]
    assert statement["id"] != map_one({**record, "quiz": "q2"}, mapping)["id"]


def test_several_statements_per_row_get_their_own_ids() -> None:
    template = MAPPING["statement"]
    mapping = {"source": "s", "id": "{row_id}", "statements": [template, template]}
    first, second = mapping_for(load_mapping(mapping))(row())
    assert first["id"] == statement_id("s", "17", 0)
    assert second["id"] == statement_id("s", "17", 1)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"source": "s"}, "is not valid under any of the given schemas"),
        ({"statement": MAPPING["statement"]}, "'source' is a required property"),
        ({**MAPPING, "statement": {**MAPPING["statement"], "id": "{x}"}}, "statement/id"),
        ({**MAPPING, "sauce": 1}, "Additional properties"),
        (
            {**MAPPING, "statement": {**MAPPING["statement"], "timestamp": "{date:datetime}"}},
            "unknown type 'datetime'",
        ),
        ({**MAPPING, "id": "{row_id"}, "unbalanced brace"),
        ({**MAPPING, "timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_a_wrong_mapping_file_is_refused_with_the_reason(mapping: Any, message: str) -> None:
    with pytest.raises(MappingFileError, match=message):
        load_mapping(mapping)


# --- whole runs ----------------------------------------------------------------------------

GRADEBOOK = """row_id,Student , verb,activity,score,passed,date
1,hs-001,scored,quiz-1,8.5,yes,2025-09-19
2,hs-002,scored,quiz-1,,,2025-09-19T16:30:00+07:00
3,hs-003,scored,quiz-1,tám,no,2025-09-19
4,hs-004,scored,quiz-1,5,no,1/05/2023

5,,scored,quiz-1,5,no,2025-09-19
6,hs-006,scored,quiz-1,7,yes,2025-09-19,extra
7,hs-007,"scored",quiz-1,"9",yes,"2025-09-20"
"""


def connect(data: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    return subprocess.run(
        [sys.executable, "-m", "lrs.cli", "connect", source, "--data", str(data), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def count_stored(data: Path) -> int:
    store = open_store(load_settings(data=str(data)).store_url)
    try:
        return len(store.query_statements(StatementQuery(limit=1000)).statements)
    finally:
        store.close()


def test_csv_run_reports_bad_rows_by_line_and_stores_the_rest_once(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_bytes(orjson.dumps(MAPPING))
    sheet = tmp_path / "gradebook.csv"
    sheet.write_text(GRADEBOOK, encoding="utf-8")
    data = tmp_path / "data"
    done = connect(data, "csv", "--mapping", str(mapping), "--input", str(sheet))
    assert done.returncode == 3, done.stderr
    err = done.stderr
    assert "refused gradebook.csv line 4: column 'score': 'tám' is not a number" in err
    assert "refused gradebook.csv line 5: column 'date': '1/05/2023' is not an ISO 8601" in err
    assert "refused gradebook.csv line 7: invalid statement (actor.account.name)" in err
    assert "refused gradebook.csv line 8: 8 fields where the header has 7" in err
    assert err.splitlines()[-2:] == [
        "checkpoint 8", "read 7, stored 3, already stored 0, unmapped 0, refused 4"
    ]
    assert count_stored(data) == 3

    # from the checkpoint: nothing new; from the start: the same ids, nothing stored twice
    again = connect(data, "csv", "--mapping", str(mapping), "--input", str(sheet))
    assert again.stderr.splitlines()[-1].startswith("read 0, stored 0,") and again.returncode == 0
    fresh = connect(
        data, "csv", "--mapping", str(mapping), "--input", str(sheet), "--no-checkpoint"
    )
    assert fresh.returncode == 3
    assert count_stored(data) == 3

    # a new row at the end: only that one is read
    with sheet.open("a", encoding="utf-8") as handle:
        handle.write("8,hs-008,scored,quiz-2,10,yes,2025-09-21\n")
    more = connect(data, "csv", "--mapping", str(mapping), "--input", str(sheet))
    assert more.returncode == 0, more.stderr
    assert more.stderr.splitlines()[-2:] == [
        "checkpoint 9", "read 1, stored 1, already stored 0, unmapped 0, refused 0"
    ]
    assert count_stored(data) == 4


def test_csv_header_without_a_mapped_column_stops_before_reading(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_bytes(orjson.dumps(MAPPING))
    sheet = tmp_path / "gradebook.csv"
    sheet.write_text("row_id,studnet,verb,activity,score,passed,date\n", encoding="utf-8")
    done = connect(tmp_path / "data", "csv", "--mapping", str(mapping), "--input", str(sheet))
    assert done.returncode == 1
    assert "gradebook.csv: no column 'student' (did you mean 'studnet'?)" in done.stderr


def test_jsonl_run_with_byte_offset_checkpoint(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.json"
    mapping.write_bytes(
        orjson.dumps(
            {
                "source": "quiz-app",
                "id": "{event_id}",
                "statement": {
                    "actor": {"account": {"homePage": SIS, "name": "{user.id}"}},
                    "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
                    "object": {"id": "https://quiz/{quiz}"},
                    "result": {"score": {"scaled": "{score:number}"}},
                    "timestamp": "{at:timestamp}",
                },
            }
        )
    )
    events = tmp_path / "events.jsonl"
    lines = [
        {"event_id": "e1", "user": {"id": "u1"}, "quiz": "q1", "score": 0.5, "at": "2025-09-19"},
        {"event_id": "e2", "user": {"id": "u2"}, "quiz": "q1", "score": "much", "at": None},
    ]
    events.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines) + b"{not json\n")
    data = tmp_path / "data"
    done = connect(data, "jsonl", "--mapping", str(mapping), "--input", str(events))
    assert done.returncode == 3
    assert "refused events.jsonl line 2: column 'score': 'much' is not a number" in done.stderr
    assert "refused events.jsonl line 3: not JSON" in done.stderr
    size = events.stat().st_size
    assert done.stderr.splitlines()[-2:] == [
        f"checkpoint {size}", "read 3, stored 1, already stored 0, unmapped 0, refused 2"
    ]

    with events.open("ab") as handle:
        handle.write(orjson.dumps({**lines[0], "event_id": "e3", "quiz": "q2"}) + b"\n")
    more = connect(data, "jsonl", "--mapping", str(mapping), "--input", str(events))
    assert more.returncode == 0, more.stderr
    assert more.stderr.splitlines()[-1].startswith("read 1, stored 1,")
    assert count_stored(data) == 2
