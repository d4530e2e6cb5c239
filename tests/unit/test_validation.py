"""Statement validation against xAPI 1.0.3 and 2.0: real statements in, accept or a named field out."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lrs.xapi.errors import ValidationError
from lrs.xapi.time import format_timestamp, normalize_timestamp, parse_timestamp
from lrs.xapi.validation import (
    SCHEMA_DIR,
    schema_for,
    validate_agent,
    validate_duration,
    validate_iri,
    validate_language_tag,
    validate_statement,
    validate_statement_batch,
    validate_uuid,
)

V1 = "1.0.3"
V2 = "2.0.0"
BOTH = pytest.mark.parametrize("version", [V1, V2])

AGENT = {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.com"}
ACTIVITY = {"objectType": "Activity", "id": "http://example.com/activities/meeting"}
STATEMENT_ID = "6690e6c9-3ef0-4ed3-8b37-7f3964730bee"
OTHER_ID = "8f87ccde-bb56-4c2e-ab83-44982ef22df0"
SHA256 = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"


def statement(**overrides: Any) -> dict[str, Any]:
    """A minimal valid statement, with top-level properties replaced or added."""
    base: dict[str, Any] = {
        "actor": copy.deepcopy(AGENT),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attended", "display": {"en-US": "attended"}},
        "object": copy.deepcopy(ACTIVITY),
    }
    base.update(copy.deepcopy(overrides))
    return base


def substatement(**overrides: Any) -> dict[str, Any]:
    sub = statement(**overrides)
    sub["objectType"] = "SubStatement"
    return sub


def rejected(candidate: object, version: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_statement(candidate, version)
    return info.value


def assert_rejected(candidate: object, version: str, field: str | None) -> ValidationError:
    error = rejected(candidate, version)
    assert error.field == field, error.message
    assert error.code == "invalid"
    if field:
        assert error.message.startswith(f"{field}: ")
    return error


def with_(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy of `base` (default: the minimal statement) with a dotted path set."""
    target = copy.deepcopy(base) if base is not None else statement()
    node = target
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = copy.deepcopy(value)
    return target


def without(path: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    target = copy.deepcopy(base) if base is not None else statement()
    node = target
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]
    return target


# ----------------------------------------------------------------------------- schemas


