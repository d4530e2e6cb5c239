"""Competency frameworks: bundled data, the loader's refusals, and the CASE importer."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from lrs.competency.case import DEFAULT_LEVELS, import_case
from lrs.competency.framework import (
    Framework,
    bundled_frameworks,
    framework_schema,
    load_framework,
)
from lrs.xapi.errors import ValidationError

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
DIGCOMP_CODES = [
    "1.1", "1.2", "1.3",
    "2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
    "3.1", "3.2", "3.3", "3.4",
    "4.1", "4.2", "4.3", "4.4",
    "5.1", "5.2", "5.3", "5.4",
]  # fmt: skip


@pytest.fixture(scope="module")
def bundled() -> dict[str, Framework]:
    return bundled_frameworks()


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A small valid framework, mutated by the refusal tests."""
    base = "https://example.org/fw"
    return {
        "id": base,
        "version": "1",
        "title": {"en": "Example"},
        "source": {"publisher": "Example Org", "document": "Example framework"},
        "levels": [
            {"id": f"{base}/level/{r}", "code": f"L{r}", "rank": r, "name": {"en": f"Level {r}"}}
            for r in (1, 2, 3)
        ],
        "areas": [
            {
                "id": f"{base}/area/1",
                "code": "1",
                "name": {"en": "Area one"},
                "competences": [
                    {"id": f"{base}/c/1.1", "code": "1.1", "name": {"en": "First"}},
                    {"id": f"{base}/c/1.2", "code": "1.2", "name": {"en": "Second"}},
                ],
            }
        ],
    }


