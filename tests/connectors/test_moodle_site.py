"""The Moodle connector on a Moodle site's database: tables built from Moodle's own table
definitions (moodle_schema.py, data/moodle_tables.xml), on MariaDB and on PostgreSQL.

The site: a Vietnamese school (site language vi, names in Vietnamese order), one course with
one quiz graded out of 10 (2 marks in all, grade to pass 6), one true/false question whose
answers Moodle stored in Vietnamese ("Đúng"/"Sai"). Three weeks of log rows: An attempts the
quiz twice (5/10, then 7.5/10), Bình once (2.5/10); An views his second attempt in log row 9,
whose id is also Bình's attempt's id; a deleted user views the course; an administrator,
logged in as An, views the quiz; an event no mapping covers; and row 12, which commits after
rows 13 and 14 were read.

Every expected value below is worked out by hand from those rows (statement ids are the
UUID v5 of "moodle:" + site URL, log id and index, written out).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Checkpoints, run
from connectors.moodle import Config, mapping_for
from connectors.moodle.mapping import INFO, LOGGED_IN_AS
from connectors.moodle.readers import DatabaseReader, SQLLookup, connect
from tests.connectors import moodle_schema
from tests.connectors.memory import ListSink

# Every test needs a database server (asked for by name in a parametrised fixture, which
# conftest's automatic marking cannot see): `./scripts/test --no-servers` leaves them out.
pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[2]
APP = "https://truong.example.edu.vn"
T0 = 1733040000  # 2024-12-01T08:00:00Z
DAY = 86400
Q = "\\mod_quiz\\event\\"

SITE = {
    "objectType": "Activity",
    "id": APP,
    "definition": {"type": "http://id.tincanapi.com/activitytype/lms",
                   "name": {"en": "Trường THPT Ví Dụ"}},
}
COURSE = {
    "objectType": "Activity",
    "id": f"{APP}/course/view.php?id=2",
    "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course",
                   "name": {"vi": "Tin học 10"}},
}
SECTION = {
    "objectType": "Activity",
    "id": f"{APP}/course/section.php?id=21",
    "definition": {"type": "http://id.tincanapi.com/activitytype/section",
                   "name": {"vi": "Tin học 10 Section 1"}},
}
QUIZ = {
    "objectType": "Activity",
    "id": f"{APP}/mod/quiz/view.php?id=11",
    "definition": {"type": "http://adlnet.gov/expapi/activities/assessment",
                   "name": {"vi": "Kiểm tra 15 phút"}},
}


def attempt(number: int) -> dict[str, Any]:
    return {
        "objectType": "Activity",
        "id": f"{APP}/mod/quiz/attempt.php?attempt={number}&cmid=11",
        "definition": {"type": "http://adlnet.gov/expapi/activities/attempt",
                       "name": {"en": f"Kiểm tra 15 phút Attempt {number}"}},
    }


AN = {"name": "Nguyễn Văn An", "account": {"homePage": APP, "name": "3"}}
BINH = {"name": "Trần Thị Bình", "account": {"homePage": APP, "name": "4"}}
ADMIN = {"name": "Phạm Hùng", "account": {"homePage": APP, "name": "2"}}
QUESTION = {
    "objectType": "Activity",
    "id": f"{APP}/question/question.php?cmid=11&id=31",
    "definition": {
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "name": {"vi": "Câu 1"},
        "description": {"vi": "Hà Nội là thủ đô của Việt Nam."},
        "interactionType": "true-false",
        "correctResponsesPattern": ["true"],
    },
}
TF_RESPONSE = "http://learninglocker.net/xapi/cmi/true-false/response"


def info(event: str, function: str) -> dict[str, Any]:
    return {INFO: {"event_name": event,
                   "event_function": "\\src\\transformer\\events\\" + function}}


def completed(sid: str, actor: dict, number: int, when: str, result: dict) -> dict[str, Any]:
    return {
        "id": sid,
        "actor": actor,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "Completed"}},
        "object": attempt(number),
        "context": {
            "platform": "Moodle",
            "language": "vi",
            "extensions": info(Q + "attempt_submitted", "mod_quiz\\attempt_submitted\\handler"),
            "contextActivities": {"parent": [QUIZ, SECTION, COURSE], "category": [SITE]},
        },
        "timestamp": when,
        "result": result,
    }


def answered(sid: str, actor: dict, number: int, when: str, result: dict) -> dict[str, Any]:
    return {
        "id": sid,
        "actor": actor,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en": "Answered"}},
        "object": QUESTION,
        "context": {
            "platform": "Moodle",
            "language": "vi",
            "extensions": info(Q + "attempt_submitted", "mod_quiz\\attempt_submitted\\handler"),
            "contextActivities": {
                "parent": [attempt(number), QUIZ, SECTION, COURSE], "category": [SITE],
            },
        },
        "timestamp": when,
        "result": result,
    }


# --- the site ---------------------------------------------------------------------------

USERS = [
    {"id": 2, "username": "admin", "firstname": "Hùng", "lastname": "Phạm",
     "email": "admin@example.edu.vn"},
    {"id": 3, "username": "an.nguyen", "firstname": "Văn An", "lastname": "Nguyễn",
     "email": "an.nguyen@example.edu.vn"},
    {"id": 4, "username": "binh.tran", "firstname": "Thị Bình", "lastname": "Trần",
     "email": "binh.tran@example.edu.vn"},
    # Moodle's delete_user keeps the names and scrambles username and email.
    {"id": 5, "username": "minh.le@example.edu.vn.1733900000", "firstname": "Minh",
     "lastname": "Lê", "email": "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "deleted": 1},
]
ROWS: dict[str, list[dict[str, Any]]] = {
    "config": [
        {"id": 1, "name": "lang", "value": "vi"},
        {"id": 2, "name": "fullnamedisplay", "value": "language"},
    ],
    "user": USERS,
    "course": [
        {"id": 1, "fullname": "Trường THPT Ví Dụ", "shortname": "truong", "lang": ""},
        {"id": 2, "fullname": "Tin học 10", "shortname": "tin10", "lang": "vi"},
    ],
    "modules": [{"id": 5, "name": "quiz"}],
    "course_sections": [{"id": 21, "course": 2, "section": 1}],
    "course_modules": [{"id": 11, "course": 2, "module": 5, "instance": 1, "section": 21}],
    "quiz": [{"id": 1, "course": 2, "name": "Kiểm tra 15 phút", "sumgrades": "2.00000",
              "grade": "10.00000"}],
    "grade_items": [{"id": 61, "courseid": 2, "itemtype": "mod", "itemmodule": "quiz",
                     "iteminstance": 1, "itemnumber": 0, "grademax": "10.00000",
                     "grademin": "0.00000", "gradepass": "6.00000"}],
    # The learners' current quiz grades (highest attempt): what the plugin reports for every
    # attempt.
    "grade_grades": [
        {"id": 71, "itemid": 61, "userid": 3, "rawgrade": "7.50000", "finalgrade": "7.50000"},
        {"id": 72, "itemid": 61, "userid": 4, "rawgrade": "2.50000", "finalgrade": "2.50000"},
    ],
    "quiz_attempts": [
        {"id": 7, "quiz": 1, "userid": 3, "attempt": 1, "uniqueid": 101, "state": "finished",
         "timestart": T0 + 60, "timefinish": T0 + 660, "sumgrades": "1.00000"},
        {"id": 8, "quiz": 1, "userid": 3, "attempt": 2, "uniqueid": 102, "state": "finished",
         "timestart": T0 + 14 * DAY, "timefinish": T0 + 14 * DAY + 480, "sumgrades": "1.50000"},
        {"id": 9, "quiz": 1, "userid": 4, "attempt": 1, "uniqueid": 103, "state": "finished",
         "timestart": T0 + 7 * DAY, "timefinish": T0 + 7 * DAY + 300, "sumgrades": "0.50000"},
    ],
    "question": [{"id": 31, "name": "Câu 1", "qtype": "truefalse",
                  "questiontext": "<p>Hà Nội là thủ đô của Việt Nam.</p>"}],
    # A Vietnamese site stores the true/false answers in Vietnamese.
    "question_answers": [
        {"id": 41, "question": 31, "answer": "Đúng", "fraction": "1.0000000"},
        {"id": 42, "question": 31, "answer": "Sai", "fraction": "0.0000000"},
    ],
    "question_truefalse": [{"id": 1, "question": 31, "trueanswer": 41, "falseanswer": 42}],
    "question_attempts": [
        {"id": 201, "questionusageid": 101, "slot": 1, "behaviour": "deferredfeedback",
         "questionid": 31, "maxmark": "1.0000000", "minfraction": "0.0000000",
         "responsesummary": "Sai", "rightanswer": "Đúng", "timemodified": T0 + 660},
        {"id": 202, "questionusageid": 102, "slot": 1, "behaviour": "deferredfeedback",
         "questionid": 31, "maxmark": "1.0000000", "minfraction": "0.0000000",
         "responsesummary": "Đúng", "rightanswer": "Đúng", "timemodified": T0 + 14 * DAY},
        {"id": 203, "questionusageid": 103, "slot": 1, "behaviour": "deferredfeedback",
         "questionid": 31, "maxmark": "1.0000000", "minfraction": "0.0000000",
         "responsesummary": "Đúng", "rightanswer": "Đúng", "timemodified": T0 + 7 * DAY},
    ],
}


def log(id: int, eventname: str, userid: int, when: int, **more: Any) -> dict[str, Any]:
    component = eventname.split("\\")[1]
    return {
        "id": id, "eventname": eventname, "component": component, "action": "x", "target": "x",
        "crud": "r", "edulevel": 2, "contextid": 1, "contextlevel": 70, "contextinstanceid": 0,
        "userid": userid, "anonymous": 0, "timecreated": when, "origin": "web", **more,
    }


QUIZ_ROW = {"courseid": 2, "contextinstanceid": 11, "objecttable": "quiz_attempts"}
LOG = [
    log(1, "\\core\\event\\user_loggedin", 3, T0, objectid=3, courseid=0),
    log(2, Q + "attempt_started", 3, T0 + 60, relateduserid=3, objectid=7, **QUIZ_ROW),
    log(3, Q + "attempt_viewed", 3, T0 + 120, relateduserid=3, objectid=7, **QUIZ_ROW),
    log(4, Q + "attempt_submitted", 3, T0 + 660, relateduserid=3, objectid=7, **QUIZ_ROW),
    log(5, "\\core\\event\\course_viewed", 5, T0 + DAY, courseid=2, contextinstanceid=2),
    log(6, Q + "attempt_started", 4, T0 + 7 * DAY, relateduserid=4, objectid=9, **QUIZ_ROW),
    log(7, Q + "attempt_submitted", 4, T0 + 7 * DAY + 300, relateduserid=4, objectid=9,
        **QUIZ_ROW),
    log(8, Q + "attempt_started", 3, T0 + 14 * DAY, relateduserid=3, objectid=8, **QUIZ_ROW),
    log(9, Q + "attempt_viewed", 3, T0 + 14 * DAY + 60, relateduserid=3, objectid=8,
        **QUIZ_ROW),
    log(10, Q + "attempt_submitted", 3, T0 + 14 * DAY + 480, relateduserid=3, objectid=8,
        **QUIZ_ROW),
    log(11, Q + "course_module_viewed", 3, T0 + 15 * DAY, objectid=1, courseid=2,
        contextinstanceid=11, objecttable="quiz", realuserid=2),
    log(12, Q + "attempt_viewed", 4, T0 + 20 * DAY, relateduserid=4, objectid=9, **QUIZ_ROW),
    log(13, "\\core\\event\\dashboard_viewed", 4, T0 + 20 * DAY + 30, courseid=0),
    log(14, "\\core\\event\\user_loggedin", 4, T0 + 20 * DAY + 60, objectid=4, courseid=0),
]
LATE = 12  # committed after 13 and 14 were read


@pytest.fixture(params=["mysql", "postgresql"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(dsn, table prefix): the site without log row 12; dropped afterwards."""
    dsn = request.getfixturevalue(f"{request.param}_url")
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    connection, dialect = connect(dsn)
    created: list[str] = []
    try:
        with connection.cursor() as cursor:
            created = moodle_schema.create(cursor, dialect, prefix)
            for table, rows in ROWS.items():
                for row in rows:
                    moodle_schema.insert(cursor, prefix, table, row)
            for row in LOG:
                if row["id"] != LATE:
                    moodle_schema.insert(cursor, prefix, "logstore_standard_log", row)
        yield dsn, prefix
    finally:
        with connection.cursor() as cursor:
            for table in created:
                cursor.execute(f"DROP TABLE {prefix}{table}")
        connection.close()