@pytest.mark.parametrize(
    "name", ["xapi-statement-1.0.3.schema.json", "xapi-statement-2.0.schema.json"]
)
def test_published_schemas_are_valid_draft7(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["additionalProperties"] is False


def test_schema_for_selects_by_major_version() -> None:
    assert "contextAgents" in schema_for("2.0.0")["definitions"]["context"]["properties"]
    assert "contextAgents" not in schema_for("1.0.3")["definitions"]["context"]["properties"]
    assert schema_for("1.0.0") is schema_for("1.0.3")


def test_schema_directory_ships_in_the_package_and_is_published_at_the_root() -> None:
    root = Path(__file__).resolve().parents[2]
    assert SCHEMA_DIR == root / "lrs" / "schemas"  # package data: works in an installed wheel
    assert (root / "schemas").resolve() == SCHEMA_DIR  # `schemas/` is a link to it


# --------------------------------------------------------------------- accepted shapes


@BOTH
def test_minimal_statement_is_accepted(version: str) -> None:
    validate_statement(statement(), version)


@BOTH
def test_full_statement_is_accepted(version: str) -> None:
    full = statement(
        id=STATEMENT_ID,
        actor={
            "objectType": "Group",
            "name": "Team",
            "member": [AGENT, {"account": {"homePage": "http://example.com", "name": "u1"}}],
        },
        object={
            "objectType": "Activity",
            "id": "http://example.com/q/1",
            "definition": {
                "name": {"en-US": "Question", "zh-Hant-TW": "問題"},
                "description": {"de-DE": ""},
                "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
                "moreInfo": "https://example.com/q/1",
                "interactionType": "choice",
                "correctResponsesPattern": ["a[,]b"],
                "choices": [
                    {"id": "a", "description": {"en-US": "A"}},
                    {"id": "b", "description": {"en-US": "B"}},
                ],
                "extensions": {"http://example.com/ext": {"nested": [1, None]}},
            },
        },
        result={
            "score": {"scaled": -1.0, "raw": 0, "min": 0, "max": 10.5},
            "success": False,
            "completion": True,
            "response": "a[,]b",
            "duration": "P1DT12H36M0.12567S",
            "extensions": {"urn:example:ext": None},
        },
        context={
            "registration": "EC531277-B57B-4C15-8D91-D292C5B2B8F7",
            "instructor": {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
            "team": {"objectType": "Group", "openid": "http://openid.example.org/team"},
            "contextActivities": {
                "parent": ACTIVITY,
                "grouping": [ACTIVITY, {"id": "http://example.com/course"}],
                "category": [{"id": "http://example.com/profile", "definition": {}}],
                "other": [],
            },
            "revision": "r2",
            "platform": "web",
            "language": "sr-Latn-RS",
            "statement": {"objectType": "StatementRef", "id": OTHER_ID},
            "extensions": {"http://example.com/ctx": ""},
        },
        timestamp="2023-05-04T12:00:00.123-05:00",
        stored="2023-05-04T17:00:00.000Z",
        authority={
            "objectType": "Group",
            "member": [
                {"account": {"homePage": "http://example.com/oauth", "name": "consumer"}},
                {"mbox": "mailto:user@example.com"},
            ],
        },
        version="1.0.3",
        attachments=[
            {
                "usageType": "http://adlnet.gov/expapi/attachments/signature",
                "display": {"en-US": "Signature"},
                "description": {"en-US": "JWS"},
                "contentType": "application/octet-stream",
                "length": 4235,
                "sha2": SHA256,
                "fileUrl": "https://files.example.com/sig",
            }
        ],
    )
    validate_statement(full, version)


@BOTH
@pytest.mark.parametrize(
    ("interaction", "components"),
    [
        ("true-false", {}),
        ("choice", {"choices": [{"id": "a"}]}),
        ("sequencing", {"choices": [{"id": "a"}, {"id": "b"}]}),
        ("fill-in", {}),
        ("long-fill-in", {}),
        ("likert", {"scale": [{"id": "1"}]}),
        ("matching", {"source": [{"id": "s"}], "target": [{"id": "t"}]}),
        ("performance", {"steps": [{"id": "s1"}]}),
        ("numeric", {}),
        ("other", {}),
    ],
)
def test_each_interaction_type_with_its_components(
    version: str, interaction: str, components: dict[str, Any]
) -> None:
    definition = {"interactionType": interaction, "correctResponsesPattern": ["x"], **components}
    validate_statement(with_("object.definition", definition), version)


@BOTH
@pytest.mark.parametrize(
    "target",
    [
        {"objectType": "Agent", "mbox": "mailto:bob@example.com"},
        {"objectType": "Group", "member": [AGENT]},
        {"objectType": "StatementRef", "id": OTHER_ID},
        substatement(),
        {"id": "urn:uuid:6690e6c9-3ef0-4ed3-8b37-7f3964730bee"},
    ],
)
def test_each_object_kind_is_accepted(version: str, target: dict[str, Any]) -> None:
    validate_statement(statement(object=target), version)


@BOTH
@pytest.mark.parametrize("value", [None, "", {}, True, 12345, [1, 2]])
def test_extension_values_may_be_anything(version: str, value: Any) -> None:
    validate_statement(with_("result.extensions", {"http://example.com/ex": value}), version)


@BOTH
@pytest.mark.parametrize(
    "tag",
    [
        "de",
        "de-DE",
        "zh-Hant",
        "sr-Latn-RS",
        "cmn",
        "es-419",
        "de-CH-1901",
        "x-klingon",
        "i-klingon",
        "en-a-bbb-x-private",
        "tlh",
    ],
)
def test_language_tags_of_rfc5646_shape_are_accepted(version: str, tag: str) -> None:
    validate_statement(with_("verb.display", {tag: "attended"}), version)
    validate_statement(with_("context.language", tag), version)


@BOTH
@pytest.mark.parametrize(
    "duration",
    [
        "PT1H0M0S",
        "PT1H0M0.1S",
        "PT16559.14S",
        "P3Y1M29DT4H35M59.14S",
        "P3Y",
        "P4W",
        "PT0S",
        "P1DT12H36M0.12567S",
    ],
)
def test_durations_accepted(version: str, duration: str) -> None:
    validate_statement(with_("result.duration", duration), version)


@BOTH
def test_voiding_statement_with_statement_ref_is_accepted(version: str) -> None:
    voiding = statement(
        verb={"id": "http://adlnet.gov/expapi/verbs/voided"},
        object={"objectType": "StatementRef", "id": OTHER_ID},
    )
    validate_statement(voiding, version)


@BOTH
@pytest.mark.parametrize("value", ["1.0", "1.0.0", "1.0.9"])
def test_version_1_0_x_accepted(version: str, value: str) -> None:
    validate_statement(statement(version=value), version)


def test_version_2_0_accepted_only_under_2_0() -> None:
    validate_statement(statement(version="2.0.0"), V2)
    assert_rejected(statement(version="2.0.0"), V1, "version")


def test_context_agents_and_groups_under_2_0() -> None:
    context = {
        "contextAgents": [
            {
                "objectType": "contextAgent",
                "agent": {"objectType": "Agent", "mbox": "mailto:p1@example.com"},
                "relevantTypes": ["https://example.com/types/player"],
            }
        ],
        "contextGroups": [
            {
                "objectType": "contextGroup",
                "group": {"objectType": "Group", "mbox": "mailto:t@example.com", "member": [AGENT]},
            }
        ],
    }
    validate_statement(statement(context=context), V2)
    assert_rejected(statement(context=context), V1, "context.contextAgents")


# --------------------------------------------------------------------- statement level


@BOTH
@pytest.mark.parametrize("extra", ["foo", "Actor", "objectType"])
def test_unknown_top_level_property_rejected(version: str, extra: str) -> None:
    assert_rejected(statement(**{extra: "Agent"}), version, extra)


@BOTH
@pytest.mark.parametrize("required", ["actor", "verb", "object"])
def test_required_properties(version: str, required: str) -> None:
    assert_rejected(without(required), version, required)


@BOTH
@pytest.mark.parametrize("body", ["a string", 12, None, []])
def test_statement_must_be_an_object(version: str, body: object) -> None:
    assert_rejected(body, version, None)


@BOTH
@pytest.mark.parametrize(
    "bad", ["AA97B177-9383-4934-8543-0F91A7A028368", "MA97B177-9383-4934-8543-0F91A7A02836", 12345]
)
def test_statement_id_must_be_uuid(version: str, bad: object) -> None:
    assert_rejected(statement(id=bad), version, "id")


@BOTH
@pytest.mark.parametrize("bad", ["should fail", "0.9.9", "1.1.0", 1.0])
def test_bad_version_rejected(version: str, bad: object) -> None:
    assert_rejected(statement(version=bad), version, "version")


# ---------------------------------------------------------------------- actors, IFIs


@BOTH
@pytest.mark.parametrize(
    "second",
    [
        {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
        {"openid": "http://openid.example.org/1"},
        {"account": {"homePage": "http://example.com", "name": "n"}},
    ],
)
def test_two_ifis_rejected(version: str, second: dict[str, Any]) -> None:
    assert_rejected(statement(actor={**AGENT, **second}), version, "actor")


@BOTH
def test_agent_without_ifi_rejected(version: str) -> None:
    error = assert_rejected(statement(actor={"objectType": "Agent", "name": "x"}), version, "actor")
    assert "inverse functional identifier" in error.message


@BOTH
@pytest.mark.parametrize("object_type", ["agent", "group", 123, {"key": "value"}])
def test_actor_object_type_is_case_sensitive(version: str, object_type: object) -> None:
    assert_rejected(with_("actor.objectType", object_type), version, "actor.objectType")


@BOTH
@pytest.mark.parametrize(
    ("prop", "bad"),
    [
        ("mbox", "xapi@adlnet.gov"),
        ("mbox", "mailto:should.fail.com"),
        ("mbox", "http://should.fail.com"),
        ("mbox_sha1sum", "not-a-hash"),
        ("mbox_sha1sum", 12345),
        ("openid", "ab=c://should.fail.com"),
        ("openid", "open.id.com/testUser"),
        ("name", 123),
    ],
)
def test_bad_agent_property_rejected(version: str, prop: str, bad: object) -> None:
    actor = {"objectType": "Agent", "mbox": "mailto:a@example.com"}
    if prop != "name":
        del actor["mbox"]
    actor[prop] = bad
    assert_rejected(statement(actor=actor), version, f"actor.{prop}")


@BOTH
@pytest.mark.parametrize(
    ("account", "field"),
    [
        ({"name": "n"}, "actor.account.homePage"),
        ({"homePage": "http://example.com"}, "actor.account.name"),
        ({"homePage": "homePage.com/u", "name": "n"}, "actor.account.homePage"),
        ({"homePage": "http://example.com", "name": {"key": "v"}}, "actor.account.name"),
        ({"homePage": "http://example.com", "name": "n", "extra": 1}, "actor.account.extra"),
    ],
)
def test_account_object(version: str, account: dict[str, Any], field: str) -> None:
    assert_rejected(statement(actor={"account": account}), version, field)


@BOTH
def test_anonymous_group_needs_members(version: str) -> None:
    assert_rejected(statement(actor={"objectType": "Group", "name": "g"}), version, "actor")


@BOTH
def test_group_members_must_be_agents(version: str) -> None:
    nested = {"objectType": "Group", "member": [{"objectType": "Group", "member": [AGENT]}]}
    assert_rejected(statement(actor=nested), version, "actor.member[0].objectType")


@BOTH
def test_group_member_must_be_array(version: str) -> None:
    group = {"objectType": "Group", "member": AGENT}
    assert_rejected(statement(actor=group), version, "actor.member")


@BOTH
def test_identified_group_with_two_ifis_rejected(version: str) -> None:
    group = {
        "objectType": "Group",
        "mbox": "mailto:g@example.com",
        "openid": "http://o.example.com",
    }
    assert_rejected(statement(actor=group), version, "actor")


# ------------------------------------------------------------------------ authority


@BOTH
def test_authority_agent_accepted(version: str) -> None:
    validate_statement(statement(authority=AGENT), version)


@BOTH
@pytest.mark.parametrize("members", [1, 3])
def test_authority_group_needs_exactly_two_members(version: str, members: int) -> None:
    group = {
        "objectType": "Group",
        "member": [{"mbox": f"mailto:m{i}@example.com"} for i in range(members)],
    }
    assert_rejected(statement(authority=group), version, "authority.member")


@BOTH
def test_authority_group_must_be_anonymous(version: str) -> None:
    group = {
        "objectType": "Group",
        "mbox": "mailto:xapigroup@example.com",
        "member": [{"mbox": "mailto:a@example.com"}, {"mbox": "mailto:b@example.com"}],
    }
    assert_rejected(statement(authority=group), version, "authority")


# ----------------------------------------------------------------------------- verb


@BOTH
@pytest.mark.parametrize(
    ("verb", "field"),
    [
        ({"display": {"en-US": "x"}}, "verb.id"),
        ({"id": "ab=c://should.fail.com"}, "verb.id"),
        ({"id": "adlnet.gov/expapi/verbs/attended"}, "verb.id"),
        ({"id": "http://example.com/v", "display": "attended"}, "verb.display"),
        ({"id": "http://example.com/v", "display": {"a12345678": "x"}}, "verb.display"),
        ({"id": "http://example.com/v", "display": {"en-US": 1}}, "verb.display.en-US"),
        ({"id": "http://example.com/v", "display": {"en_US": "x"}}, "verb.display"),
        ({"id": "http://example.com/v", "extra": "x"}, "verb.extra"),
    ],
)
def test_verb_rules(version: str, verb: dict[str, Any], field: str) -> None:
    assert_rejected(statement(verb=verb), version, field)


# --------------------------------------------------------------------------- object


@BOTH
@pytest.mark.parametrize(
    "object_type", ["activity", "agent", "group", "statementref", "substatement", "Person"]
)
def test_object_type_case_sensitive(version: str, object_type: str) -> None:
    assert_rejected(with_("object.objectType", object_type), version, "object.objectType")


@BOTH
@pytest.mark.parametrize(
    ("target", "field"),
    [
        ({"objectType": "Activity"}, "object.id"),
        ({"id": "not an iri"}, "object.id"),
        ({"id": "http://example.com/a", "definition": "x"}, "object.definition"),
        (
            {"id": "http://example.com/a", "definition": {"type": "example.com/t"}},
            "object.definition.type",
        ),
        (
            {"id": "http://example.com/a", "definition": {"moreInfo": "x"}},
            "object.definition.moreInfo",
        ),
        ({"id": "http://example.com/a", "definition": {"name": "x"}}, "object.definition.name"),
        (
            {"id": "http://example.com/a", "definition": {"interactionType": "http://x.y/z"}},
            "object.definition.interactionType",
        ),
        (
            {"id": "http://example.com/a", "definition": {"extensions": {"should fail": 1}}},
            "object.definition.extensions",
        ),
        ({"id": "http://example.com/a", "definition": {"unknown": 1}}, "object.definition.unknown"),
    ],
)
def test_activity_rules(version: str, target: dict[str, Any], field: str) -> None:
    assert_rejected(statement(object=target), version, field)


@BOTH
def test_agent_object_needs_object_type(version: str) -> None:
    error = rejected(statement(object={"mbox": "mailto:bob@example.com"}), version)
    assert error.field is not None and error.field.startswith("object")


@BOTH
@pytest.mark.parametrize(
    "components", ["choices", "scale", "source", "target", "steps", "correctResponsesPattern"]
)
def test_interaction_properties_need_interaction_type(version: str, components: str) -> None:
    value = ["x"] if components == "correctResponsesPattern" else [{"id": "x"}]
    error = rejected(with_("object.definition", {components: value}), version)
    assert error.field in ("object.definition", "object.definition.interactionType")


@BOTH
@pytest.mark.parametrize(
    ("interaction", "components"),
    [
        ("likert", "choices"),
        ("choice", "scale"),
        ("true-false", "source"),
        ("sequencing", "target"),
        ("matching", "steps"),
    ],
)
def test_component_list_only_with_matching_interaction_type(
    version: str, interaction: str, components: str
) -> None:
    definition = {"interactionType": interaction, components: [{"id": "x"}]}
    assert_rejected(
        with_("object.definition", definition), version, "object.definition.interactionType"
    )


@BOTH
def test_interaction_component_ids_distinct(version: str) -> None:
    definition = {"interactionType": "choice", "choices": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}
    assert_rejected(
        with_("object.definition", definition), version, "object.definition.choices[2].id"
    )


@BOTH
def test_interaction_component_description_is_language_map(version: str) -> None:
    definition = {
        "interactionType": "likert",
        "scale": [{"id": "1", "description": {"a12345": "x"}}],
    }
    assert_rejected(
        with_("object.definition", definition), version, "object.definition.scale[0].description"
    )


@BOTH
@pytest.mark.parametrize(
    ("ref", "field"),
    [
        ({"objectType": "StatementRef"}, "object.id"),
        ({"objectType": "StatementRef", "id": "should fail"}, "object.id"),
        ({"objectType": "StatementRef", "id": OTHER_ID, "extra": 1}, "object.extra"),
    ],
)
def test_statement_ref_rules(version: str, ref: dict[str, Any], field: str) -> None:
    assert_rejected(statement(object=ref), version, field)


# ---------------------------------------------------------------------- substatement


@BOTH
@pytest.mark.parametrize("forbidden", ["id", "stored", "version", "authority"])
def test_substatement_forbidden_properties(version: str, forbidden: str) -> None:
    values = {
        "id": OTHER_ID,
        "stored": "2015-01-01T00:00:00Z",
        "version": "1.0.0",
        "authority": AGENT,
    }
    sub = substatement(**{forbidden: values[forbidden]})
    assert_rejected(statement(object=sub), version, f"object.{forbidden}")


@BOTH
def test_substatement_cannot_nest(version: str) -> None:
    nested = substatement(object=substatement())
    error = assert_rejected(statement(object=nested), version, "object.object")
    assert "SubStatement" in error.message


@BOTH
@pytest.mark.parametrize("required", ["actor", "verb", "object"])
def test_substatement_required_properties(version: str, required: str) -> None:
    sub = substatement()
    del sub[required]
    assert_rejected(statement(object=sub), version, f"object.{required}")


@BOTH
def test_substatement_rules_apply_inside(version: str) -> None:
    sub = substatement(timestamp="2008-09-15T15:53:00.601-00:00")
    assert_rejected(statement(object=sub), version, "object.timestamp")
    sub = substatement(result={"score": {"raw": 11, "max": 10}})
    assert_rejected(statement(object=sub), version, "object.result.score.raw")
    sub = substatement(
        object={"objectType": "Agent", "mbox": "mailto:b@example.com"}, context={"platform": "x"}
    )
    assert_rejected(statement(object=sub), version, "object.context.platform")


# ------------------------------------------------------------------------- voiding


@BOTH
def test_voiding_requires_statement_ref(version: str) -> None:
    voiding = statement(verb={"id": "http://adlnet.gov/expapi/verbs/voided"})
    error = assert_rejected(voiding, version, "object")
    assert "StatementRef" in error.message


# --------------------------------------------------------------------------- result


@BOTH
@pytest.mark.parametrize(
    ("result", "field"),
    [
        ({"success": "true"}, "result.success"),
        ({"completion": 1}, "result.completion"),
        ({"response": 12345}, "result.response"),
        ({"extensions": "x"}, "result.extensions"),
        ({"extensions": {"example.com/wrong": 1}}, "result.extensions"),
        ({"score": 95}, "result.score"),
        ({"score": {"scaled": 1.01}}, "result.score.scaled"),
        ({"score": {"scaled": -1.00001}}, "result.score.scaled"),
        ({"score": {"raw": 101, "min": 0, "max": 100}}, "result.score.raw"),
        ({"score": {"raw": -1, "min": 0}}, "result.score.raw"),
        ({"score": {"min": 10, "max": 5}}, "result.score.min"),
        ({"score": {"min": 5, "max": 5}}, "result.score.min"),
        ({"score": {"raw": "95"}}, "result.score.raw"),
        ({"score": {"weighted": 1}}, "result.score.weighted"),
        ({"unknown": 1}, "result.unknown"),
    ],
)
def test_result_rules(version: str, result: dict[str, Any], field: str) -> None:
    assert_rejected(statement(result=result), version, field)


@BOTH
@pytest.mark.parametrize(
    "duration",
    [
        "should fail",
        "PA1H0M0S",
        "P4W1D",
        "P",
        "PT",
        "P1DT",
        "PT1.5H30M",
        "-PT1S",
        12345,
        {"key": "v"},
    ],
)
def test_bad_durations_rejected(version: str, duration: object) -> None:
    assert_rejected(with_("result.duration", duration), version, "result.duration")


# -------------------------------------------------------------------------- context


@BOTH
@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"registration": "should fail"}, "context.registration"),
        ({"registration": {"key": "x"}}, "context.registration"),
        ({"instructor": "x"}, "context.instructor"),
        ({"instructor": {"objectType": "Agent", "key": "x"}}, "context.instructor.key"),
        ({"team": AGENT}, "context.team.objectType"),
        ({"team": {"objectType": "Group", "key": "x"}}, "context.team.key"),
        ({"language": "a12345"}, "context.language"),
        ({"language": {"en": "x"}}, "context.language"),
        (
            {"statement": {"objectType": "statementref", "id": OTHER_ID}},
            "context.statement.objectType",
        ),
        ({"statement": {"objectType": "StatementRef", "id": "x"}}, "context.statement.id"),
        ({"revision": 1}, "context.revision"),
        ({"extensions": {"example.com/extension/wrong": 1}}, "context.extensions"),
        (
            {"contextActivities": {"consequences": [ACTIVITY]}},
            "context.contextActivities.consequences",
        ),
        ({"contextActivities": {"parent": "x"}}, "context.contextActivities.parent"),
        (
            {"contextActivities": {"other": [ACTIVITY, {"objectType": "Activity"}]}},
            "context.contextActivities.other[1].id",
        ),
        ({"contextActivities": {"grouping": {"id": "x"}}}, "context.contextActivities.grouping.id"),
    ],
)
def test_context_rules(version: str, context: dict[str, Any], field: str) -> None:
    assert_rejected(statement(context=context), version, field)


