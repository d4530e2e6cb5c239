"""Crosswalk loading and translation, the time-ordered fold, as_of bounds, confirmation
and the result writers: pure parts, with values worked out by hand."""

from __future__ import annotations

import io
from typing import Any

import pytest

from lrs.competency.confirmation import confirmation, confirmation_rule, local_date
from lrs.competency.crosswalk import bundled_crosswalk_data, crosswalks, into, load_crosswalk
from lrs.competency.exports import CsvSink, JsonLinesSink, ResultRecord, eid_account
from lrs.competency.framework import Framework, bundled_frameworks
from lrs.competency.reading import as_of_bound
from lrs.domain.records import Contribution
from lrs.readmodels.competencies import fold_timeline
from lrs.xapi.errors import ValidationError

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
D757 = "https://w3id.org/lrs/frameworks/vn-decision-757/2025"


@pytest.fixture(scope="module")
def known() -> dict[str, Framework]:
    return {f.id: f for f in bundled_frameworks().values()}


def evidence(code: str, rank: int, met: bool, rule: str = "r") -> dict[str, Any]:
    return {
        "rule": rule,
        "competence": f"{DIGCOMP}/competence/{code}",
        "level": f"{DIGCOMP}/level/{rank}",
        "rank": rank,
        "needs": 1,
        "met": met,
    }


def item(sid: str, at: str | None, *entries: dict[str, Any], activity: str = "a") -> Contribution:
    data = {"framework": DIGCOMP, "activity": activity, "at": at, "evidence": list(entries)}
    return Contribution(sid, f"{DIGCOMP}|k", data)


# ------------------------------------------------------------------ the 757 file


def test_decision_757_is_bundled_with_every_unchecked_entry_marked(
    known: dict[str, Framework],
) -> None:
    framework = known[D757]
    assert framework.version == "1.0"
    assert framework.title["vi"] == "Khung kiến thức, kỹ năng số cơ bản"
    assert framework.source.date == "2025-04-29"
    assert "757/QĐ-BKHCN" in framework.source.document
    assert [a.code for a in framework.areas] == ["0", "1", "2", "3", "4", "5", "6"]
    assert [c.code for c in framework.competences] == [
        "0.1", "0.2", "1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "4.1", "4.2", "5.1", "6.1",
    ]  # fmt: skip
    assert all(a.verify for a in framework.areas)
    assert all(c.verify for c in framework.competences)
    assert [(lv.code, lv.rank) for lv in framework.levels] == [("PC", 1)]
    assert framework.levels[0].name["vi"] == "Hoàn thành mức độ phổ cập kỹ năng số"
    rule = confirmation_rule(D757)
    assert rule is not None and rule.level == "PC"
    assert list(rule.groups) == [
        "pupils_students",
        "citizens",
        "public_servants",
        "enterprise_workers",
    ]
    assert rule.groups["enterprise_workers"].annex == "1.4"
    assert rule.data["rule"]["verify"] is True


# ------------------------------------------------------------------ crosswalks


def test_the_bundled_crosswalks_load(known: dict[str, Framework]) -> None:
    walks = {w.id: w for w in crosswalks(known, [])}
    assert sorted(walks) == [
        "digcomp-2.2--vn-circular-02-2025",
        "digcomp-2.2--vn-decision-757-2025",
        "vn-circular-02-2025--vn-decision-757-2025",
    ]
    assert len(walks["digcomp-2.2--vn-circular-02-2025"].pairs) == 21
    assert walks["digcomp-2.2--vn-circular-02-2025"].level_pairs == tuple(
        (n, n) for n in range(1, 9)
    )
    assert walks["digcomp-2.2--vn-decision-757-2025"].level_pairs == ((2, 1),)
    for data in bundled_crosswalk_data():
        assert data["source"]["document"] and data["source"]["official"] is False


def test_which_crosswalks_bring_evidence_into_a_framework(known: dict[str, Framework]) -> None:
    walks = crosswalks(known, [])
    assert sorted((d.walk.id, d.source) for d in into(walks, D757)) == [
        ("digcomp-2.2--vn-decision-757-2025", DIGCOMP),
        ("vn-circular-02-2025--vn-decision-757-2025", CIRCULAR),
    ]
    # into DigComp: only the both-ways one, read backwards from the circular
    assert [(d.walk.id, d.source) for d in into(walks, DIGCOMP)] == [
        ("digcomp-2.2--vn-circular-02-2025", CIRCULAR)
    ]