def commit_late_row(dsn: str, prefix: str) -> None:
    connection, _ = connect(dsn)
    with connection.cursor() as cursor:
        moodle_schema.insert(cursor, prefix, "logstore_standard_log", LOG[LATE - 1])
    connection.close()


def replay(dsn: str, prefix: str, **settings: Any) -> tuple[Any, ListSink]:
    connection, _ = connect(dsn)
    try:
        reader = DatabaseReader(connection, f"moodle:{APP}", prefix)
        mapping = mapping_for(SQLLookup(connection, prefix), Config(app_url=APP, **settings))
        sink = ListSink()
        return run(reader, mapping, sink), sink
    finally:
        connection.close()


def by_id(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in statements}


def test_each_attempt_its_own_result_in_the_sites_language(site: tuple[str, str]) -> None:
    summary, sink = replay(*site)
    got = by_id(sink.statements)
    # An's first attempt: 1 of 2 marks = 5/10, below the grade to pass (6), 10 minutes.
    assert got["2158ae26-d6a6-532c-bf48-040084ae140d"] == completed(
        "2158ae26-d6a6-532c-bf48-040084ae140d", AN, 7, "2024-12-01T08:11:00.000Z",
        {"completion": True, "score": {"raw": 5.0, "min": 0.0, "max": 10.0, "scaled": 0.5},
         "success": False, "duration": "PT600S"},
    )
    # ... where he answered "Sai" (false) to a true statement.
    assert got["ae3bab47-438a-57f6-9224-ad2b28a931af"] == answered(
        "ae3bab47-438a-57f6-9224-ad2b28a931af", AN, 7, "2024-12-01T08:11:00.000Z",
        {"response": "false", "completion": True, "success": False,
         "extensions": {TF_RESPONSE: False}},
    )
    # His second attempt: 1.5 of 2 = 7.5/10, passed, 8 minutes; answered "Đúng" (true).
    assert got["76a9d0a0-b259-5bce-837b-c0048c56e6d2"] == completed(
        "76a9d0a0-b259-5bce-837b-c0048c56e6d2", AN, 8, "2024-12-15T08:08:00.000Z",
        {"completion": True, "score": {"raw": 7.5, "min": 0.0, "max": 10.0, "scaled": 0.75},
         "success": True, "duration": "PT480S"},
    )
    assert got["29b86e37-d3e4-5c86-bf62-de57a086963c"] == answered(
        "29b86e37-d3e4-5c86-bf62-de57a086963c", AN, 8, "2024-12-15T08:08:00.000Z",
        {"response": "true", "completion": True, "success": True,
         "extensions": {TF_RESPONSE: True}},
    )
    # Bình's only attempt: 0.5 of 2 = 2.5/10, failed, 5 minutes.
    binh = [s for s in sink.statements if s["actor"] == BINH and s["verb"]["id"].endswith("completed")]
    assert [s["result"] for s in binh] == [
        {"completion": True, "score": {"raw": 2.5, "min": 0.0, "max": 10.0, "scaled": 0.25},
         "success": False, "duration": "PT300S"},
    ]
    # Log row 9 (id 9 = Bình's attempt): An viewing his own attempt 8.
    viewed = got["760b278f-5489-5d9d-995c-2d88b220a138"]
    assert (viewed["actor"], viewed["object"]) == (AN, attempt(8))
    assert summary.skipped == []