@BOTH
@pytest.mark.parametrize("prop", ["revision", "platform"])
@pytest.mark.parametrize(
    "target",
    [
        {"objectType": "Agent", "mbox": "mailto:b@example.com"},
        {"objectType": "StatementRef", "id": OTHER_ID},
    ],
)
def test_revision_and_platform_only_with_activity(
    version: str, prop: str, target: dict[str, Any]
) -> None:
    assert_rejected(statement(object=target, context={prop: "x"}), version, f"context.{prop}")
    validate_statement(statement(context={prop: "x"}), version)


@BOTH
def test_context_activity_component_ids_checked(version: str) -> None:
    activity = {
        "id": "http://example.com/q",
        "definition": {"interactionType": "matching", "source": [{"id": "a"}, {"id": "a"}]},
    }
    context = {"contextActivities": {"parent": [ACTIVITY, activity]}}
    assert_rejected(
        statement(context=context),
        version,
        "context.contextActivities.parent[1].definition.source[1].id",
    )


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"objectType": "Should fail", "agent": AGENT}, "context.contextAgents[0].objectType"),
        (
            {"objectType": "contextAgent", "agent": {"key": "x"}},
            "context.contextAgents[0].agent.key",
        ),
        (
            {"objectType": "contextAgent", "agent": AGENT, "relevantTypes": []},
            "context.contextAgents[0].relevantTypes",
        ),
        (
            {"objectType": "contextAgent", "agent": AGENT, "relevantTypes": ["abc"]},
            "context.contextAgents[0].relevantTypes[0]",
        ),
        ({"objectType": "contextAgent"}, "context.contextAgents[0].agent"),
    ],
)
def test_context_agents_rules(entry: dict[str, Any], field: str) -> None:
    assert_rejected(statement(context={"contextAgents": [entry]}), V2, field)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (
            {
                "objectType": "contextgroup",
                "group": {"objectType": "Group", "mbox": "mailto:g@example.com"},
            },
            "context.contextGroups[0].objectType",
        ),
        (
            {"objectType": "contextGroup", "group": AGENT},
            "context.contextGroups[0].group.objectType",
        ),
        (
            {
                "objectType": "contextGroup",
                "group": {"objectType": "Group", "member": [AGENT]},
                "member": [],
            },
            "context.contextGroups[0].member",
        ),
    ],
)
def test_context_groups_rules(entry: dict[str, Any], field: str) -> None:
    assert_rejected(statement(context={"contextGroups": [entry]}), V2, field)


