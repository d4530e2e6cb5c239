"""The Moodle connector on a CSV export of logstore_standard_log: no database to look up, so
events are mapped from the row alone where they can be and refused with a reason where not."""

from __future__ import annotations

import csv
from pathlib import Path

from connectors.base import Checkpoints, run
from connectors.moodle import mapping_for
from connectors.moodle.mapping import Config
from connectors.moodle.readers import CSVReader, RowOnlyLookup
from tests.connectors.memory import ListSink

APP = "http://www.example.org"
COLUMNS = ["id", "eventname", "component", "objectid", "contextinstanceid", "userid",
           "courseid", "relateduserid", "timecreated", "other"]


def _export(path: Path) -> Path:
    rows = [
        [1, "\\core\\event\\course_viewed", "core", 2, 2, 5, 2, "", 1433946701, "N;"],
        [2, "\\core\\event\\user_loggedin", "core", 5, 1, 5, 0, "", 1433946702, "[]"],
        [3, "\\mod_quiz\\event\\course_module_viewed", "mod_quiz", 1, 9, 5, 2, "", 1433946703, ""],
        [4, "\\core\\event\\user_enrolment_created", "core", 3, 1, 1, 2, 5, 1433946704,
         '{"enrol":"manual"}'],
    ]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def test_csv_maps_what_the_row_allows_and_resumes_by_log_id(tmp_path: Path) -> None:
    path = _export(tmp_path / "log.csv")
    reader = CSVReader(path, f"moodle:{APP}")
    mapping = mapping_for(RowOnlyLookup(), Config(app_url=APP, send_name=False))
    sink = ListSink()
    checkpoints = Checkpoints(tmp_path / "checkpoints.json")
    summary = run(reader, mapping, sink, checkpoints=checkpoints)
    assert summary.read == 4
    assert [s["verb"]["id"].rsplit("/", 1)[-1] for s in sink.statements] == [
        "viewed", "login", "enrolled",
    ]
    viewed = sink.statements[0]
    assert viewed["actor"] == {"account": {"homePage": APP, "name": "5"}}
    assert viewed["object"]["id"] == f"{APP}/course/view.php?id=2"
    assert viewed["timestamp"] == "2015-06-10T14:31:41.000Z"
    assert sink.statements[2]["context"]["instructor"] == {"account": {"homePage": APP, "name": "1"}}
    [skipped] = summary.skipped
    assert skipped.label == "log.csv line 4 (log id 3)"
    assert "course_modules" in skipped.reason and "--dsn" in skipped.reason
    assert checkpoints.get(reader.name) == "4"
    again = run(CSVReader(path, reader.name), mapping, ListSink(), checkpoints=checkpoints)
    assert again.read == 0
