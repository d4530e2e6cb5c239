"""/metrics (issue 17, point 4): statements stored per organisation, latency per route,
projection backlog and lag, connector runs; the figures come from one `collect`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.api.metrics import RATE_WINDOW, Metrics, collect
from lrs.auth import create_credential
from tests.conftest import APIClient, basic_auth

ROOT = Path(__file__).resolve().parents[2]


def statement() -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:an@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.org/course/1"},
    }


def figure(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = r"(?m)^" + re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(pattern, text)
    assert found, f"{name} {labels} not in:\n{text}"
    return float(found.group(1))


def test_metrics_count_per_organisation_route_and_projection(api: APIClient, tmp_path: Path) -> None:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    school = create_credential(store, "school", ["statements/write"], org="school-1")
    for _ in range(3):
        assert api.http.post("/xapi/statements", json=statement()).status_code == 200
    school_auth = {"Authorization": basic_auth(school.credential.key, school.secret)}
    response = api.http.post("/xapi/statements", json=[statement(), statement()], headers=school_auth)
    assert response.status_code == 200
    assert api.http.get("/nothing/here").status_code == 404

    text = api.http.get("/metrics").text
    assert figure(text, "lrs_statements_stored_total", org="default") == 3
    assert figure(text, "lrs_statements_stored_total", org="school-1") == 2
    assert figure(text, "lrs_ingest_statements_per_second") > 0  # 5 within the last minute
    posts = figure(text, "lrs_http_request_duration_seconds_count", method="POST", route="/xapi/statements")
    assert posts == 4
    assert figure(text, "lrs_http_request_duration_seconds_count", method="GET", route="unmatched") == 1
    assert 'le="+Inf"' in text
    # no processors ran (the test client has no lifespan): all five statements are pending
    for reducer in reducers(store):
        assert figure(text, "lrs_projection_backlog", projection=reducer.name) == 5
        assert figure(text, "lrs_projection_lag_seconds", projection=reducer.name) >= 0
    catch_up(store, reducers(store))
    after = api.http.get("/metrics").text
    for reducer in reducers(store):
        assert figure(after, "lrs_projection_backlog", projection=reducer.name) == 0
        assert figure(after, "lrs_projection_lag_seconds", projection=reducer.name) == 0
    assert "lrs_outbox_backlog" not in after  # embedded: no bus, no outbox


def test_connector_runs_into_the_store_are_counted(api: APIClient, tmp_path: Path) -> None:
    lines = tmp_path / "in.jsonl"
    lines.write_text(
        '{"actor": {"mbox": "mailto:a@example.org"}, "verb": {"id": "http://x.org/v"},'
        ' "object": {"id": "http://x.org/o"}}\n{"not": "a statement"}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "lrs.cli", "connect", "xapi", "--data", str(tmp_path),
         "--input", str(lines)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 3, done.stderr  # one record refused
    text = api.http.get("/metrics").text
    source = re.search(r'lrs_connector_runs_total\{source="([^"]+)",outcome="refused"\} 1', text)
    assert source, text
    assert figure(text, "lrs_connector_runs_total", source=source.group(1), outcome="ok") == 0
    assert f'lrs_connector_last_run_timestamp_seconds{{source="{source.group(1)}"}}' in text


def test_collect_gives_the_same_figures_as_plain_data(api: APIClient) -> None:
    app = api.http.app
    assert api.http.post("/xapi/statements", json=statement()).status_code == 200
    store = app.state.store  # type: ignore[attr-defined]
    figures = collect(app.state.metrics, store, reducers(store), bus=False)  # type: ignore[attr-defined]
    assert figures.stored == {"default": 1}
    assert figures.projections is not None and all(p.backlog == 1 for p in figures.projections)
    assert figures.outbox_backlog is None and figures.dead_letters is None


def test_the_ingest_rate_counts_the_last_minute_only() -> None:
    """Pure: what count_stored saw within RATE_WINDOW, per second, from the process start."""
    metrics = Metrics()
    metrics.started = 1_000.0
    metrics.recent.extend([(1_005.0, 30), (1_010.0, 90)])  # as count_stored records them
    assert metrics.ingest_rate(1_020.0) == 120 / 20  # 20 s since start: over those 20 s
    assert metrics.ingest_rate(1_000.0 + RATE_WINDOW + 7.0) == 90 / RATE_WINDOW  # 30 fell out
    metrics.count_stored(60)  # now: inside any window
    assert sum(count for _, count in metrics.recent) == 60  # the old ones were dropped


def test_a_run_to_another_lrs_is_counted_in_the_local_store(api: APIClient, tmp_path: Path) -> None:
    """`lrs connect --to URL`: the statements go to the other LRS; the run is counted where
    this machine's operator looks, the local store (here the API's), when there is one."""
    from tests.processes import LRSProcess

    other = LRSProcess("other", tmp_path, {"data": str(tmp_path / "other")})
    key, secret = other.credential()
    lines = tmp_path / "in.jsonl"
    lines.write_text(json.dumps(statement()) + "\n")
    try:
        other.serve()
        done = subprocess.run(
            [sys.executable, "-m", "lrs.cli", "connect", "xapi", "--data", str(tmp_path),
             "--input", str(lines), "--to", other.url + "/xapi", "--key", key, "--secret", secret,
             "--no-checkpoint"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert "counted in the local store" in done.stderr
        nowhere = tmp_path / "no-store"
        done = subprocess.run(
            [sys.executable, "-m", "lrs.cli", "connect", "xapi", "--data", str(nowhere),
             "--input", str(lines), "--to", other.url + "/xapi", "--key", key, "--secret", secret,
             "--no-checkpoint"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert "counted in no LRS's /metrics" in done.stderr
        assert not (nowhere / "lrs.db").exists()  # no store is made for a count
    finally:
        other.stop()
    text = api.http.get("/metrics").text
    source = re.search(r'lrs_connector_runs_total\{source="([^"]+)",outcome="ok"\} 1', text)
    assert source, text
    assert "lrs_statements_stored_total{" not in text  # the statement went to the other LRS