# ---------------------------------------------------------------------- attachments


def attachment(**overrides: Any) -> dict[str, Any]:
    base = {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": "text/plain; charset=ascii",
        "length": 27,
        "sha2": SHA256,
    }
    base.update(overrides)
    return base


@BOTH
@pytest.mark.parametrize(
    ("item", "field"),
    [
        (attachment(usageType="should fail"), "attachments[0].usageType"),
        (attachment(usageType="example.com/attachment-usage/test"), "attachments[0].usageType"),
        (attachment(display={"a12345678": "x"}), "attachments[0].display"),
        (attachment(description={"something": "x"}), "attachments[0].description"),
        (attachment(contentType=12345), "attachments[0].contentType"),
        (attachment(length="27"), "attachments[0].length"),
        (attachment(length=2.5), "attachments[0].length"),
        (attachment(sha2=12345), "attachments[0].sha2"),
        (attachment(sha2="abc"), "attachments[0].sha2"),
        (attachment(fileUrl="should fail"), "attachments[0].fileUrl"),
        ({k: v for k, v in attachment().items() if k != "display"}, "attachments[0].display"),
        ({k: v for k, v in attachment().items() if k != "sha2"}, "attachments[0].sha2"),
    ],
)
def test_attachment_rules(version: str, item: dict[str, Any], field: str) -> None:
    assert_rejected(statement(attachments=[item]), version, field)


