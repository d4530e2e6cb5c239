"""Frameworks over HTTP (/api/v1/frameworks, ?framework=) and on the command line
(`lrs frameworks list|show|import`, `lrs alignments import|list`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from consumers.reducers.enabled import reducers
from consumers.runtime.local import catch_up
from lrs.cli import main as lrs_cli
from lrs.rosters import class_definition, save_class
from tests.conftest import APIClient

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
VERBS = "http://adlnet.gov/expapi/verbs/"
QUIZ = "https://school.example.edu.vn/digcomp/quiz/"
LEARNER = "account:https://school.example.edu.vn|hs-0007"
LEARNER_AGENT = {"account": {"homePage": "https://school.example.edu.vn", "name": "hs-0007"}}
DECISION_757 = "https://w3id.org/lrs/frameworks/vn-decision-757/2025"
OURS = "https://school.example.edu.vn/frameworks/media-literacy/1"
CASE_SERVER = "https://case.example.edu.vn/ims/case/v1p0"
CASE_DOC = "5b0a7d2e-1c3f-4a5b-8c6d-7e8f9a0b1c00"
CASE_IRI = f"{CASE_SERVER}/CFDocuments/{CASE_DOC}"
DIGCOMP_CODES = [
    "1.1", "1.2", "1.3",
    "2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
    "3.1", "3.2", "3.3", "3.4",
    "4.1", "4.2", "4.3", "4.4",
    "5.1", "5.2", "5.3", "5.4",
]  # fmt: skip


def our_framework(version: str = "1") -> dict[str, Any]:
    """A school's own small framework, in this LRS's framework format."""
    return {
        "id": OURS,
        "version": version,
        "title": {"en": "Media literacy", "vi": "Hiểu biết truyền thông"},
        "source": {"publisher": "Trường THPT Example", "document": "Media literacy, grade 10"},
        "levels": [
            {"id": f"{OURS}/level/{r}", "code": f"M{r}", "rank": r, "name": {"en": f"Level {r}"}}
            for r in (1, 2, 3)
        ],
        "areas": [
            {
                "id": f"{OURS}/area/1",
                "code": "1",
                "name": {"en": "Reading the news"},
                "competences": [
                    {"id": f"{OURS}/c/1.1", "code": "1.1", "name": {"en": "Spot a fake"}},
                    {"id": f"{OURS}/c/1.2", "code": "1.2", "name": {"en": "Check a source"}},
                ],
            }
        ],
    }


def _ref(kind: str, identifier: str, title: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": f"{CASE_SERVER}/{kind}/{identifier}"}


def case_package() -> dict[str, Any]:
    """A small CASE 1.0 CFPackage: one document, two areas, three competences."""
    doc = _ref("CFDocuments", CASE_DOC, "Kỹ năng số cơ bản")
    names = {
        "A1": ("1", "Khai thác dữ liệu"),
        "A2": ("2", "An toàn số"),
        "C11": ("1.1", "Tìm kiếm thông tin"),
        "C12": ("1.2", "Đánh giá thông tin"),
        "C21": ("2.1", "Bảo vệ dữ liệu cá nhân"),
    }
    ids = {k: f"5b0a7d2e-1c3f-4a5b-8c6d-7e8f9a0b1c{n:02d}" for n, k in enumerate(names, 1)}
    items = [
        {
            "identifier": ids[k],
            "uri": f"{CASE_SERVER}/CFItems/{ids[k]}",
            "humanCodingScheme": code,
            "fullStatement": text,
            "CFDocumentURI": doc,
            "lastChangeDateTime": "2025-03-01T00:00:00+00:00",
        }
        for k, (code, text) in names.items()
    ]
    tree = [("A1", None), ("A2", None), ("C11", "A1"), ("C12", "A1"), ("C21", "A2")]
    associations = [
        {
            "identifier": f"5b0a7d2e-0000-4000-8000-0000000000{n:02d}",
            "uri": f"{CASE_SERVER}/CFAssociations/5b0a7d2e-0000-4000-8000-0000000000{n:02d}",
            "associationType": "isChildOf",
            "originNodeURI": _ref("CFItems", ids[child], child),
            "destinationNodeURI": doc if parent is None else _ref("CFItems", ids[parent], parent),
            "sequenceNumber": n,
            "CFDocumentURI": doc,
            "lastChangeDateTime": "2025-03-01T00:00:00+00:00",
        }
        for n, (child, parent) in enumerate(tree, 1)
    ]
    return {
        "CFPackage": {
            "CFDocument": {
                "identifier": CASE_DOC,
                "uri": CASE_IRI,
                "creator": "Sở Giáo dục và Đào tạo Example",
                "title": "Kỹ năng số cơ bản",
                "language": "vi",
                "version": "2025.1",
                "lastChangeDateTime": "2025-03-01T00:00:00+00:00",
            },
            "CFItems": items,
            "CFAssociations": associations,
        }
    }


def rules(framework: str = DIGCOMP, **rule: Any) -> dict[str, Any]:
    base = {
        "id": "search-l3",
        "competence": f"{DIGCOMP}/competence/1.1",
        "level": "3",
        "match": {"activity_prefix": QUIZ + "search-"},
        "when": {"completed": True},
    }
    return {"id": "grade-10", "framework": framework, "rules": [{**base, **rule}]}


def write(tmp_path: Path, name: str, value: Any) -> str:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return str(path)


def cli(tmp_path: Path, *args: str) -> int:
    """`lrs ...` in this process, on the data directory the test's app serves."""
    return lrs_cli([*args, "--data", str(tmp_path)])