def test_plugin_compatible_mode_reproduces_the_plugin_and_refuses_another_learners_attempt(
    site: tuple[str, str],
) -> None:
    summary, sink = replay(*site, plugin_compatible=True)
    got = by_id(sink.statements)
    # The plugin's result for An's first attempt: his current grade (7.5), passed, scaled in
    # [-1, 1] ((7.5 - 0) / 10 * 2 - 1 = 0.5), named firstname + lastname.
    first = got["2158ae26-d6a6-532c-bf48-040084ae140d"]
    assert first["actor"] == {"name": "Văn An Nguyễn", "account": {"homePage": APP, "name": "3"}}
    assert first["result"] == {
        "score": {"raw": 7.5, "min": 0.0, "max": 10.0, "scaled": 0.5},
        "completion": True, "success": True, "duration": "PT600S",
    }
    # attempt_viewed by log id: row 3 names attempt 3 (none), row 9 Bình's attempt 9.
    assert [(s.label, s.reason) for s in summary.skipped] == [
        ("log id 3", "quiz_attempts not found: {'id': 3}"),
        ("log id 9", "quiz attempt 9 belongs to user 4, not to user 3 whom the event names"),
    ]
    assert "760b278f-5489-5d9d-995c-2d88b220a138" not in got


def test_deleted_users_and_logged_in_as_rows(site: tuple[str, str]) -> None:
    summary, sink = replay(*site)
    assert [(s.label, s.reason) for s in summary.excluded] == [
        ("log id 5", "user 5 is deleted"),
        ("log id 11", "done by user 2 logged in as user 3"),
    ]
    assert "Minh" not in json.dumps(sink.statements, ensure_ascii=False)

    summary, sink = replay(*site, deleted_users="erase", logged_in_as="mark")
    assert summary.excluded == []
    [viewed_course] = [s for s in sink.statements if s["object"] == COURSE]
    assert viewed_course["actor"] == {"account": {"homePage": APP, "name": "5"}}
    [quiz_view] = [s for s in sink.statements if s["object"] == QUIZ]
    assert quiz_view["actor"] == AN
    assert quiz_view["context"]["extensions"][LOGGED_IN_AS] == ADMIN