@BOTH
def test_attachments_must_be_array(version: str) -> None:
    assert_rejected(statement(attachments=attachment()), version, "attachments")
    validate_statement(
        statement(attachments=[attachment(), attachment(fileUrl="http://over.there.com/f.txt")]),
        version,
    )


# ------------------------------------------------------------------------- timestamps


@BOTH
@pytest.mark.parametrize("prop", ["timestamp", "stored"])
@pytest.mark.parametrize(
    "bad",
    [
        "should fail",
        "01/011/2015",
        "2008-09-15T15:53:00.601-00",
        "2008-09-15T15:53:00.601-0000",
        "2008-09-15T15:53:00.601-00:00",
        "2015-02-30T00:00:00Z",
        "2015-01-01T25:00:00Z",
        "2015-01-01T10:00:00+24:00",
        "2015-01-01",
        12345,
    ],
)
def test_bad_timestamps_rejected(version: str, prop: str, bad: object) -> None:
    assert_rejected(statement(**{prop: bad}), version, prop)


@BOTH
@pytest.mark.parametrize(
    "good",
    [
        "2008-09-15T15:53:00.601+00:00",
        "2008-09-15T15:53:00Z",
        "2013-05-18T05:32:34.804Z",
        "2023-05-04T12:00:00-05:00",
        "2016-12-31T23:59:60Z",
    ],
)
def test_rfc3339_timestamps_accepted_by_both(version: str, good: str) -> None:
    validate_statement(statement(timestamp=good, stored=good), version)