def listed(api: APIClient) -> dict[str, dict[str, Any]]:
    response = api.http.get("/api/v1/frameworks")
    assert response.status_code == 200, response.text
    return {f["id"]: f for f in response.json()["frameworks"]}


def status_of(api: APIClient, framework: str = "digcomp-2.2") -> dict[str, Any]:
    response = api.http.get(
        f"/api/v1/learners/{quote(LEARNER, safe='')}/competencies", params={"framework": framework}
    )
    assert response.status_code == 200, response.text
    return {c["code"]: (c["state"], c["level"]) for c in response.json()["competences"]}


def post_quiz(api: APIClient, activity: str = QUIZ + "search-basics") -> None:
    statement = {
        "actor": LEARNER_AGENT,
        "verb": {"id": VERBS + "completed"},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": "2025-10-01T09:00:00+07:00",
    }
    assert api.http.post("/xapi/statements", json=statement).status_code == 200


# ------------------------------------------------------------------ HTTP


def test_list_frameworks(api: APIClient) -> None:
    found = listed(api)
    assert set(found) == {DIGCOMP, CIRCULAR, DECISION_757}
    digcomp = found[DIGCOMP]
    assert digcomp["version"] == "2.2"
    assert (digcomp["areas"], digcomp["competences"]) == (5, 21)
    assert digcomp["levels"] == [str(n) for n in range(1, 9)]
    assert digcomp["title"].startswith("DigComp 2.2")
    assert "Joint Research Centre" in digcomp["source"]["publisher"]
    circular = found[CIRCULAR]
    assert (circular["areas"], circular["competences"]) == (6, 24)
    assert circular["levels"] == ["CB1", "CB2", "TC1", "TC2", "NC1", "NC2", "CS1", "CS2"]


def test_list_frameworks_in_vietnamese(api: APIClient) -> None:
    response = api.http.get("/api/v1/frameworks", headers={"Accept-Language": "vi-VN, en;q=0.5"})
    titles = {f["id"]: f["title"] for f in response.json()["frameworks"]}
    # a title in the language asked when there is one (a vi-VN tag falls back to vi)
    assert titles[CIRCULAR] == "Khung năng lực số cho người học"
    english = {f["id"]: f["title"] for f in listed(api).values()}
    assert english[CIRCULAR] != titles[CIRCULAR]


