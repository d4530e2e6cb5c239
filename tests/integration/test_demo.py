"""`lrs demo` loads a province on which every status endpoint has something to show.

The expected counts follow from the table of classes in lrs/demo.py (sizes 14, 12, 14, 10
and 12; pupils in the first two) and the three communes of its five organisations.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from lrs.cli import demo_province
from lrs.cli import main as lrs_cli
from lrs.demo import SITE
from tests.conftest import APIClient

D757 = "vn-decision-757-2025"
CLASS = f"{SITE}/class/thpt-an-binh/10a1"


@pytest.fixture
def demo(api: APIClient) -> APIClient:
    summary = demo_province(api.http.app.state.store)  # type: ignore[attr-defined]
    assert summary.rejected == []
    assert (summary.organisations, summary.classes, summary.persons) == (5, 5, 62)
    return api


def get(api: APIClient, path: str, **params: str) -> Any:
    response = api.http.get(path, params=params)
    assert response.status_code == 200, (path, response.text)
    return response


def test_the_class_matrix_has_every_state(demo: APIClient) -> None:
    text = get(
        demo, f"/api/v1/groups/{quote(CLASS, safe='')}/competencies",
        framework="vn-circular-02-2025", format="csv",
    ).text  # fmt: skip
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 1 + 14 + 1  # header, the 14 pupils of 10A1, legend
    assert all(row[1] for row in rows[1:15])  # every pupil has a name (the roster's)
    cells = {cell for row in rows[1:15] for cell in row[2:26]}
    assert {"achieved:CB2", "not_started"} <= cells
    assert rows[15][0] == "legend"


def test_aggregates_by_target_group_and_commune(demo: APIClient) -> None:
    groups = get(demo, "/api/v1/aggregates/competencies", framework=D757, by="target_group")
    by_group = {g["value"]: g for g in groups.json()["groups"]}
    assert {k: g["persons"] for k, g in by_group.items()} == {
        "citizens": 14,
        "enterprise_workers": 12,
        "public_servants": 10,
        "pupils_students": 26,
    }
    confirmed = sum(g["confirmed"]["count"] for g in by_group.values())
    assert 0 < confirmed < 62
    communes = get(demo, "/api/v1/aggregates/competencies", framework=D757, by="commune").json()
    # 10A1 and the community centre are in An Bình (14 + 14), 8A and the enterprise in Tân
    # Lập (12 + 12), the ward office in Phường 1 (10)
    assert {g["value"]: g["persons"] for g in communes["groups"]} == {
        "phuong-1": 10,
        "xa-an-binh": 28,
        "xa-tan-lap": 24,
    }
    # the export lists exactly the confirmed persons, each with a national e-ID account
    lines = get(demo, "/api/v1/exports/results", framework=D757).text.splitlines()
    assert len(lines) == confirmed
    assert all(len(orjson.loads(line)["eid_account"]) == 64 for line in lines)


def test_persons_have_histories_and_earlier_states(demo: APIClient) -> None:
    states: dict[str, str] = {}
    for number in range(1, 63):
        person = f"p-u{number:04d}"
        view = get(demo, f"/api/v1/persons/{person}/competencies", framework=D757).json()
        states[person] = view["confirmation"]["state"]
    assert set(states.values()) == {"confirmed", "in_progress", "not_started"}
    confirmed = next(p for p, state in states.items() if state == "confirmed")
    changes = get(demo, f"/api/v1/persons/{confirmed}/competencies/changes", framework=D757)
    # each of the 12 skills changed state at least once, all within the eight weeks
    history = changes.json()["changes"]
    assert {c["code"] for c in history} == {
        "0.1", "0.2", "1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "4.1", "4.2", "5.1", "6.1",
    }  # fmt: skip
    assert all("2025-09-08" <= c["at"] < "2025-11-10" for c in history)
    before = get(
        demo, f"/api/v1/persons/{confirmed}/competencies", framework=D757, as_of="2025-09-07"
    )
    assert before.json()["summary"]["not_started"] == 12


def test_lrs_demo_runs_twice_to_the_same_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(tmp_path / "demo")
    assert lrs_cli(["demo", "--data", data]) == 0
    first = capsys.readouterr().out
    assert "demo province loaded: 5 organisations, 5 classes, 62 persons" in first
    assert lrs_cli(["demo", "--data", data]) == 0
    assert capsys.readouterr().out == first


def test_next_steps_and_aggregates_by_class_after_the_demo(demo: APIClient) -> None:
    steps = get(
        demo, f"/api/v1/groups/{quote(CLASS, safe='')}/recommendations", framework=D757
    ).json()
    assert steps["target"] == "PC" and steps["persons"] == 14
    assert steps["recommendations"] and all(r["reason"] for r in steps["recommendations"])
    classes = get(demo, "/api/v1/aggregates/competencies", framework=D757, by="class").json()
    assert len(classes["groups"]) == 5
    assert sum(g["persons"] for g in classes["groups"]) == 62