@pytest.mark.parametrize(
    "iso_only",
    [
        "2015-01-01T10:00:00",
        "20150101T100000Z",
        "2015-01-01T10:00Z",
        "2015-01-01T10:00:00,5+01",
        "2015-01-01T10:00:00.000+0000",
    ],
)
def test_iso8601_forms_only_under_1_0(iso_only: str) -> None:
    validate_statement(statement(timestamp=iso_only), V1)
    assert_rejected(statement(timestamp=iso_only), V2, "timestamp")


def test_future_timestamp_accepted() -> None:
    future = format_timestamp(datetime.now(UTC) + timedelta(days=5 * 365))
    validate_statement(statement(timestamp=future), V2)


def test_parse_timestamp_keeps_offset_and_precision() -> None:
    parsed = parse_timestamp("2023-05-04T12:00:00.1234567-05:00", V2)
    assert parsed.utcoffset() == timedelta(hours=-5)
    assert parsed.microsecond == 123456
    assert parsed == datetime(2023, 5, 4, 17, 0, 0, 123456, tzinfo=UTC)


def test_parse_timestamp_naive_1_0_is_utc() -> None:
    assert parse_timestamp("2015-01-01T10:00:00", V1) == datetime(2015, 1, 1, 10, tzinfo=UTC)


