"""A citizen of the province works through a course aligned to three frameworks.

Through the real HTTP API: statements are posted, the processors catch up, and the
status is read under Decision 757/QĐ-BKHCN (confirmation per Annex II as bundled),
Circular 02/2025 and DigComp 2.2, now and as of earlier dates, with the list of state
changes, and the confirmed result is exported for the national systems.

Every expected value below is worked out by hand from the script in SCRIPT.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.auth import create_credential
from lrs.cli import main as lrs_cli
from lrs.competency.registry import import_rules
from lrs.rosters import class_definition, save_class
from tests.conftest import APIClient, basic_auth

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
D757 = "https://w3id.org/lrs/frameworks/vn-decision-757/2025"
COURSE = "https://hoc.example.gov.vn/binh-dan-hoc-vu-so/"
LMS = "https://hoc.example.gov.vn"
VNEID = "https://vneid.gov.vn"
# an HMAC account name as lrs.national_id.pseudonymise makes them (the number is not here)
EID = "5f1d0c3a9b7e4d2c8a6f0e1b3c5d7e9f5f1d0c3a9b7e4d2c8a6f0e1b3c5d7e9f"
IDS = uuid.UUID("0b9f3f0e-2d7c-4c1e-9a55-7e57d757d757")
VERBS = "http://adlnet.gov/expapi/verbs/"
ALL_757 = ["0.1", "0.2", "1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "4.1", "4.2", "5.1", "6.1"]


def sid(tag: str) -> str:
    return str(uuid.uuid5(IDS, tag))


# Rules: DigComp level 2 for a lesson per competence; Circular 02 CB2 for the AI lesson;
# Decision 757's basic level directly for the two device lessons.
DIGCOMP_RULES = {
    "id": "bdhvs-digcomp",
    "framework": DIGCOMP,
    "rules": [
        {
            "id": f"dc-{code}",
            "competence": f"{DIGCOMP}/competence/{code}",
            "level": "2",
            "match": {"activity": f"{COURSE}digcomp-{code}"},
            "when": {"completed": True},
        }
        for code in ("1.1", "1.2", "1.3", "2.1", "2.3", "3.1", "4.1", "4.3", "5.1")
    ],
}
CIRCULAR_RULES = {
    "id": "bdhvs-circular",
    "framework": CIRCULAR,
    "rules": [
        {
            "id": "ai",
            "competence": f"{CIRCULAR}/competence/6.2",
            "level": "CB2",
            "match": {"activity": f"{COURSE}ai"},
            "when": {"completed": True},
        }
    ],
}
D757_RULES = {
    "id": "bdhvs-757",
    "framework": D757,
    "rules": [
        {
            "id": "device",
            "competence": f"{D757}/competence/0.1",
            "level": "PC",
            "match": {"activity": f"{COURSE}device"},
        },
        {
            "id": "apps",
            "competence": f"{D757}/competence/0.2",
            "level": "PC",
            "match": {"activity": f"{COURSE}apps"},
        },
    ],
}

LMS_KEY = f"account:{LMS}|cd-001"
EID_KEY = f"account:{VNEID}|{EID}"
OTHER_KEY = f"account:{LMS}|cd-002"  # a second citizen: e-ID linked, not confirmed
OTHER_EID = "0" * 64
NEW_KEY = f"account:{LMS}|cd-003"  # on the roster, no statement yet
NAMES = {LMS_KEY: "An Nguyen", EID_KEY: "Nguyễn Văn An", OTHER_KEY: "Trần Thị Bình"}
CLASS = "https://hoc.example.gov.vn/lop/xa-tan-lap-k1"

# (tag, key, lesson, verb, timestamp UTC). The citizen uses the LMS account, then the
# national e-ID account (both linked to one person).
SCRIPT: list[tuple[str, str, str, str, str]] = [
    ("device", LMS_KEY, "device", "completed", "2025-10-01T02:00:00Z"),
    ("apps", LMS_KEY, "apps", "completed", "2025-10-02T02:00:00Z"),
    ("s11-try", LMS_KEY, "digcomp-1.1", "attempted", "2025-10-03T02:00:00Z"),
    ("s11", LMS_KEY, "digcomp-1.1", "completed", "2025-10-03T03:00:00Z"),
    ("s12", EID_KEY, "digcomp-1.2", "completed", "2025-10-04T02:00:00Z"),
    ("s51-wrong", EID_KEY, "digcomp-5.1", "completed", "2025-10-04T05:00:00Z"),  # voided
    ("s13", EID_KEY, "digcomp-1.3", "completed", "2025-10-05T02:00:00Z"),
    ("s21", EID_KEY, "digcomp-2.1", "completed", "2025-10-06T02:00:00Z"),
    ("s23", EID_KEY, "digcomp-2.3", "completed", "2025-10-07T02:00:00Z"),
    ("s31", EID_KEY, "digcomp-3.1", "completed", "2025-10-08T02:00:00Z"),
    ("s41", EID_KEY, "digcomp-4.1", "completed", "2025-10-09T02:00:00Z"),
    ("s43", EID_KEY, "digcomp-4.3", "completed", "2025-10-10T02:00:00Z"),
    ("s51", EID_KEY, "digcomp-5.1", "completed", "2025-10-11T02:00:00Z"),
    # 00:30 on 21 October in Viet Nam: the confirmation is dated the 21st
    ("ai", EID_KEY, "ai", "completed", "2025-10-20T17:30:00Z"),
    ("other-device", OTHER_KEY, "device", "completed", "2025-10-02T02:00:00Z"),
]


def statement(tag: str, key: str, lesson: str, verb: str, at: str) -> dict[str, Any]:
    home, _, name = key.removeprefix("account:").partition("|")
    result = {"completion": True} if verb == "completed" else {"completion": False}
    return {
        "id": sid(tag),
        "actor": {
            "objectType": "Agent",
            "name": NAMES[key],
            "account": {"homePage": home, "name": name},
        },
        "verb": {"id": VERBS + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": COURSE + lesson},
        "result": result,
        "timestamp": at,
    }


@pytest.fixture
def province(api: APIClient) -> APIClient:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    for rules in (DIGCOMP_RULES, CIRCULAR_RULES, D757_RULES):
        import_rules(store, rules)
    http = api.http
    assert (
        http.post("/api/v1/persons/p-an/keys", json={"keys": [LMS_KEY, EID_KEY]}).status_code == 200
    )
    other_keys = {"keys": [OTHER_KEY, f"account:{VNEID}|{OTHER_EID}"]}
    assert http.post("/api/v1/persons/p-binh/keys", json=other_keys).status_code == 200
    put = http.put(
        "/api/v1/persons/p-an/attributes",
        json={"target_group": "citizens", "name": "Nguyễn Văn An", "commune": "xa-tan-lap"},
    )
    assert put.status_code == 200, put.text
    assert (
        http.put("/api/v1/persons/p-binh/attributes", json={"target_group": "citizens"}).status_code
        == 200
    )
    response = http.post("/xapi/statements", json=[statement(*step) for step in SCRIPT])
    assert response.status_code == 200, response.text
    void = {
        "id": sid("void-s51-wrong"),
        "actor": {"objectType": "Agent", "mbox": "mailto:giao.vien@example.gov.vn"},
        "verb": {"id": VERBS + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": sid("s51-wrong")},
        "timestamp": "2025-10-05T00:00:00Z",
    }
    assert http.post("/xapi/statements", json=void).status_code == 200
    catch_up(store, reducers(store))
    return api


def person(api: APIClient, framework: str, path: str = "", **params: str) -> dict[str, Any]:
    response = api.http.get(
        f"/api/v1/persons/p-an/competencies{path}", params={"framework": framework, **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_evidence_aligned_to_digcomp_and_circular_confirms_the_citizen_under_757(
    province: APIClient,
) -> None:
    view = person(province, "vn-decision-757-2025")
    by_code = {c["code"]: c for c in view["competences"]}
    assert {code: (c["state"], c["level"]) for code, c in by_code.items()} == {
        code: ("achieved", "PC") for code in ALL_757
    }
    # through which crosswalk each came: 0.x direct, 6.1 from the circular, others DigComp
    assert by_code["0.1"]["via"] == [] and by_code["0.2"]["via"] == []
    assert by_code["6.1"]["via"] == ["vn-circular-02-2025--vn-decision-757-2025"]
    for code in ("1.1", "1.2", "1.3", "2.1", "2.2", "3.1", "4.1", "4.2", "5.1"):
        assert by_code[code]["via"] == ["digcomp-2.2--vn-decision-757-2025"], code
    assert by_code["2.2"]["attained"] == [
        {
            "rank": 1,
            "level": "PC",
            "at": "2025-10-07T02:00:00.000Z",
            "statement": sid("s23"),
            "via": {
                "crosswalk": "digcomp-2.2--vn-decision-757-2025",
                "framework": DIGCOMP,
                "competence": f"{DIGCOMP}/competence/2.3",
            },
        }
    ]
    # the voided 5.1 of 4 October is gone: 5.1 was reached on 11 October
    assert by_code["5.1"]["attained"][0]["at"] == "2025-10-11T02:00:00.000Z"
    assert by_code["5.1"]["evidence"] == [sid("s51")]

    confirmation = view["confirmation"]
    assert confirmation["state"] == "confirmed"
    assert confirmation["target_group"] == "citizens"
    assert confirmation["target_group_name"] == "Citizens"
    assert confirmation["confirmed_at"] == "2025-10-20T17:30:00.000Z"
    assert confirmation["date"] == "2025-10-21"  # in Viet Nam (UTC+7)
    assert confirmation["missing"] == []
    assert confirmation["evidence"] == sorted(
        sid(t)
        for t in (
            "device",
            "apps",
            "s11",
            "s12",
            "s13",
            "s21",
            "s23",
            "s31",
            "s41",
            "s43",
            "s51",
            "ai",
        )
    )
    assert view["name"] == "Nguyễn Văn An"


def test_the_status_as_of_a_date(province: APIClient) -> None:
    # to the end of 15 October (UTC): everything but the AI lesson
    before = person(province, "vn-decision-757-2025", as_of="2025-10-15")
    assert before["as_of"] == "2025-10-15"
    confirmation = before["confirmation"]
    assert (confirmation["state"], confirmation["missing"], confirmation["date"]) == (
        "in_progress",
        ["6.1"],
        None,
    )
    # to the end of 3 October: 0.1, 0.2 and 1.1 (the try, then the completion)
    early = person(province, "vn-decision-757-2025", as_of="2025-10-03")
    assert early["summary"] == {
        "competences": 12,
        "achieved": 3,
        "in_progress": 0,
        "not_started": 9,
    }
    # a moment with its zone: 10:00 in Viet Nam on 3 October is 03:00 UTC, the completion
    # of 1.1 itself, which counts; a minute earlier, 1.1 is only in progress (the try)
    at = person(province, "digcomp-2.2", as_of="2025-10-03T10:00:00+07:00")
    assert {c["code"]: c["state"] for c in at["competences"]}["1.1"] == "achieved"
    earlier = person(province, "digcomp-2.2", as_of="2025-10-03T09:59:00+07:00")
    assert {c["code"]: c["state"] for c in earlier["competences"]}["1.1"] == "in_progress"
    # 20 October ends at midnight UTC, after 17:30 UTC: confirmed, dated the 21st
    assert person(province, "vn-decision-757-2025", as_of="2025-10-20")["confirmation"]["date"] == (
        "2025-10-21"
    )


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "2025-10-03T10:00:00", "2025-10-3"])
def test_a_bad_as_of_is_a_400_naming_the_field(province: APIClient, value: str) -> None:
    response = province.http.get(
        "/api/v1/persons/p-an/competencies", params={"framework": "digcomp-2.2", "as_of": value}
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "as_of"


def test_the_list_of_state_changes(province: APIClient) -> None:
    changes = person(province, "digcomp-2.2", "/changes")["changes"]
    # DigComp: the try on 1.1 (in progress), then nine competences reached level 2
    assert [
        (c["code"], c["from"]["state"], c["to"]["state"], c["to"]["level"]) for c in changes
    ] == [
        ("1.1", "not_started", "in_progress", None),
        ("1.1", "in_progress", "achieved", "2"),
        ("1.2", "not_started", "achieved", "2"),
        ("1.3", "not_started", "achieved", "2"),
        ("2.1", "not_started", "achieved", "2"),
        ("2.3", "not_started", "achieved", "2"),
        ("3.1", "not_started", "achieved", "2"),
        ("4.1", "not_started", "achieved", "2"),
        ("4.3", "not_started", "achieved", "2"),
        ("5.1", "not_started", "achieved", "2"),
    ]
    assert changes[0]["statement"] == sid("s11-try")
    assert changes[0]["at"] == "2025-10-03T02:00:00.000Z"
    assert changes[1]["statement"] == sid("s11")
    # a learner key alone: the LMS account saw only the device lessons and 1.1
    key = quote(LMS_KEY, safe="")
    response = province.http.get(
        f"/api/v1/learners/{key}/competencies/changes", params={"framework": "vn-decision-757-2025"}
    )
    assert response.status_code == 200, response.text
    assert [(c["code"], c["to"]["state"]) for c in response.json()["changes"]] == [
        ("0.1", "achieved"),
        ("0.2", "achieved"),
        ("1.1", "in_progress"),
        ("1.1", "achieved"),
    ]


def test_circular_02_counts_digcomp_evidence_both_ways(province: APIClient) -> None:
    view = person(province, "vn-circular-02-2025")
    levels = {c["code"]: c["level"] for c in view["competences"] if c["level"]}
    # DigComp level 2 is the circular's CB2 (rank 2); 2.3 -> 2.3, 4.3 -> 4.3; 6.2 direct
    assert levels == {
        "1.1": "CB2", "1.2": "CB2", "1.3": "CB2", "2.1": "CB2", "2.3": "CB2", "3.1": "CB2",
        "4.1": "CB2", "4.3": "CB2", "5.1": "CB2", "6.2": "CB2",
    }  # fmt: skip
    by_code = {c["code"]: c for c in view["competences"]}
    assert by_code["6.2"]["via"] == []
    assert by_code["1.1"]["via"] == ["digcomp-2.2--vn-circular-02-2025"]
    # and DigComp has nothing of the circular's AI domain (no pair for 6.2)
    digcomp = person(province, "digcomp-2.2")
    assert digcomp["summary"]["achieved"] == 9


def test_export_for_the_national_systems(province: APIClient) -> None:
    response = province.http.get(
        "/api/v1/exports/results", params={"framework": "vn-decision-757-2025"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert len(lines) == 1  # p-binh is not confirmed (device lesson only)
    assert orjson.loads(lines[0]) == {
        "eid_account": EID,
        "eid_home_page": VNEID,
        "target_group": "citizens",
        "framework": D757,
        "framework_version": "1.0",
        "level": "PC",
        "date": "2025-10-21",
        "confirmed_at": "2025-10-20T17:30:00.000Z",
        "evidence": sorted(
            sid(t)
            for t in (
                "device",
                "apps",
                "s11",
                "s12",
                "s13",
                "s21",
                "s23",
                "s31",
                "s41",
                "s43",
                "s51",
                "ai",
            )
        ),
    }
    as_csv = province.http.get(
        "/api/v1/exports/results", params={"framework": "vn-decision-757-2025", "format": "csv"}
    )
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == [
        "eid_account", "eid_home_page", "target_group", "framework", "framework_version",
        "level", "date", "confirmed_at", "evidence",
    ]  # fmt: skip
    assert rows[1][:8] == [
        EID,
        VNEID,
        "citizens",
        D757,
        "1.0",
        "PC",
        "2025-10-21",
        "2025-10-20T17:30:00.000Z",
    ]
    assert len(rows[1][8].split(" ")) == 12
    # before the AI lesson nobody is confirmed
    early = province.http.get(
        "/api/v1/exports/results",
        params={"framework": "vn-decision-757-2025", "as_of": "2025-10-15"},
    )
    assert early.text == "" and early.headers["x-record-count"] == "0"
    # a framework without a confirmation rule, and an unknown format, are 400s
    for params, field in (
        ({"framework": "digcomp-2.2"}, "framework"),
        ({"framework": "vn-decision-757-2025", "format": "xml"}, "format"),
    ):
        bad = province.http.get("/api/v1/exports/results", params=params)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == field


def test_person_attributes_are_checked(province: APIClient) -> None:
    for body, field in (
        ({"target_group": "farmers"}, "target_group"),
        ({"shoe_size": "42"}, "shoe_size"),
        ({"name": 7}, "name"),
    ):
        response = province.http.put("/api/v1/persons/p-an/attributes", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["field"] == field


def test_a_class_lists_every_enrolled_person_once_with_names(province: APIClient) -> None:
    store = province.http.app.state.store  # type: ignore[attr-defined]
    members = [LMS_KEY, EID_KEY, OTHER_KEY, NEW_KEY]
    save_class(
        store,
        class_definition(CLASS, "Tân Lập K1", members, names={NEW_KEY: "Lê Văn Cường"}),
    )
    response = province.http.get(
        f"/api/v1/groups/{quote(CLASS, safe='')}/competencies",
        params={"framework": "vn-decision-757-2025"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # p-an's two keys are one entry; p-binh (one key on the roster) is a person too
    assert [(v["learner"], v["person"], v["name"]) for v in body["learners"]] == [
        (NEW_KEY, None, "Lê Văn Cường"),  # from the roster
        ("p-an", "p-an", "Nguyễn Văn An"),  # from the person's record
        ("p-binh", "p-binh", "Trần Thị Bình"),  # from the statements
    ]
    assert body["learners"][1]["keys"] == [LMS_KEY, EID_KEY]  # sorted: hoc... < vneid...
    assert body["learners"][0]["summary"]["not_started"] == 12
    assert body["learners"][1]["confirmation"]["state"] == "confirmed"
    assert body["learners"][2]["confirmation"]["state"] == "in_progress"

    matrix = province.http.get(
        f"/api/v1/groups/{quote(CLASS, safe='')}/competencies",
        params={"framework": "vn-decision-757-2025", "format": "csv", "as_of": "2025-10-01"},
    )
    rows = list(csv.reader(io.StringIO(matrix.text)))
    assert rows[0] == ["learner", "name", *ALL_757, "achieved", "in_progress", "not_started"]
    # as of the end of 1 October only the device lessons had happened
    assert rows[1] == [NEW_KEY, "Lê Văn Cường", *["not_started"] * 12, "0", "0", "12"]
    assert rows[2] == [
        "p-an",
        "Nguyễn Văn An",
        "achieved:PC",
        *["not_started"] * 11,
        "1",
        "0",
        "11",
    ]
    assert rows[3] == ["p-binh", "Trần Thị Bình", *["not_started"] * 12, "0", "0", "12"]
    assert rows[4] == ["legend", "", "PC=Universal (basic) digital skills level completed"]
    vietnamese = province.http.get(
        f"/api/v1/groups/{quote(CLASS, safe='')}/competencies",
        params={"framework": "vn-decision-757-2025", "format": "csv"},
        headers={"Accept-Language": "vi"},
    )
    last = list(csv.reader(io.StringIO(vietnamese.text)))[-1]
    assert last == ["legend", "", "PC=Hoàn thành mức độ phổ cập kỹ năng số"]


def test_own_crosswalks_are_imported_by_cli_and_api(province: APIClient, tmp_path: Any) -> None:
    store = province.http.app.state.store  # type: ignore[attr-defined]
    own = {
        "id": "site-ai-to-digcomp",
        "from": "vn-circular-02-2025",
        "to": DIGCOMP,
        "competences": [{"from": "6.2", "to": "5.2"}],
        "levels": [{"from": "CB2", "to": "2"}],
    }
    bad = {**own, "competences": [{"from": "6.2", "to": "9.9"}]}
    (tmp_path / "bad.json").write_text(orjson.dumps(bad).decode())
    (tmp_path / "own.json").write_text(orjson.dumps(own).decode())
    assert (
        lrs_cli(["crosswalks", "import", str(tmp_path / "bad.json"), "--data", str(tmp_path)]) == 2
    )
    # the same file through the API: a 400 naming the field
    refused = province.http.post("/api/v1/crosswalks", json=bad)
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "competences[0].to"
    assert (
        lrs_cli(["crosswalks", "import", str(tmp_path / "own.json"), "--data", str(tmp_path)]) == 0
    )
    del store  # the CLI wrote through its own connection; the API reads the same file
    listed = province.http.get("/api/v1/crosswalks").json()["crosswalks"]
    assert [w["id"] for w in listed] == [
        "digcomp-2.2--vn-circular-02-2025",
        "digcomp-2.2--vn-decision-757-2025",
        "vn-circular-02-2025--vn-decision-757-2025",
        "site-ai-to-digcomp",
    ]
    # the AI lesson now counts for DigComp 5.2 at level 2, through the site's crosswalk
    by_code = {c["code"]: c for c in person(province, "digcomp-2.2")["competences"]}
    assert (by_code["5.2"]["state"], by_code["5.2"]["level"]) == ("achieved", "2")
    assert by_code["5.2"]["via"] == ["site-ai-to-digcomp"]
    # a second version through the API replaces it (level CB2 now counts as 1)
    posted = province.http.post(
        "/api/v1/crosswalks", json={**own, "levels": [{"from": "CB2", "to": "1"}]}
    )
    assert posted.status_code == 201, posted.text
    by_code = {c["code"]: c for c in person(province, "digcomp-2.2")["competences"]}
    assert by_code["5.2"]["level"] == "1"


def test_cli_exports_the_confirmed_results(
    province: APIClient, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    code = lrs_cli(["results", "export", "--data", str(tmp_path), "--out", str(out)])
    assert code == 0
    assert "1 confirmed persons exported" in capsys.readouterr().err
    (line,) = out.read_text().splitlines()
    assert orjson.loads(line)["eid_account"] == EID
    assert (
        lrs_cli(["persons", "set", "p-binh", "--target-group", "farmers", "--data", str(tmp_path)])
        == 2
    )


def test_erasing_a_person_erases_their_attributes_and_roster_names(
    province: APIClient, tmp_path: Any
) -> None:
    store = province.http.app.state.store  # type: ignore[attr-defined]
    save_class(
        store,
        class_definition(CLASS, "K1", [LMS_KEY, NEW_KEY], names={LMS_KEY: "An", NEW_KEY: "Cường"}),
    )
    assert lrs_cli(["erase", "--yes", "--person", "p-an", "--data", str(tmp_path)]) == 0
    assert store.get_definition("person", "p-an") is None
    roster = store.get_definition("group", CLASS)
    assert roster["members"] == [NEW_KEY] and roster["names"] == {NEW_KEY: "Cường"}


ORG = "https://hoc.example.gov.vn/don-vi/ubnd-xa-tan-lap"


def aggregate(api: APIClient, by: str, **params: str) -> dict[str | None, dict[str, Any]]:
    response = api.http.get(
        "/api/v1/aggregates/competencies",
        params={"framework": "vn-decision-757-2025", "by": by, **params},
    )
    assert response.status_code == 200, response.text
    return {g["value"]: g for g in response.json()["groups"]}


def test_aggregates_by_target_group_commune_class_and_org(
    province: APIClient, tmp_path: Any
) -> None:
    store = province.http.app.state.store  # type: ignore[attr-defined]
    save_class(
        store, class_definition(CLASS, "K1", [LMS_KEY, EID_KEY, OTHER_KEY, NEW_KEY], school=ORG)
    )
    table = tmp_path / "attributes.csv"
    table.write_text(
        "kind,id,name,commune,target_group,org\n"
        f"organisation,{ORG},UBND xã Tân Lập,xa-tan-lap,,\n"
        "person,p-binh,,phuong-1,,\n"
    )
    assert lrs_cli(["attributes", "import", str(table), "--data", str(tmp_path)]) == 0

    # 3 persons: p-an (citizens, confirmed), p-binh (citizens, device lesson only), and
    # cd-003 (on the roster, nothing yet, no target group)
    groups = aggregate(province, "target_group")
    assert list(groups) == ["citizens", None]  # unknown last
    citizens = {c["code"]: c for c in groups["citizens"]["competences"]}
    assert groups["citizens"]["persons"] == 2
    assert citizens["0.1"]["states"]["achieved"] == {"count": 2, "share": 1.0}
    assert citizens["0.1"]["levels"] == {"PC": {"count": 2, "share": 1.0}}
    assert citizens["1.1"]["states"] == {
        "not_started": {"count": 1, "share": 0.5},
        "in_progress": {"count": 0, "share": 0.0},
        "achieved": {"count": 1, "share": 0.5},
    }
    assert groups["citizens"]["confirmed"] == {"count": 1, "share": 0.5}
    assert groups[None]["persons"] == 1
    assert groups[None]["confirmed"] == {"count": 0, "share": 0.0}

    # by commune, at the end of 1 October: p-an has the device lesson (1 October), p-binh's
    # was on the 2nd; p-binh's commune is their own, cd-003's that of the class's org
    communes = aggregate(province, "commune", as_of="2025-10-01")
    assert list(communes) == ["phuong-1", "xa-tan-lap"]
    assert communes["phuong-1"]["persons"] == 1
    assert communes["phuong-1"]["competences"][0]["states"]["achieved"]["count"] == 0
    assert communes["xa-tan-lap"]["persons"] == 2
    assert communes["xa-tan-lap"]["competences"][0]["states"]["achieved"] == {
        "count": 1,
        "share": 0.5,
    }

    # one commune only: the same figures as in the whole
    only = aggregate(province, "commune", as_of="2025-10-01", value="xa-tan-lap")
    assert only == {"xa-tan-lap": communes["xa-tan-lap"]}
    assert {k: g["persons"] for k, g in aggregate(province, "class").items()} == {CLASS: 3}
    assert {k: g["persons"] for k, g in aggregate(province, "org").items()} == {ORG: 3}

    bad = province.http.get(
        "/api/v1/aggregates/competencies", params={"framework": "vn-decision-757-2025", "by": "x"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "by"
    # a school's credential of another organisation counts none of these persons
    school = create_credential(store, "a school", ["all"], org="org-b")
    other = province.http.get(
        "/api/v1/aggregates/competencies",
        params={"framework": "vn-decision-757-2025", "by": "class"},
        headers={"Authorization": basic_auth(school.credential.key, school.secret)},
    )
    assert other.status_code == 200 and other.json()["groups"] == []


def steps(api: APIClient, path: str, **params: str) -> dict[str, Any]:
    response = api.http.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_next_steps_for_a_person_and_a_class(province: APIClient) -> None:
    # p-binh did the device lesson only; 757's target is its basic level (targets.json).
    # Eleven lessons each raise one skill from nothing to PC: equal gains, so by id.
    body = steps(province, "/api/v1/persons/p-binh/recommendations", framework=D757)
    assert body["target"] == "PC"
    assert [r["activity"].removeprefix(COURSE) for r in body["recommendations"]] == [
        "ai", "apps", "digcomp-1.1", "digcomp-1.2", "digcomp-1.3", "digcomp-2.1",
        "digcomp-2.3", "digcomp-3.1", "digcomp-4.1", "digcomp-4.3",
    ]  # fmt: skip
    first = body["recommendations"][0]
    assert first["reason"] == "raises 6.1 from no level to level PC"
    assert first["via"] == ["vn-circular-02-2025--vn-decision-757-2025"]
    assert (first["gain"], first["reaches_target"], first["competences"]) == (1, 1, ["6.1"])
    assert body["recommendations"][6]["reason"] == "raises 2.2 from no level to level PC"
    # the confirmed citizen has nothing left to do
    assert (
        steps(province, "/api/v1/persons/p-an/recommendations", framework=D757)["recommendations"]
        == []
    )
    # under DigComp a citizen's target is level 2: the nine DigComp lessons
    digcomp = steps(province, "/api/v1/persons/p-binh/recommendations", framework="digcomp-2.2")
    assert digcomp["target"] == "2" and len(digcomp["recommendations"]) == 9
    assert digcomp["recommendations"][0]["reason"] == "raises 1.1 from no level to level 2"

    store = province.http.app.state.store  # type: ignore[attr-defined]
    save_class(store, class_definition(CLASS, "K1", [LMS_KEY, EID_KEY, OTHER_KEY, NEW_KEY]))
    group = steps(
        province, f"/api/v1/groups/{quote(CLASS, safe='')}/recommendations",
        framework=D757, limit="20",
    )  # fmt: skip
    ranked = [
        (r["activity"].removeprefix(COURSE), r["gain"], r["persons"])
        for r in group["recommendations"]
    ]
    # p-an needs nothing; p-binh and cd-003 need all but the device lesson, which only
    # cd-003 needs: it comes last
    assert ranked[0] == ("ai", 2, 2) and ranked[-1] == ("device", 1, 1)
    assert len(ranked) == 12 and all(gain == 2 for _, gain, _ in ranked[:11])
    assert (
        group["recommendations"][1]["reason"] == "raises 0.2 from no level to level PC for 2 of 3"
    )
    for params, field in (({"target": "CS9"}, "target"), ({"limit": "0"}, "limit")):
        bad = province.http.get(
            "/api/v1/persons/p-binh/recommendations", params={"framework": D757, **params}
        )
        assert bad.status_code == 400 and bad.json()["error"]["field"] == field


def test_attainments_as_xapi_statements(province: APIClient, tmp_path: Any) -> None:
    out = tmp_path / "attainments.jsonl"
    args = ["results", "statements", "--data", str(tmp_path), "--out", str(out)]
    assert lrs_cli(args) == 0
    statements = [orjson.loads(line) for line in out.read_text().splitlines()]
    # per learner key: the LMS account reached 0.1, 0.2 and 1.1; the e-ID account the other
    # nine skills; p-binh's LMS account 0.1
    assert len(statements) == 13
    by_actor: dict[str, list[str]] = {}
    for s in statements:
        by_actor.setdefault(s["actor"]["account"]["name"], []).append(
            s["object"]["id"].rsplit("/", 1)[-1]
        )
    assert by_actor == {
        "cd-001": ["0.1", "0.2", "1.1"],
        EID: ["1.2", "1.3", "2.1", "2.2", "3.1", "4.1", "4.2", "5.1", "6.1"],
        "cd-002": ["0.1"],
    }
    first = statements[0]
    assert first["verb"]["id"] == "https://w3id.org/xapi/tla/verbs/achieved"
    assert (
        first["object"]["definition"]["type"]
        == "https://w3id.org/xapi/tla/activity-types/competency"
    )
    assert first["context"]["statement"] == {"objectType": "StatementRef", "id": sid("device")}
    assert first["timestamp"] == "2025-10-01T02:00:00.000Z"
    assert (
        first["result"]["extensions"]["https://w3id.org/lrs/extensions/competency-level"]["code"]
        == "PC"
    )
    # they are valid xAPI: this LRS takes them, and again without duplicates (same ids)
    for _ in range(2):
        response = province.http.post("/xapi/statements", json=statements)
        assert response.status_code == 200, response.text