def refusal(data: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_framework(data)
    return caught.value


# ----------------------------------------------------------------------- schema and bundled


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(dict(framework_schema()))


def test_bundled_frameworks_load(bundled: dict[str, Framework]) -> None:
    assert set(bundled) == {"digcomp-2.2", "vn-circular-02-2025", "vn-decision-757-2025"}
    assert bundled["digcomp-2.2"].id == DIGCOMP
    assert bundled["vn-circular-02-2025"].id == CIRCULAR
    for framework in bundled.values():
        assert framework.source.publisher and framework.source.document
        assert {"en", "vi"} <= set(framework.title)
        for competence in framework.competences:
            assert {"en", "vi"} <= set(competence.name)
            assert competence.id.startswith(framework.id + "/competence/")


def test_bundled_frameworks_are_cached_but_the_dict_is_a_copy() -> None:
    first = bundled_frameworks()
    first.clear()
    again = bundled_frameworks()
    assert len(again) == 3
    assert again["digcomp-2.2"] is bundled_frameworks()["digcomp-2.2"]


def test_digcomp_structure(bundled: dict[str, Framework]) -> None:
    digcomp = bundled["digcomp-2.2"]
    assert digcomp.version == "2.2"
    assert [a.code for a in digcomp.areas] == ["1", "2", "3", "4", "5"]
    assert [a.name["en"] for a in digcomp.areas] == [
        "Information and data literacy",
        "Communication and collaboration",
        "Digital content creation",
        "Safety",
        "Problem solving",
    ]
    assert [c.code for c in digcomp.competences] == DIGCOMP_CODES
    assert [len(a.competences) for a in digcomp.areas] == [3, 6, 4, 4, 4]
    first = digcomp.competence(f"{DIGCOMP}/competence/1.1")
    assert first is not None
    assert (
        first.name["en"]
        == "Browsing, searching and filtering data, information and digital content"
    )
    assert first.area.code == "1"
    assert digcomp.competence_by_code("5.4").name["en"] == "Identifying digital competence gaps"
    # every competence sits under the area its code says
    for area in digcomp.areas:
        assert all(c.code.split(".")[0] == area.code for c in area.competences)


def test_digcomp_levels_and_bands(bundled: dict[str, Framework]) -> None:
    digcomp = bundled["digcomp-2.2"]
    assert [lv.code for lv in digcomp.levels] == [str(r) for r in range(1, 9)]
    assert [lv.rank for lv in digcomp.levels] == list(range(1, 9))
    assert list(digcomp.levels_by_rank) == list(range(1, 9))
    bands = [lv.band.name["en"] for lv in digcomp.levels if lv.band]
    assert (
        bands
        == ["Foundation"] * 2 + ["Intermediate"] * 2 + ["Advanced"] * 2 + ["Highly specialised"] * 2
    )
    assert digcomp.level("5") is digcomp.level(f"{DIGCOMP}/level/5")
    assert digcomp.level("9") is None
    assert digcomp.lowest_level.rank == 1 and digcomp.highest_level.rank == 8


def test_circular_02_structure(bundled: dict[str, Framework]) -> None:
    circular = bundled["vn-circular-02-2025"]
    assert [a.code for a in circular.areas] == ["1", "2", "3", "4", "5", "6"]
    assert len(circular.competences) == 24
    assert [c.code for c in circular.competences] == DIGCOMP_CODES + ["6.1", "6.2", "6.3"]
    assert circular.area("6").name["vi"] == "Ứng dụng trí tuệ nhân tạo"
    assert [c.name["en"] for c in circular.area("6").competences] == [
        "Understanding artificial intelligence",
        "Using artificial intelligence",
        "Evaluating artificial intelligence",
    ]
    assert [lv.code for lv in circular.levels] == [
        "CB1", "CB2", "TC1", "TC2", "NC1", "NC2", "CS1", "CS2",
    ]  # fmt: skip
    assert [lv.rank for lv in circular.levels] == list(range(1, 9))
    assert [lv.band.name["vi"] for lv in circular.levels if lv.band] == [
        "Cơ bản", "Cơ bản", "Trung cấp", "Trung cấp",
        "Nâng cao", "Nâng cao", "Chuyên sâu", "Chuyên sâu",
    ]  # fmt: skip
    assert circular.level("NC1").rank > circular.level("TC2").rank


def test_circular_02_marks_unverified_wording(bundled: dict[str, Framework]) -> None:
    """The Vietnamese names were written without the annex: they must say so."""
    circular = bundled["vn-circular-02-2025"]
    assert all(c.verify for c in circular.competences)
    assert not any(c.verify for c in bundled["digcomp-2.2"].competences)
    vi = next(t for t in bundled["digcomp-2.2"].translations if t.language == "vi")
    assert vi.official is False


def test_every_crosswalk_target_exists(bundled: dict[str, Framework]) -> None:
    by_competence = {
        c.id: framework for framework in bundled.values() for c in framework.competences
    }
    walks = [(f, w) for f in bundled.values() for w in f.crosswalks]
    assert walks, "Circular 02 must crosswalk to DigComp"
    for framework, walk in walks:
        assert framework.competence(walk.from_iri) is not None
        target = by_competence.get(walk.to_iri)
        assert target is not None, walk.to_iri
        assert target.id != framework.id


def test_circular_02_crosswalks_match_digcomp_codes(bundled: dict[str, Framework]) -> None:
    circular = bundled["vn-circular-02-2025"]
    digcomp = bundled["digcomp-2.2"]
    pairs = {
        (circular.competence(w.from_iri).code, digcomp.competence(w.to_iri).code)
        for w in circular.crosswalks
        if w.relation == "exactMatch"
    }
    assert pairs == {(code, code) for code in DIGCOMP_CODES}
    assert circular.crosswalks_from(f"{CIRCULAR}/competence/6.1") == ()


def test_round_trip(bundled: dict[str, Framework]) -> None:
    for framework in bundled.values():
        assert load_framework(framework.as_dict()) == framework
        json.dumps(framework.as_dict())  # plain JSON types only


# ----------------------------------------------------------------------- refusals


def test_minimal_framework_loads(minimal: dict[str, Any]) -> None:
    framework = load_framework(minimal)
    assert framework.competence("https://example.org/fw/c/1.2").area.code == "1"
    assert framework.competence("https://example.org/fw/c/9") is None


def test_duplicate_competence_id_is_refused(minimal: dict[str, Any]) -> None:
    competences = minimal["areas"][0]["competences"]
    competences[1]["id"] = competences[0]["id"]
    error = refusal(minimal)
    assert error.field == "areas[0].competences[1].id"
    assert "areas[0].competences[0].id" in error.message


def test_id_shared_between_area_and_competence_is_refused(minimal: dict[str, Any]) -> None:
    minimal["areas"][0]["competences"][0]["id"] = minimal["areas"][0]["id"]
    assert refusal(minimal).field == "areas[0].competences[0].id"


def test_duplicate_competence_code_is_refused(minimal: dict[str, Any]) -> None:
    minimal["areas"].append(
        {
            "id": "https://example.org/fw/area/2",
            "code": "2",
            "name": {"en": "Area two"},
            "competences": [
                {"id": "https://example.org/fw/c/2.1", "code": "1.1", "name": {"en": "Dup"}}
            ],
        }
    )
    assert refusal(minimal).field == "areas[1].competences[0].code"


def test_gap_in_level_ranks_is_refused(minimal: dict[str, Any]) -> None:
    minimal["levels"][2]["rank"] = 4
    error = refusal(minimal)
    assert error.field == "levels[2].rank"
    assert "must be 3" in error.message


def test_levels_out_of_order_are_refused(minimal: dict[str, Any]) -> None:
    levels = minimal["levels"]
    levels[0], levels[1] = levels[1], levels[0]
    assert refusal(minimal).field == "levels[0].rank"


def test_missing_name_is_refused(minimal: dict[str, Any]) -> None:
    del minimal["areas"][0]["competences"][1]["name"]
    error = refusal(minimal)
    assert error.field == "areas[0].competences[1].name"
    assert error.message.endswith("is required")


def test_empty_language_map_is_refused(minimal: dict[str, Any]) -> None:
    minimal["title"] = {}
    assert refusal(minimal).field == "title"


def test_relative_iri_is_refused(minimal: dict[str, Any]) -> None:
    minimal["areas"][0]["competences"][0]["id"] = "competence/1.1"
    error = refusal(minimal)
    assert error.field == "areas[0].competences[0].id"
    assert "IRI" in error.message


def test_unknown_property_is_refused(minimal: dict[str, Any]) -> None:
    minimal["areas"][0]["colour"] = "red"
    assert refusal(minimal).field == "areas[0].colour"


def test_non_consecutive_band_is_refused(minimal: dict[str, Any]) -> None:
    a = {"code": "a", "name": {"en": "A"}}
    b = {"code": "b", "name": {"en": "B"}}
    for level, band in zip(minimal["levels"], (a, b, a), strict=True):
        level["band"] = band
    assert refusal(minimal).field == "levels[2].band"


def test_crosswalk_from_outside_is_refused(minimal: dict[str, Any]) -> None:
    minimal["crosswalks"] = [
        {"from": "https://other.example/c/1", "to": "https://other.example/c/2",
         "relation": "exactMatch"}
    ]  # fmt: skip
    assert refusal(minimal).field == "crosswalks[0].from"


def test_crosswalk_inside_the_framework_is_refused(minimal: dict[str, Any]) -> None:
    minimal["crosswalks"] = [
        {"from": "https://example.org/fw/c/1.1", "to": "https://example.org/fw/c/1.2",
         "relation": "related"}
    ]  # fmt: skip
    assert refusal(minimal).field == "crosswalks[0].to"


def test_crosswalk_target_must_be_an_iri(minimal: dict[str, Any]) -> None:
    minimal["crosswalks"] = [
        {"from": "https://example.org/fw/c/1.1", "to": "not an iri", "relation": "related"}
    ]
    assert refusal(minimal).field == "crosswalks[0].to"


def test_crosswalk_relation_is_an_enum(minimal: dict[str, Any]) -> None:
    minimal["crosswalks"] = [
        {"from": "https://example.org/fw/c/1.1", "to": "https://x.example/c", "relation": "broader"}
    ]
    assert refusal(minimal).field == "crosswalks[0].relation"


def test_non_object_is_refused() -> None:
    with pytest.raises(ValidationError):
        load_framework([])  # type: ignore[arg-type]


# ----------------------------------------------------------------------- CASE import

SERVER = "https://case.example.edu/ims/case/v1p0"
DOC_ID = "9a1c1f7e-6d2b-4e0a-9f3b-000000000001"


def _ref(kind: str, identifier: str, title: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": f"{SERVER}/{kind}/{identifier}"}


def _item(identifier: str, code: str, statement: str, item_type: str) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "uri": f"{SERVER}/CFItems/{identifier}",
        "lastChangeDateTime": "2025-02-10T08:00:00+00:00",
        "CFDocumentURI": _ref("CFDocuments", DOC_ID, "Digital skills for pupils"),
        "humanCodingScheme": code,
        "fullStatement": statement,
        "CFItemType": item_type,
    }


def _association(
    identifier: str, kind: str, origin: dict[str, str], destination: dict[str, str],
    sequence: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    association: dict[str, Any] = {
        "identifier": identifier,
        "uri": f"{SERVER}/CFAssociations/{identifier}",
        "lastChangeDateTime": "2025-02-10T08:00:00+00:00",
        "CFDocumentURI": _ref("CFDocuments", DOC_ID, "Digital skills for pupils"),
        "associationType": kind,
        "originNodeURI": origin,
        "destinationNodeURI": destination,
    }
    if sequence is not None:
        association["sequenceNumber"] = sequence
    return association


def case_package() -> dict[str, Any]:
    """A realistic CASE 1.0 package: a document, 2 areas, 4 competences, one indicator
    under a competence, one exactMatchOf to DigComp and one isRelatedTo to elsewhere.
    Children are listed out of order so sequenceNumber must be honoured."""
    doc = _ref("CFDocuments", DOC_ID, "Digital skills for pupils")
    ids = {name: f"9a1c1f7e-6d2b-4e0a-9f3b-0000000001{n:02d}" for n, name in enumerate(
        ["A1", "A2", "C11", "C12", "C21", "C22", "I111"], start=1)}  # fmt: skip
    items = [
        _item(ids["A1"], "1", "Information and data", "Domain"),
        _item(ids["A2"], "2", "Safety", "Domain"),
        _item(ids["C12"], "1.2", "Evaluate information found online", "Competency"),
        _item(ids["C11"], "1.1", "Search for information online", "Competency"),
        _item(ids["C21"], "2.1", "Protect devices", "Competency"),
        _item(ids["C22"], "2.2", "Protect personal data", "Competency"),
        _item(ids["I111"], "1.1.a", "Use keywords in a search engine", "Indicator"),
    ]
    ref = {k: _ref("CFItems", v, k) for k, v in ids.items()}
    associations = [
        _association("a0000000-0000-0000-0000-000000000001", "isChildOf", ref["A2"], doc, 2),
        _association("a0000000-0000-0000-0000-000000000002", "isChildOf", ref["A1"], doc, 1),
        _association("a0000000-0000-0000-0000-000000000003", "isChildOf", ref["C12"], ref["A1"], 2),
        _association("a0000000-0000-0000-0000-000000000004", "isChildOf", ref["C11"], ref["A1"], 1),
        _association("a0000000-0000-0000-0000-000000000005", "isChildOf", ref["C21"], ref["A2"], 1),
        _association("a0000000-0000-0000-0000-000000000006", "isChildOf", ref["C22"], ref["A2"], 2),
        _association(
            "a0000000-0000-0000-0000-000000000007", "isChildOf", ref["I111"], ref["C11"], 1
        ),
        _association(
            "a0000000-0000-0000-0000-000000000008",
            "exactMatchOf",
            ref["C11"],
            {"title": "1.1", "identifier": "digcomp-1.1", "uri": f"{DIGCOMP}/competence/1.1"},
        ),
        # direction reversed on purpose: the outside node is the origin
        _association(
            "a0000000-0000-0000-0000-000000000009",
            "isRelatedTo",
            {"title": "4.1", "identifier": "digcomp-4.1", "uri": f"{DIGCOMP}/competence/4.1"},
            ref["C21"],
        ),
        # within the document: not a crosswalk
        _association("a0000000-0000-0000-0000-000000000010", "isRelatedTo", ref["C12"], ref["C22"]),
        _association("a0000000-0000-0000-0000-000000000011", "precedes", ref["C11"], ref["C12"]),
    ]
    return {
        "CFPackage": {
            "CFDocument": {
                "identifier": DOC_ID,
                "uri": doc["uri"],
                "creator": "Example Education Department",
                "publisher": "Example Education Department",
                "title": "Digital skills for pupils",
                "description": "Digital skills expected of pupils.",
                "officialSourceURL": "https://education.example.gov/digital-skills",
                "language": "en",
                "version": "1.0",
                "adoptionStatus": "Implemented",
                "statusStartDate": "2025-01-15",
                "lastChangeDateTime": "2025-02-10T08:00:00+00:00",
                "licenseURI": _ref(
                    "CFLicenses", "l0000000-0000-0000-0000-000000000001", "CC BY 4.0"
                ),
                "CFPackageURI": _ref("CFPackages", DOC_ID, "Digital skills for pupils"),
            },
            "CFItems": items,
            "CFAssociations": associations,
            "CFDefinitions": {
                "CFConcepts": [],
                "CFSubjects": [],
                "CFLicenses": [
                    {
                        "identifier": "l0000000-0000-0000-0000-000000000001",
                        "uri": f"{SERVER}/CFLicenses/l0000000-0000-0000-0000-000000000001",
                        "title": "Creative Commons Attribution 4.0",
                        "licenseText": "https://creativecommons.org/licenses/by/4.0/",
                        "lastChangeDateTime": "2025-02-10T08:00:00+00:00",
                    }
                ],
                "CFItemTypes": [],
                "CFAssociationGroupings": [],
            },
        }
    }


def test_case_import_gives_the_expected_framework(bundled: dict[str, Framework]) -> None:
    data = import_case(case_package())
    item = f"{SERVER}/CFItems/9a1c1f7e-6d2b-4e0a-9f3b-0000000001"
    assert data["id"] == f"{SERVER}/CFDocuments/{DOC_ID}"
    assert data["version"] == "1.0"
    assert data["title"] == {"en": "Digital skills for pupils"}
    assert data["description"] == {"en": "Digital skills expected of pupils."}
    assert data["source"] == {
        "publisher": "Example Education Department",
        "document": "Digital skills for pupils",
        "url": "https://education.example.gov/digital-skills",
        "date": "2025-01-15",
    }
    assert data["licence"] == "Creative Commons Attribution 4.0"
    assert data["levels"] == list(DEFAULT_LEVELS)
    assert data["areas"] == [
        {
            "id": f"{item}01",
            "code": "1",
            "name": {"en": "Information and data"},
            "competences": [
                {
                    "id": f"{item}03",
                    "code": "1.1",
                    "name": {"en": "Search for information online"},
                    "narrower": [
                        {
                            "id": f"{item}07",
                            "code": "1.1.a",
                            "name": {"en": "Use keywords in a search engine"},
                        }
                    ],
                },
                {
                    "id": f"{item}04",
                    "code": "1.2",
                    "name": {"en": "Evaluate information found online"},
                },
            ],
        },
        {
            "id": f"{item}02",
            "code": "2",
            "name": {"en": "Safety"},
            "competences": [
                {"id": f"{item}05", "code": "2.1", "name": {"en": "Protect devices"}},
                {"id": f"{item}06", "code": "2.2", "name": {"en": "Protect personal data"}},
            ],
        },
    ]
    assert data["crosswalks"] == [
        {"from": f"{item}03", "to": f"{DIGCOMP}/competence/1.1", "relation": "exactMatch"},
        {"from": f"{item}05", "to": f"{DIGCOMP}/competence/4.1", "relation": "related"},
    ]

    framework = load_framework(data)
    assert len(framework.areas) == 2 and len(framework.competences) == 4
    assert framework.resolve(f"{item}07") is framework.competence(f"{item}03")
    assert framework.competence(f"{item}07") is None
    digcomp = bundled["digcomp-2.2"]
    for walk in framework.crosswalks:
        assert digcomp.competence(walk.to_iri) is not None


def test_case_import_uses_the_callers_levels(bundled: dict[str, Framework]) -> None:
    levels = bundled["vn-circular-02-2025"].as_dict()["levels"]
    data = import_case(case_package()["CFPackage"], levels=levels)
    assert data["levels"] == levels
    levels[0]["code"] = "changed"  # the result must not share the caller's dicts
    assert data["levels"][0]["code"] == "CB1"
    assert [lv.code for lv in load_framework(data).levels][:2] == ["CB1", "CB2"]


def test_case_import_of_a_flat_document() -> None:
    package = case_package()["CFPackage"]
    doc = _ref("CFDocuments", DOC_ID, "Digital skills for pupils")
    package["CFAssociations"] = [
        _association(f"b0000000-0000-0000-0000-00000000000{n}", "isChildOf",
                     _ref("CFItems", item["identifier"], item["humanCodingScheme"]), doc, n)
        for n, item in enumerate(package["CFItems"][2:6], start=1)
    ]  # fmt: skip
    data = import_case(package)
    assert len(data["areas"]) == 1
    assert data["areas"][0]["id"].startswith("urn:uuid:")
    assert data["areas"][0]["id"] == import_case(package)["areas"][0]["id"]  # stable
    assert [c["code"] for c in data["areas"][0]["competences"]] == ["1.2", "1.1", "2.1", "2.2"]
    load_framework(data)


def test_case_import_without_language_is_undetermined() -> None:
    package = copy.deepcopy(case_package())
    del package["CFPackage"]["CFDocument"]["language"]
    assert import_case(package)["title"] == {"und": "Digital skills for pupils"}
    assert import_case(package, language="vi")["title"] == {"vi": "Digital skills for pupils"}


def test_case_import_refuses_a_package_without_a_tree() -> None:
    package = case_package()["CFPackage"]
    package["CFAssociations"] = []
    with pytest.raises(ValidationError) as caught:
        import_case(package)
    assert caught.value.field == "CFAssociations"


def test_case_import_refuses_a_missing_document() -> None:
    with pytest.raises(ValidationError) as caught:
        import_case({"CFPackage": {"CFItems": []}})
    assert caught.value.field == "CFPackage.CFDocument"


def test_case_import_refuses_an_item_without_statement() -> None:
    package = case_package()
    del package["CFPackage"]["CFItems"][3]["fullStatement"]
    with pytest.raises(ValidationError) as caught:
        import_case(package)
    assert caught.value.field == "CFPackage.CFItems[3].fullStatement"