def test_parse_timestamp_basic_format() -> None:
    assert parse_timestamp("20150101T1030+0130", V1) == datetime(2015, 1, 1, 9, 0, tzinfo=UTC)


def test_parse_timestamp_leap_second_rolls_over() -> None:
    assert parse_timestamp("2016-12-31T23:59:60Z", V2) == datetime(2017, 1, 1, tzinfo=UTC)


def test_parse_timestamp_error_names_field() -> None:
    with pytest.raises(ValidationError) as info:
        parse_timestamp("yesterday", V2, "since")
    assert info.value.field == "since"


@pytest.mark.parametrize(
    ("dt", "text"),
    [
        (datetime(2023, 5, 4, 17, 0, tzinfo=UTC), "2023-05-04T17:00:00.000Z"),
        (
            datetime(2023, 5, 4, 12, 0, 0, 120000, tzinfo=timezone(timedelta(hours=-5))),
            "2023-05-04T17:00:00.120Z",
        ),
        (datetime(2023, 5, 4, 17, 0, 0, 123456, tzinfo=UTC), "2023-05-04T17:00:00.123456Z"),
        (datetime(2023, 5, 4, 17, 0), "2023-05-04T17:00:00.000Z"),
    ],
)
def test_format_timestamp(dt: datetime, text: str) -> None:
    assert format_timestamp(dt) == text