def test_identity_flags_match_the_plugins_settings(site: tuple[str, str]) -> None:
    _, by_username = replay(*site, send_username=True)
    _, by_mbox = replay(*site, send_mbox=True)
    assert by_username.statements[0]["actor"] == {
        "name": "Nguyễn Văn An", "account": {"homePage": APP, "name": "an.nguyen"},
    }
    assert by_mbox.statements[0]["actor"] == {
        "name": "Nguyễn Văn An", "mbox": "mailto:an.nguyen@example.edu.vn",
    }


def _connect(data: Path, dsn: str, prefix: str, *more: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LRS_")}
    return subprocess.run(
        [sys.executable, "-m", "lrs.cli", "connect", "moodle", "--data", str(data), "--dsn", dsn,
         "--prefix", prefix, "--app-url", APP, *more],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_a_late_committed_row_is_read_on_the_next_run(site: tuple[str, str], tmp_path: Path) -> None:
    dsn, prefix = site
    first = _connect(tmp_path, dsn, prefix)
    assert first.returncode == 0, first.stderr
    # 13 rows: 13 statements; the dashboard view unmapped; rows 5 and 11 excluded.
    assert first.stderr.splitlines()[-1] == (
        "read 13, stored 13, already stored 0, unmapped 1, refused 0"
    )
    assert "\\core\\event\\dashboard_viewed" in first.stderr
    assert Checkpoints(tmp_path / "checkpoints.json").get(f"moodle:{APP}") == "14"
    [report] = (tmp_path / "reports").iterdir()
    assert [json.loads(line)["record"] for line in report.read_text().splitlines()] == [
        "log id 5", "log id 11",
    ]

    commit_late_row(dsn, prefix)
    second = _connect(tmp_path, dsn, prefix)
    # Rows 12, 13 and 14 are within 600 s of row 14: row 12 is new, 14 was stored.
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines()[-1] == (
        "read 3, stored 1, already stored 1, unmapped 1, refused 0"
    )


def test_since_narrows_the_read_and_dry_run_refuses_as_a_run_would(
    site: tuple[str, str], tmp_path: Path
) -> None:
    dsn, prefix = site
    # From day 14 on: rows 8-11, 13, 14 (row 11 excluded, 13 unmapped).
    result = _connect(tmp_path, dsn, prefix, "--since", "2024-12-15T00:00:00Z", "--dry-run",
                      "--plugin-compatible")
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["id"] for s in printed] == [
        "10d13829-7401-52ae-a7d6-ca1153eb07d8",  # 8 started
        "76a9d0a0-b259-5bce-837b-c0048c56e6d2",  # 10 completed
        "29b86e37-d3e4-5c86-bf62-de57a086963c",  # 10 answered
        "c4c8e709-3a9f-527a-94c5-abd8bfd421b9",  # 14 logged in
    ]
    # Row 9 is refused in plugin-compatible mode (another learner's attempt): exit 3.
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "read 6, stored 4, already stored 0, unmapped 1, refused 1 (a dry run: nothing stored)"
    )


def test_the_options_reach_the_mapping(site: tuple[str, str], tmp_path: Path) -> None:
    dsn, prefix = site
    result = _connect(
        tmp_path, dsn, prefix, "--dry-run", "--send-username", "--name-format",
        "firstname lastname", "--deleted-users", "erase", "--logged-in-as", "mark",
    )
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert printed[0]["actor"] == {
        "name": "Văn An Nguyễn", "account": {"homePage": APP, "name": "an.nguyen"},
    }
    # the deleted user's course view, erased to the bare id; the logged-in-as quiz view, marked
    assert [s["actor"] for s in printed if s["object"] == COURSE] == [
        {"account": {"homePage": APP, "name": "5"}}
    ]
    [marked] = [s for s in printed if s["object"] == QUIZ]
    assert marked["context"]["extensions"][LOGGED_IN_AS] == {
        "name": "Hùng Phạm", "account": {"homePage": APP, "name": "admin"},
    }
    assert result.stderr.splitlines()[-1] == (
        "read 13, stored 15, already stored 0, unmapped 1, refused 0 (a dry run: nothing stored)"
    )
