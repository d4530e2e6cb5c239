"""Open edX mapping against event-routing-backends' own fixtures (input -> xapi-expected).

With the plugin's test deployment (LMS http://localhost:18000, every learner's anonymous id
32e08e30-..., every course named "Demonstration Course") the mapping must reproduce each
expected statement exactly, ids included. The comparison ignores only:
- the transformer-version context extension (it names the transformer, ours is not theirs);
- empty objects and nulls (tincan writes `"extensions": {}`, we leave them out);
and maps the plugin's three invalid-xAPI spellings to the valid ones we emit (documented in
connectors/openedx/mapping.py): `GroupActivity` -> `Activity`; a non-IRI exam attempt code
-> `<LMS>/attempt/<code>`; a score `max` of 0 -> no `max`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from connectors.base import MappingError, Unmapped, run
from connectors.openedx import mapping_for
from connectors.openedx.mapping import X_TRANSFORMER_VERSION, Deployment, _prune, map_event
from connectors.xapi_lines import LinesReader
from lrs.xapi.validation import validate_statement_batch
from tests.connectors.memory import ListSink

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO.parent / "shared" / "fixtures" / "openedx"
LMS = "http://localhost:18000"
ANONYMOUS_ID = "32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"
DEPLOYMENT = Deployment(LMS, lambda user: ANONYMOUS_ID, lambda course: "Demonstration Course")

if not FIXTURES.is_dir():  # pragma: no cover - the shared fixtures live beside the checkout
    pytest.skip("no shared Open edX fixtures", allow_module_level=True)

UNSUPPORTED = {
    # The plugin refuses this one too (its own test expects ValueError): no user to name.
    "edx.ui.lms.link_clicked(anonymous_user).json": "an anonymous visitor has no actor",
    # The plugin emits an Activity without an id here, which xAPI forbids: we skip it.
    "problem_check(browser).required.only.data.json": "no object id can be derived",
}
EXPECTED = sorted(p.name for p in (FIXTURES / "xapi-expected").glob("*.json"))


def _normalise(statement: dict[str, Any]) -> Any:
    statement = json.loads(json.dumps(statement))
    statement.get("context", {}).get("extensions", {}).pop(X_TRANSFORMER_VERSION, None)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("objectType") == "GroupActivity":
                value["objectType"] = "Activity"
            score = value.get("score")
            if isinstance(score, dict) and score.get("max") == 0:
                del score["max"]
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(statement)
    for activity in statement.get("context", {}).get("contextActivities", {}).get("grouping", []):
        if ":" not in activity["id"]:
            activity["id"] = f"{LMS}/attempt/{activity['id']}"
    return _prune(statement)


def _expected(name: str) -> list[dict[str, Any]]:
    value = json.loads((FIXTURES / "xapi-expected" / name).read_text())
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, raises=MappingError, reason=UNSUPPORTED[n]))
        if n in UNSUPPORTED
        else n
        for n in EXPECTED
    ],
)
def test_matches_event_routing_backends(name: str) -> None:
    event = json.loads((FIXTURES / "input" / name).read_text())
    statements = map_event(event, DEPLOYMENT)
    assert [_normalise(s) for s in statements] == [_normalise(s) for s in _expected(name)]
    # ids are the plugin's own (uuid5 over actor, timestamp and verb), not merely deterministic
    assert [s["id"] for s in statements] == [s["id"] for s in _expected(name)]
    validate_statement_batch(statements, "1.0.3")


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_events_are_refused_with_a_reason(name: str) -> None:
    event = json.loads((FIXTURES / "input" / name).read_text())
    with pytest.raises(MappingError):
        map_event(event, DEPLOYMENT)


@pytest.mark.parametrize(
    "name",
    sorted({p.name for p in (FIXTURES / "input").glob("*.json")} - set(EXPECTED)),
)
def test_inputs_without_expected_output_map_to_valid_xapi_or_are_refused(name: str) -> None:
    event = json.loads((FIXTURES / "input" / name).read_text())
    try:
        statements = map_event(event, DEPLOYMENT)
    except MappingError:
        return
    validate_statement_batch(statements, "1.0.3")


def test_unknown_event_names_are_unmapped_not_refused() -> None:
    event = {"name": "edx.instructor.report.requested", "timestamp": "2024-01-01T00:00:00Z"}
    with pytest.raises(Unmapped, match="edx.instructor.report.requested"):
        map_event(event, DEPLOYMENT)


def test_default_actor_is_the_user_id_and_course_name_is_left_out() -> None:
    event = json.loads((FIXTURES / "input" / "edx.grades.problem.submitted.json").read_text())
    [statement] = map_event(event, Deployment("https://lms.example.org"))
    assert statement["actor"]["account"] == {"homePage": "https://lms.example.org", "name": "3"}
    assert "name" not in statement["context"]["contextActivities"]["parent"][0]["definition"]


def test_tracking_log_prefixes_broken_lines_and_checkpoint(tmp_path: Path) -> None:
    log = FIXTURES / "tracking.log"
    mapping = mapping_for(LMS, {"6": ANONYMOUS_ID}, {})
    sink = ListSink()
    summary = run(LinesReader(log, "openedx:tracking.log"), mapping, sink)
    assert summary.read == 12
    # two lines are broken JSON; the rest are supported events or event names no profile covers
    assert [s.label for s in summary.skipped] == ["tracking.log line 3", "tracking.log line 11"]
    names = [s["verb"]["display"]["en"] for s in sink.statements]
    assert names == ["earned", "earned", "attempted", "attempted", "evaluated", "earned", "failed"]
    validate_statement_batch(sink.statements, "1.0.3")
    assert all(s["actor"]["account"]["name"] == ANONYMOUS_ID for s in sink.statements)
    # resuming from the end reads nothing; a second run gives the same ids
    assert list(LinesReader(log, "x").read(str(log.stat().st_size))) == []
    again = ListSink()
    run(LinesReader(log, "openedx:tracking.log"), mapping, again)
    assert [s["id"] for s in again.statements] == [s["id"] for s in sink.statements]


def test_cli_dry_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "lrs.cli", "connect", "openedx",
            "--input", str(FIXTURES / "tracking.log"), "--lms-url", LMS, "--dry-run",
            "--data", str(tmp_path),
        ],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    statements = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(statements) == 7, result.stderr
    assert result.returncode == 3  # two broken lines were refused
    assert result.stderr.splitlines()[-1] == (
        "read 12, stored 7, already stored 0, unmapped 3, refused 2 (a dry run: nothing stored)"
    )
    [report] = (tmp_path / "reports").iterdir()
    refused = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["record"] for r in refused] == ["tracking.log line 3", "tracking.log line 11"]
    assert all(r["outcome"] == "refused" and r["reason"] for r in refused)
    # per event name: read, stored, already, unmapped, excluded, refused
    rows = {line[:60].strip(): line[60:].split() for line in result.stderr.splitlines()[1:10]}
    assert rows["(unreadable line)"] == ["2", "0", "0", "0", "0", "2"]
    assert rows["problem_check"] == ["2", "2", "0", "0", "0", "0"]
    assert rows["edx.grades.subsection.grade_calculated"] == ["2", "2", "0", "0", "0", "0"]
    assert rows["problem_graded"] == ["1", "0", "0", "1", "0", "0"]


def test_a_refusing_destination_still_reports_what_was_read(tmp_path: Path) -> None:
    import http.server
    import threading

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b"no")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = subprocess.run(
            [
                sys.executable, "-m", "lrs.cli", "connect", "openedx",
                "--input", str(FIXTURES / "tracking.log"), "--lms-url", LMS,
                "--data", str(tmp_path), "--to", f"http://127.0.0.1:{server.server_port}/xapi",
                "--key", "k", "--secret", "s",
            ],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert "refused the batch (400)" in result.stderr
    assert "read 12, stored 0, already stored 0, unmapped 3, refused 2" in result.stderr
    [report] = (tmp_path / "reports").iterdir()
    assert len(report.read_text().splitlines()) == 2