def test_normalize_timestamp_converts_to_utc_under_2_0_only() -> None:
    assert normalize_timestamp("2023-05-04T12:00:00-05:00", V2) == "2023-05-04T17:00:00.000Z"
    assert normalize_timestamp("2023-05-04T12:00:00-05:00", V1) == "2023-05-04T12:00:00-05:00"
    with pytest.raises(ValidationError):
        normalize_timestamp("2023-05-04T12:00:00-00:00", V1)


# ---------------------------------------------------------------------------- batches


def test_batch_of_one_object_returns_list() -> None:
    single = statement()
    assert validate_statement_batch(single, V1) == [single]


def test_batch_error_is_prefixed_with_index() -> None:
    batch = [statement(), statement(), with_("actor.mbox", "bob@example.com")]
    with pytest.raises(ValidationError) as info:
        validate_statement_batch(batch, V2)
    assert info.value.field == "[2].actor.mbox"
    assert info.value.message.startswith("[2].actor.mbox: ")


def test_batch_rejects_duplicate_ids_case_insensitively() -> None:
    batch = [statement(id=STATEMENT_ID), statement(), statement(id=STATEMENT_ID.upper())]
    with pytest.raises(ValidationError) as info:
        validate_statement_batch(batch, V1)
    assert info.value.field == "[2].id"


def test_batch_with_distinct_ids_returned_as_given() -> None:
    batch = [statement(id=STATEMENT_ID), statement(id=OTHER_ID), statement()]
    assert validate_statement_batch(batch, V2) is batch


@pytest.mark.parametrize(
    ("body", "field"), [("x", None), (12, None), (["x"], "[0]"), ([statement(), None], "[1]")]
)
def test_batch_must_hold_objects(body: object, field: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        validate_statement_batch(body, V1)
    assert info.value.field == field


def test_empty_batch_is_accepted() -> None:
    assert validate_statement_batch([], V2) == []


# ------------------------------------------------------------------- parameter checks


@pytest.mark.parametrize(
    "agent",
    [
        AGENT,
        {"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"},
        {"account": {"homePage": "http://example.com", "name": "n"}},
        {"objectType": "Group", "mbox": "mailto:g@example.com"},
    ],
)
def test_validate_agent_accepts_identified(agent: dict[str, Any]) -> None:
    validate_agent(agent)


@pytest.mark.parametrize(
    ("agent", "field"),
    [
        ("wrong", "agent"),
        ({"objectType": "Group", "member": [AGENT]}, "agent"),
        ({"mbox": "mailto:a@example.com", "openid": "http://o.example.com"}, "agent"),
        ({"name": "no ifi"}, "agent"),
        ({"mbox": "a@example.com"}, "agent.mbox"),
        ({"objectType": "agent", "mbox": "mailto:a@example.com"}, "agent.objectType"),
    ],
)
def test_validate_agent_rejects(agent: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_agent(agent)
    assert info.value.field == field


def test_validate_agent_uses_given_field_name() -> None:
    with pytest.raises(ValidationError) as info:
        validate_agent({"mbox": "x"}, "related_agent")
    assert info.value.field == "related_agent.mbox"


CheckFn = Callable[[object, str], None]


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (
            validate_iri,
            ["http://example.com/a", "urn:uuid:1", "mailto:a@b.c", "https://例え.jp/パス"],
            ["not.a.valid.iri.com/verb", "ab=c://x", "http://a b", "", 1],
        ),
        (
            validate_uuid,
            [STATEMENT_ID, STATEMENT_ID.upper(), "00000000-0000-0000-0000-000000000000"],
            ["wrong", STATEMENT_ID + "0", None],
        ),
        (
            validate_language_tag,
            ["en", "en-US", "zh-Hans-CN", "ase", "x-private"],
            ["a12345678", "en_US", "", "e", 5],
        ),
        (validate_duration, ["PT1H", "P1W", "P1Y2M3DT4H5M6.7S"], ["1H", "P1W1D", "PT1.5H1M", None]),
    ],
)
def test_parameter_validators(check: CheckFn, good: list[object], bad: list[object]) -> None:
    for value in good:
        check(value, "param")
    for value in bad:
        with pytest.raises(ValidationError) as info:
            check(value, "param")
        assert info.value.field == "param", value


# -------------------------------------------------------------------------- robustness


@BOTH
def test_huge_integers_fall_back_to_the_explaining_validator(version: str) -> None:
    validate_statement(with_("result.score", {"raw": 10**30, "max": 10**31}), version)


@BOTH
def test_message_names_field_and_reason(version: str) -> None:
    error = rejected(with_("actor.mbox", "xapi@adlnet.gov"), version)
    assert error.message == 'actor.mbox: must be a "mailto:" IRI with an email address'
    assert error.body() == {
        "error": {"code": "invalid", "message": error.message, "field": "actor.mbox"}
    }