def test_get_framework_by_name_and_by_iri(api: APIClient) -> None:
    response = api.http.get("/api/v1/frameworks/digcomp-2.2")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == DIGCOMP
    assert [a["code"] for a in body["areas"]] == ["1", "2", "3", "4", "5"]
    assert [c["code"] for a in body["areas"] for c in a["competences"]] == DIGCOMP_CODES
    by_iri = api.http.get(f"/api/v1/frameworks/{quote(DIGCOMP, safe='')}")
    assert by_iri.status_code == 200
    assert by_iri.json() == body
    circular = api.http.get(f"/api/v1/frameworks/{quote(CIRCULAR, safe='')}")
    assert circular.json()["id"] == CIRCULAR
    assert api.http.get("/api/v1/frameworks/vn-circular-02-2025").json() == circular.json()


@pytest.mark.parametrize(
    "name", ["nope", "digcomp-2.1", quote("https://example.org/no-such-framework", safe="")]
)
def test_unknown_framework_is_404(api: APIClient, name: str) -> None:
    response = api.http.get(f"/api/v1/frameworks/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["field"] == "framework"


def test_frameworks_need_credentials(api: APIClient) -> None:
    assert api.http.get("/api/v1/frameworks", headers={"Authorization": ""}).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/learners/{quote(LEARNER, safe='')}/competencies",
        f"/api/v1/groups/{quote('https://school.example.edu.vn/class/10A1', safe='')}/competencies",
        "/api/v1/persons/p-1/competencies",
    ],
)
def test_framework_parameter_is_required_and_must_exist(api: APIClient, path: str) -> None:
    linked = api.http.post("/api/v1/persons/p-1/keys", json={"keys": [LEARNER]})
    assert linked.status_code == 200
    # the class must be known (a roster) to be read at all
    store = api.http.app.state.store  # type: ignore[attr-defined]
    save_class(
        store, class_definition("https://school.example.edu.vn/class/10A1", "10A1", [LEARNER])
    )
    missing = api.http.get(path)
    assert missing.status_code == 400
    assert missing.json()["error"]["field"] == "framework"
    empty = api.http.get(path, params={"framework": ""})
    assert empty.status_code == 400
    unknown = api.http.get(path, params={"framework": "digcomp-9.9"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["field"] == "framework"
    for name in ("digcomp-2.2", DIGCOMP, "vn-circular-02-2025", CIRCULAR):
        assert api.http.get(path, params={"framework": name}).status_code == 200


# ------------------------------------------------------------------ CLI: frameworks


def test_cli_frameworks_list_and_show(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(tmp_path, "frameworks", "list") == 0
    out = capsys.readouterr().out
    assert DIGCOMP in out and CIRCULAR in out
    assert "21 competences" in out and "24 competences" in out
    assert cli(tmp_path, "frameworks", "show", "digcomp-2.2") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == api.http.get("/api/v1/frameworks/digcomp-2.2").json()
    assert cli(tmp_path, "frameworks", "show", CIRCULAR) == 0
    assert json.loads(capsys.readouterr().out)["id"] == CIRCULAR
    assert cli(tmp_path, "frameworks", "show", "nope") == 2
    assert "no framework 'nope'" in capsys.readouterr().err


def test_cli_imports_a_framework_in_our_format(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "fw.json", our_framework())) == 0
    assert f"imported {OURS}: 2 competences" in capsys.readouterr().out
    found = listed(api)
    assert set(found) == {DIGCOMP, CIRCULAR, DECISION_757, OURS}
    assert (found[OURS]["competences"], found[OURS]["levels"]) == (2, ["M1", "M2", "M3"])
    response = api.http.get(f"/api/v1/frameworks/{quote(OURS, safe='')}")
    assert response.status_code == 200
    assert [c["code"] for c in response.json()["areas"][0]["competences"]] == ["1.1", "1.2"]
    # a new version replaces the old one
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "v2.json", our_framework("2"))) == 0
    assert listed(api)[OURS]["version"] == "2"
    assert len(listed(api)) == 4
    # and status can be read against it
    assert set(status_of(api, OURS).values()) == {("not_started", None)}