def test_a_level_maps_to_the_highest_paired_level_reached(known: dict[str, Framework]) -> None:
    walk = load_crosswalk(
        {
            "id": "w",
            "from": DIGCOMP,
            "to": CIRCULAR,
            "competences": [
                {"from": "1.1", "to": "1.1"},
                {"from": "1.1", "to": "1.2", "relation": "related"},
            ],
            "levels": [{"from": "3", "to": "CB2"}, {"from": "5", "to": "TC2"}],
        },
        known,
    )
    direction = walk.direction(DIGCOMP, CIRCULAR)
    assert direction is not None and walk.direction(CIRCULAR, DIGCOMP) is None  # one way
    # DigComp 1, 2 -> nothing; 3, 4 -> CB2 (rank 2); 5..8 -> TC2 (rank 4)
    assert [direction.rank(r) for r in range(1, 9)] == [0, 0, 2, 2, 4, 4, 4, 4]
    translated = direction.translate(
        item("s1", "2025-10-01T00:00:00.000Z", evidence("1.1", 4, True)),
        known[CIRCULAR],
        f"{CIRCULAR}|k",
    )
    assert translated is not None
    (entry,) = translated.data["evidence"]  # the `related` pair carries nothing
    assert entry == {
        "rule": "w:r",
        "competence": f"{CIRCULAR}/competence/1.1",
        "level": f"{CIRCULAR}/level/CB2",
        "rank": 2,
        "needs": 1,
        "met": True,
        "via": {"crosswalk": "w", "framework": DIGCOMP, "competence": f"{DIGCOMP}/competence/1.1"},
    }
    assert translated.key == f"{CIRCULAR}|k" and translated.data["framework"] == CIRCULAR
    # evidence for a competence with no pair is not translated at all
    assert (
        direction.translate(item("s2", None, evidence("5.4", 2, True)), known[CIRCULAR], "x")
        is None
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": "nope"}, "from"),
        ({"to": DIGCOMP}, "to"),
        ({"competences": []}, "competences"),
        ({"competences": [{"from": "9.9", "to": "1.1"}]}, "competences[0].from"),
        (
            {"competences": [{"from": "1.1", "to": "1.1", "relation": "sameAs"}]},
            "competences[0].relation",
        ),
        ({"levels": [{"from": "9", "to": "CB1"}]}, "levels[0].from"),
        ({"levels": [{"from": "1", "to": "CB2"}, {"from": "2", "to": "CB1"}]}, "levels"),
        ({"both_ways": "yes"}, "both_ways"),
        ({"id": ""}, "id"),
    ],
)
def test_a_bad_crosswalk_is_refused_naming_the_field(
    known: dict[str, Framework], change: dict[str, Any], field: str
) -> None:
    good = {
        "id": "w",
        "from": DIGCOMP,
        "to": CIRCULAR,
        "competences": [{"from": "1.1", "to": "1.1"}],
        "levels": [{"from": "1", "to": "CB1"}],
    }
    load_crosswalk(good, known)
    with pytest.raises(ValidationError) as caught:
        load_crosswalk({**good, **change}, known)
    assert caught.value.field == field


# ------------------------------------------------------------------ the time-ordered fold


def test_fold_timeline_orders_by_time_and_records_each_rise() -> None:
    # arrival order: the level-4 pass (10 Oct), the try (1 Oct), the level-2 pass (5 Oct)
    items = [
        item("c", "2025-10-10T00:00:00.000Z", evidence("1.1", 4, True, "l4")),
        item("a", "2025-10-01T00:00:00.000Z", evidence("1.1", 2, False, "l2")),
        item("b", "2025-10-05T00:00:00.000Z", evidence("1.1", 2, True, "l2")),
    ]
    state, changes = fold_timeline(items)
    assert state is not None
    competence = state["competences"][f"{DIGCOMP}/competence/1.1"]
    assert (competence["state"], competence["rank"]) == ("achieved", 4)
    assert competence["attained"] == [
        {
            "rank": 2,
            "level": f"{DIGCOMP}/level/2",
            "at": "2025-10-05T00:00:00.000Z",
            "statement": "b",
        },
        {
            "rank": 4,
            "level": f"{DIGCOMP}/level/4",
            "at": "2025-10-10T00:00:00.000Z",
            "statement": "c",
        },
    ]
    assert [
        (c["statement"], c["from"]["state"], c["to"]["state"], c["to"]["rank"]) for c in changes
    ] == [
        ("a", "not_started", "in_progress", 0),
        ("b", "in_progress", "achieved", 2),
        ("c", "achieved", "achieved", 4),
    ]
    # until 5 Oct 00:00 (exclusive): only the try
    state, changes = fold_timeline(items, "2025-10-05T00:00:00.000Z")
    assert state is not None
    assert state["competences"][f"{DIGCOMP}/competence/1.1"]["state"] == "in_progress"
    assert len(changes) == 1
    # evidence without a time is left out of a dated status, kept in the current one
    undated = [item("d", None, evidence("1.2", 3, True))]
    assert fold_timeline(undated, "2030-01-01T00:00:00.000Z") == (None, [])
    assert fold_timeline(undated)[0] is not None