def test_cli_refuses_a_bad_framework_naming_the_field(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = our_framework()
    bad["areas"][0]["competences"][1]["code"] = "1.1"  # two competences coded 1.1
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "bad.json", bad)) == 2
    assert "areas[0].competences[1]" in capsys.readouterr().err
    del bad["levels"]
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "bad2.json", bad)) == 2
    assert "levels" in capsys.readouterr().err
    assert OURS not in listed(api)


@pytest.mark.parametrize(
    ("wrapped", "flag"),
    [(True, True), (True, False), (False, False)],
    ids=["CFPackage-with---case", "CFPackage-detected", "bare-package-detected"],
)
def test_cli_imports_a_case_package(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], wrapped: bool,
    flag: bool,
) -> None:  # fmt: skip
    package = case_package() if wrapped else case_package()["CFPackage"]
    args = ["frameworks", "import", write(tmp_path, "case.json", package)]
    assert cli(tmp_path, *args, *(["--case"] if flag else [])) == 0, capsys.readouterr().err
    assert f"imported {CASE_IRI}: 3 competences" in capsys.readouterr().out
    summary = listed(api)[CASE_IRI]
    assert summary["title"] == "Kỹ năng số cơ bản"
    assert summary["version"] == "2025.1"
    assert (summary["areas"], summary["competences"], summary["levels"]) == (2, 3, ["achieved"])
    shown = api.http.get(f"/api/v1/frameworks/{quote(CASE_IRI, safe='')}").json()
    assert [c["id"] for a in shown["areas"] for c in a["competences"]] == [
        f"{CASE_SERVER}/CFItems/5b0a7d2e-1c3f-4a5b-8c6d-7e8f9a0b1c{n:02d}" for n in (3, 4, 5)
    ]


def test_rules_and_status_for_an_imported_case_framework(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(tmp_path, "frameworks", "import", "--case", write(tmp_path, "c.json", case_package())) == 0
    competence = f"{CASE_SERVER}/CFItems/5b0a7d2e-1c3f-4a5b-8c6d-7e8f9a0b1c03"
    post_quiz(api)
    ruleset = rules(CASE_IRI, competence=competence, level="achieved")
    assert cli(tmp_path, "alignments", "import", write(tmp_path, "r.json", ruleset)) == 0
    # one new rule, the one quiz statement among the log's, its one learner
    assert "recomputed: 1 changed rules, 1 of 1 statements, 1 learners" in capsys.readouterr().err
    assert status_of(api, CASE_IRI)["1.1"] == ("achieved", "achieved")


# ------------------------------------------------------------------ CLI: alignments


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"when": {"min_score": 1.5}}, "rules.0.when.min_score"),
        ({"competence": f"{DIGCOMP}/competence/7.1"}, "rules.0.competence"),
        ({"level": "9"}, "rules.0.level"),
        ({"match": {"course": "x"}}, "rules.0.match"),
    ],
)
def test_cli_refuses_bad_alignment_rules_naming_the_field(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any],
    field: str,
) -> None:  # fmt: skip
    path = write(tmp_path, "rules.json", rules(**change))
    assert cli(tmp_path, "alignments", "import", path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert field in err
    assert cli(tmp_path, "alignments", "list") == 0
    assert capsys.readouterr().out == ""  # nothing was stored


def test_cli_refuses_an_alignment_file_for_an_unknown_framework(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "rules.json", rules("https://example.org/fw"))
    assert cli(tmp_path, "alignments", "import", path) == 2
    assert "(at framework)" in capsys.readouterr().err


def test_cli_refuses_an_unreadable_alignment_file(api: APIClient, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        cli(tmp_path, "alignments", "import", write(tmp_path, "broken.json", "{not json"))
    assert "is not JSON" in str(caught.value.code)
    with pytest.raises(SystemExit) as caught:
        cli(tmp_path, "alignments", "import", str(tmp_path / "missing.json"))
    assert "cannot read" in str(caught.value.code)


def test_cli_imports_alignment_rules_and_rebuilds(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    post_quiz(api)
    catch_up(store, reducers(store))
    assert status_of(api)["1.1"] == ("not_started", None)  # no rules yet: no evidence

    assert cli(tmp_path, "alignments", "import", write(tmp_path, "rules.json", rules())) == 0
    captured = capsys.readouterr()
    assert f"imported rule set grade-10: 1 rules for {DIGCOMP}" in captured.out
    assert "recomputed: 1 changed rules, 1 of 1 statements, 1 learners (1 states)" in captured.err
    # the statement stored before the rules now counts, without any processor running
    assert status_of(api)["1.1"] == ("achieved", "3")

    assert cli(tmp_path, "alignments", "list") == 0
    assert capsys.readouterr().out.strip() == f"grade-10  framework {DIGCOMP}  1 rules"


def test_cli_imports_alignment_rules_without_rebuilding(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = api.http.app.state.store  # type: ignore[attr-defined]
    post_quiz(api)
    catch_up(store, reducers(store))
    path = write(tmp_path, "rules.json", rules())
    assert cli(tmp_path, "alignments", "import", path, "--no-rebuild") == 0
    assert "lrs rebuild competencies" in capsys.readouterr().out
    assert status_of(api)["1.1"] == ("not_started", None)  # old evidence keeps the old rules
    # new statements use the new rules at once
    post_quiz(api, QUIZ + "search-advanced")
    catch_up(store, reducers(store))
    assert status_of(api)["1.1"] == ("achieved", "3")
    # changing the rules (level 3 -> 2) and rebuilding re-evaluates everything
    assert cli(tmp_path, "alignments", "import", write(tmp_path, "r2.json", rules(level="2"))) == 0
    assert status_of(api)["1.1"] == ("achieved", "2")
    assert cli(tmp_path, "rebuild", "nothing-such") == 2


@pytest.mark.parametrize("value", ["42", '"a framework"', "[]", "null"])
def test_cli_refuses_a_framework_file_that_is_not_an_object(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "odd.json", value)) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cli_refuses_a_framework_version_that_breaks_stored_rules(
    api: APIClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rules in force refer to a competence; a new version without it would stop every
    competencies processor (the rules no longer load), so the import is refused."""
    store = api.http.app.state.store  # type: ignore[attr-defined]
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "v1.json", our_framework())) == 0
    ruleset = rules(OURS, competence=f"{OURS}/c/1.2", level="M2")
    assert cli(tmp_path, "alignments", "import", write(tmp_path, "r.json", ruleset)) == 0
    capsys.readouterr()
    shrunk = our_framework("2")
    del shrunk["areas"][0]["competences"][1]
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "v2.json", shrunk)) == 2
    err = capsys.readouterr().err
    assert "grade-10" in err and f"{OURS}/c/1.2" in err
    assert listed(api)[OURS]["version"] == "1"  # the old version stays in force
    post_quiz(api)
    catch_up(store, reducers(store))  # the processors still run
    assert status_of(api, OURS)["1.2"] == ("achieved", "M2")
    # a version that keeps what the rules use is fine
    renamed = our_framework("3")
    renamed["areas"][0]["competences"][1]["name"] = {"en": "Check where a story comes from"}
    assert cli(tmp_path, "frameworks", "import", write(tmp_path, "v3.json", renamed)) == 0
    assert listed(api)[OURS]["version"] == "3"