@pytest.mark.parametrize(
    ("value", "bound"),
    [
        ("2025-10-20", "2025-10-21T00:00:00.000Z"),
        ("2025-10-20T10:00:00+07:00", "2025-10-20T03:00:00.001Z"),
        ("2025-10-20T03:00:00Z", "2025-10-20T03:00:00.001Z"),
        (None, None),
        ("", None),
    ],
)
def test_as_of_bounds(value: str | None, bound: str | None) -> None:
    assert as_of_bound(value) == bound


@pytest.mark.parametrize("value", ["2025-10-20T10:00:00", "20/10/2025", "2025-02-30", "now"])
def test_a_bad_as_of_names_the_field(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        as_of_bound(value)
    assert caught.value.field == "as_of"


# ------------------------------------------------------------------ confirmation and export


def test_confirmation_dates_and_evidence(known: dict[str, Framework]) -> None:
    framework = known[D757]
    rule = confirmation_rule(D757)
    assert rule is not None
    codes = [c.code for c in framework.competences]
    competences = {
        f"{D757}/competence/{code}": {
            "state": "achieved",
            "rank": 1,
            "attained": [
                {"rank": 1, "at": f"2025-10-{10 + i:02d}T18:00:00.000Z", "statement": f"s{i}"}
            ],
        }
        for i, code in enumerate(codes)
    }
    state = {"competences": competences}
    result = confirmation(framework, rule, state, "citizens", "vi")
    assert result["state"] == "confirmed"
    # the last skill (6.1, i = 11) on 21 Oct 18:00 UTC: 22 Oct 01:00 in Viet Nam
    assert (result["confirmed_at"], result["date"]) == ("2025-10-21T18:00:00.000Z", "2025-10-22")
    assert result["evidence"] == sorted(f"s{i}" for i in range(12))
    assert result["target_group_name"] == "Người dân"
    del competences[f"{D757}/competence/4.2"]
    partial = confirmation(framework, rule, state, None)
    assert (partial["state"], partial["missing"], partial["evidence"]) == (
        "in_progress",
        ["4.2"],
        [],
    )
    assert confirmation(framework, rule, None, None)["state"] == "not_started"
    assert local_date("2025-12-31T16:59:59.000Z") == "2025-12-31"
    assert local_date("2025-12-31T17:00:00.000Z") == "2026-01-01"


def test_result_writers() -> None:
    record = ResultRecord("ab" * 32, "https://vneid.gov.vn", "citizens", D757, "1.0", "PC",
                          "2025-10-22", "2025-10-21T18:00:00.000Z", ("s1", "s2"))  # fmt: skip
    out = io.StringIO()
    assert JsonLinesSink(out).write([record]) == 1
    assert out.getvalue() == (
        '{"eid_account":"' + "ab" * 32 + '","eid_home_page":"https://vneid.gov.vn",'
        '"target_group":"citizens","framework":"' + D757 + '","framework_version":"1.0",'
        '"level":"PC","date":"2025-10-22","confirmed_at":"2025-10-21T18:00:00.000Z",'
        '"evidence":["s1","s2"]}\n'
    )
    out = io.StringIO()
    assert CsvSink(out).write([record]) == 1
    assert out.getvalue().splitlines() == [
        "eid_account,eid_home_page,target_group,framework,framework_version,level,date,confirmed_at,evidence",
        f"{'ab' * 32},https://vneid.gov.vn,citizens,{D757},1.0,PC,2025-10-22,2025-10-21T18:00:00.000Z,s1 s2",
    ]
    keys = ["account:https://lms.example.vn|7", "account:https://vneid.gov.vn|ff00"]
    assert eid_account(keys) == "ff00"
    assert eid_account(keys[:1]) is None
