"""Alignment rules: loading (schema and framework checks), matching, and conditions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from consumers.reducers.competencies import CompetencyReducer
from lrs.competency.alignment import Rule, RuleSet, load_rules, matches, meets
from lrs.competency.framework import Framework, bundled_frameworks
from lrs.readmodels.profiles import normalised_score
from lrs.xapi.errors import ValidationError

DIGCOMP = "https://w3id.org/lrs/frameworks/digcomp/2.2"
CIRCULAR = "https://w3id.org/lrs/frameworks/vn-circular-02/2025"
C11 = f"{DIGCOMP}/competence/1.1"
C12 = f"{DIGCOMP}/competence/1.2"
VERBS = "http://adlnet.gov/expapi/verbs/"
QUIZ = "https://school.example.edu.vn/digcomp/quiz/"
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
LEARNER = {"account": {"homePage": "https://school.example.edu.vn", "name": "hs-001"}}


@pytest.fixture(scope="module")
def known() -> dict[str, Framework]:
    """Frameworks by id, as the registry passes them to `load_rules`."""
    return {f.id: f for f in bundled_frameworks().values()}


@pytest.fixture
def ruleset_data() -> dict[str, Any]:
    return {
        "id": "digcomp-quizzes",
        "framework": DIGCOMP,
        "title": "DigComp quizzes",
        "rules": [
            {
                "id": "search-l2",
                "competence": C11,
                "level": "2",
                "match": {"activity": QUIZ + "search-basics"},
            },
            {
                "id": "search-l4",
                "competence": C11,
                "level": f"{DIGCOMP}/level/4",
                "match": {"activity_prefix": QUIZ + "search-"},
                "when": {"min_score": 0.8},
                "distinct_activities": 2,
            },
        ],
    }


def refusal(data: Any, known: dict[str, Framework]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_rules(data, known)
    return caught.value


def rule(match: dict[str, str], when: dict[str, Any] | None = None) -> Rule:
    return Rule("r", C11, f"{DIGCOMP}/level/2", 2, match, when or {}, 1)


def statement(
    activity: str = QUIZ + "search-basics",
    verb: str = "completed",
    result: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "id": "6f1e5a52-7d1c-4c1e-9a53-8d1d2b3c4e01",
        "actor": LEARNER,
        "verb": {"id": VERBS + verb},
        "object": {"objectType": "Activity", "id": activity},
    }
    if result is not None:
        value["result"] = result
    value.update(extra)
    return value


def meets_statement(r: Rule, s: dict[str, Any]) -> bool:
    """`meets` with the score normalised the way the competencies processor does it."""
    return meets(r, s, normalised_score((s.get("result") or {}).get("score")))


# ---------------------------------------------------------------------------- load_rules


def test_load_rules_resolves_levels_and_defaults(
    ruleset_data: dict[str, Any], known: dict[str, Framework]
) -> None:
    loaded = load_rules(ruleset_data, known)
    assert isinstance(loaded, RuleSet)
    assert (loaded.id, loaded.framework) == ("digcomp-quizzes", DIGCOMP)
    first, second = loaded.rules
    # a level given by code and one given by IRI both resolve to the level's IRI and rank
    assert (first.level, first.rank) == (f"{DIGCOMP}/level/2", 2)
    assert (second.level, second.rank) == (f"{DIGCOMP}/level/4", 4)
    assert first.when == {} and first.distinct_activities == 1
    assert second.when == {"min_score": 0.8} and second.distinct_activities == 2
    assert loaded.source == ruleset_data


def test_load_rules_checks_levels_against_the_named_framework(known: dict[str, Framework]) -> None:
    data = {
        "id": "circular",
        "framework": CIRCULAR,
        "rules": [
            {
                "id": "a",
                "competence": known[CIRCULAR].competences[0].id,
                "level": "NC1",
                "match": {"activity_prefix": QUIZ},
            }
        ],
    }
    assert load_rules(data, known).rules[0].rank == 5
    # "5" is a DigComp level code, not one of the Circular's (CB1..CS2)
    data["rules"][0]["level"] = "5"
    error = refusal(data, known)
    assert error.field == "rules.0.level"
    # and a DigComp competence is not a competence of the Circular
    data["rules"][0]["level"] = "NC1"
    data["rules"][0]["competence"] = C11
    assert refusal(data, known).field == "rules.0.competence"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["rules"][1]["when"].update(min_score=1.5), "rules.1.when.min_score"),
        (lambda d: d["rules"][1]["when"].update(min_score=-0.1), "rules.1.when.min_score"),
        (lambda d: d["rules"][1]["when"].update(completed=False), "rules.1.when.completed"),
        (lambda d: d["rules"][1].update(distinct_activities=0), "rules.1.distinct_activities"),
        (lambda d: d["rules"][1].update(distinct_activities="2"), "rules.1.distinct_activities"),
        (lambda d: d["rules"][0].update(match={}), "rules.0.match"),
        (lambda d: d["rules"][0]["match"].update(activity=""), "rules.0.match.activity"),
        (lambda d: d["rules"][0].update(when={}), "rules.0.when"),
        (lambda d: d.update(rules=[]), "rules"),
        (lambda d: d.update(id=""), "id"),
    ],
)
def test_schema_errors_name_the_field(
    ruleset_data: dict[str, Any], known: dict[str, Framework], change: Any, field: str
) -> None:
    change(ruleset_data)
    error = refusal(ruleset_data, known)
    assert error.field == field
    assert error.message.startswith(field + ":")


@pytest.mark.parametrize(
    ("change", "field", "named"),
    [
        # an unknown property: the message names it
        (lambda d: d["rules"][0]["match"].update(course="x"), "rules.0.match", "course"),
        (lambda d: d["rules"][0].update(weight=2), "rules.0", "weight"),
        (lambda d: d.update(version="1"), None, "version"),
    ],
)
def test_unknown_properties_are_refused_by_name(
    ruleset_data: dict[str, Any], known: dict[str, Framework], change: Any, field: str | None,
    named: str,
) -> None:  # fmt: skip
    change(ruleset_data)
    error = refusal(ruleset_data, known)
    assert error.field == field
    assert repr(named) in error.message


@pytest.mark.parametrize(
    ("path", "missing", "field"),
    [
        ((), "framework", "framework"),
        ((), "rules", "rules"),
        (("rules", 0), "level", "rules.0.level"),
        (("rules", 1), "match", "rules.1.match"),
    ],
)
def test_a_missing_property_is_the_field(
    ruleset_data: dict[str, Any], known: dict[str, Framework], path: tuple[Any, ...],
    missing: str, field: str,
) -> None:  # fmt: skip
    node: Any = ruleset_data
    for step in path:
        node = node[step]
    del node[missing]
    error = refusal(ruleset_data, known)
    assert error.field == field
    assert repr(missing) in error.message


def test_not_an_object_is_refused(known: dict[str, Framework]) -> None:
    assert "object" in refusal([{"id": "x"}], known).message


def test_unknown_framework_is_refused(
    ruleset_data: dict[str, Any], known: dict[str, Framework]
) -> None:
    ruleset_data["framework"] = "https://example.org/no-such-framework"
    error = refusal(ruleset_data, known)
    assert error.field == "framework"
    assert "https://example.org/no-such-framework" in error.message
    assert DIGCOMP in error.message  # says which frameworks are known
    # the short name of a bundled framework is not its id
    ruleset_data["framework"] = "digcomp-2.2"
    assert refusal(ruleset_data, known).field == "framework"


@pytest.mark.parametrize(
    "competence",
    [f"{DIGCOMP}/competence/9.9", "1.1", f"{DIGCOMP}/area/1", ""],
)
def test_unknown_competence_is_refused(
    ruleset_data: dict[str, Any], known: dict[str, Framework], competence: str
) -> None:
    ruleset_data["rules"][1]["competence"] = competence
    error = refusal(ruleset_data, known)
    assert error.field == "rules.1.competence"


@pytest.mark.parametrize("level", ["9", "0", "L2", f"{DIGCOMP}/level/9", f"{CIRCULAR}/level/CB1"])
def test_unknown_level_is_refused(
    ruleset_data: dict[str, Any], known: dict[str, Framework], level: str
) -> None:
    ruleset_data["rules"][0]["level"] = level
    error = refusal(ruleset_data, known)
    assert error.field == "rules.0.level"
    assert repr(level) in error.message


def test_duplicate_rule_ids_are_refused(
    ruleset_data: dict[str, Any], known: dict[str, Framework]
) -> None:
    ruleset_data["rules"].append(copy.deepcopy(ruleset_data["rules"][0]))
    ruleset_data["rules"][2]["level"] = "3"
    error = refusal(ruleset_data, known)
    assert error.field == "rules.2.id"
    assert "search-l2" in error.message


# ---------------------------------------------------------------------------- matches


def test_match_by_activity_is_exact() -> None:
    r = rule({"activity": QUIZ + "search-basics"})
    assert matches(r, statement(QUIZ + "search-basics"))
    assert not matches(r, statement(QUIZ + "search-basics/q1"))
    assert not matches(r, statement(QUIZ + "search"))


def test_match_by_activity_prefix() -> None:
    r = rule({"activity_prefix": QUIZ + "search-"})
    assert matches(r, statement(QUIZ + "search-basics"))
    assert matches(r, statement(QUIZ + "search-advanced"))
    assert not matches(r, statement(QUIZ + "privacy"))
    assert not matches(r, statement("https://other.example/" + "search-basics"))


def test_activity_rules_ignore_objects_that_are_not_activities() -> None:
    """An Agent or a StatementRef object has an id-like property, but no activity id."""
    agent_object = statement()
    agent_object["object"] = {"objectType": "Agent", "mbox": "mailto:x@example.org"}
    reference = statement()
    reference["object"] = {"objectType": "StatementRef", "id": QUIZ + "search-basics"}
    for r in (rule({"activity": QUIZ + "search-basics"}), rule({"activity_prefix": QUIZ})):
        assert not matches(r, agent_object)
        assert not matches(r, reference)
    # objectType is optional for activities
    implicit = statement()
    del implicit["object"]["objectType"]
    assert matches(rule({"activity_prefix": QUIZ}), implicit)


def test_match_by_activity_type_reads_the_object_definition() -> None:
    r = rule({"activity_type": ASSESSMENT})
    typed = statement()
    typed["object"]["definition"] = {"type": ASSESSMENT, "name": {"en": "Search quiz"}}
    assert matches(r, typed)
    assert not matches(r, statement())  # no definition
    other = copy.deepcopy(typed)
    other["object"]["definition"]["type"] = "http://adlnet.gov/expapi/activities/lesson"
    assert not matches(r, other)
    # the type of a context activity is not the object's type
    in_context = statement(
        context={
            "contextActivities": {"parent": [{"id": QUIZ, "definition": {"type": ASSESSMENT}}]}
        }
    )
    assert not matches(r, in_context)


@pytest.mark.parametrize("group", ["category", "other"])
def test_match_by_competency_iri_in_category_or_other(group: str) -> None:
    r = rule({"competency": C12})
    tagged = statement(
        QUIZ + "fake-news",
        context={"contextActivities": {group: [{"id": "https://example.org/x"}, {"id": C12}]}},
    )
    assert matches(r, tagged)


@pytest.mark.parametrize("group", ["parent", "grouping"])
def test_competency_iri_in_parent_or_grouping_does_not_match(group: str) -> None:
    r = rule({"competency": C12})
    assert not matches(r, statement(context={"contextActivities": {group: [{"id": C12}]}}))
    assert not matches(r, statement())  # no context at all
    assert not matches(r, statement(context={"contextActivities": {"category": [{"id": C11}]}}))


def test_match_by_verb() -> None:
    r = rule({"verb": VERBS + "passed"})
    assert matches(r, statement(verb="passed"))
    assert not matches(r, statement(verb="completed"))


def test_every_match_property_must_hold() -> None:
    r = rule(
        {
            "activity_prefix": QUIZ,
            "activity_type": ASSESSMENT,
            "competency": C11,
            "verb": VERBS + "completed",
        }
    )
    good = statement(context={"contextActivities": {"category": [{"id": C11}]}})
    good["object"]["definition"] = {"type": ASSESSMENT}
    assert matches(r, good)
    wrong_prefix = copy.deepcopy(good)
    wrong_prefix["object"]["id"] = "https://other.example/quiz/1"
    wrong_type = copy.deepcopy(good)
    wrong_type["object"]["definition"]["type"] = "http://adlnet.gov/expapi/activities/lesson"
    no_competency = copy.deepcopy(good)
    del no_competency["context"]
    wrong_verb = copy.deepcopy(good)
    wrong_verb["verb"]["id"] = VERBS + "attempted"
    for bad in (wrong_prefix, wrong_type, no_competency, wrong_verb):
        assert not matches(r, bad)


# ---------------------------------------------------------------------------- meets


@pytest.mark.parametrize(
    ("verb", "result", "expected"),
    [
        ("completed", None, True),  # the verb says completed
        ("passed", None, True),  # the verb says success
        ("experienced", {"completion": True}, True),
        ("answered", {"success": True}, True),
        ("attempted", None, False),
        ("experienced", {"completion": False}, False),
        ("failed", {"success": False, "completion": False}, False),
        ("answered", {"score": {"scaled": 1.0}}, False),  # a score alone is no outcome
    ],
)
def test_default_condition_is_completed_or_success(
    verb: str, result: dict[str, Any] | None, expected: bool
) -> None:
    assert (
        meets_statement(rule({"activity_prefix": QUIZ}), statement(verb=verb, result=result))
        is expected
    )


@pytest.mark.parametrize(
    ("verb", "result", "expected"),
    [
        ("completed", None, True),
        ("experienced", {"completion": True}, True),
        ("passed", {"success": True}, False),  # passed is not completed
        ("attempted", {"completion": False}, False),
    ],
)
def test_condition_completed(verb: str, result: dict[str, Any] | None, expected: bool) -> None:
    r = rule({"activity_prefix": QUIZ}, {"completed": True})
    assert meets_statement(r, statement(verb=verb, result=result)) is expected


@pytest.mark.parametrize(
    ("verb", "result", "expected"),
    [
        ("passed", None, True),
        ("answered", {"success": True}, True),
        ("completed", {"completion": True}, False),  # completed is not passed
        ("failed", {"success": False, "completion": True}, False),
        ("answered", {"score": {"scaled": 0.95}}, False),
    ],
)
def test_condition_success(verb: str, result: dict[str, Any] | None, expected: bool) -> None:
    r = rule({"activity_prefix": QUIZ}, {"success": True})
    assert meets_statement(r, statement(verb=verb, result=result)) is expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ({"scaled": 0.8}, True),  # the minimum itself is enough
        ({"scaled": 0.95}, True),
        ({"scaled": 0.79}, False),
        ({"raw": 8, "min": 0, "max": 10}, True),
        ({"raw": 16, "min": 0, "max": 20}, True),
        ({"raw": 15, "min": 0, "max": 20}, False),
        ({"raw": 45, "min": 20, "max": 50}, True),  # (45-20)/(50-20) = 0.83
        ({"raw": 40, "min": 20, "max": 50}, False),  # 0.67, though 40/50 = 0.8
        # Moodle's logstore writes scaled in [-1, 1]: raw/min/max win over it.
        ({"raw": 6, "min": -10, "max": 10, "scaled": 0.6}, True),  # really (6+10)/20 = 0.8
        ({"raw": 7, "min": 0, "max": 10, "scaled": 0.85}, False),  # really 0.7
        ({"raw": -5, "min": -10, "max": 10, "scaled": -0.5}, False),  # really 0.25
        ({"scaled": -0.9}, False),
        # without a usable range, scaled is what there is
        ({"raw": 9, "min": 10, "max": 10, "scaled": 0.9}, True),
        ({"raw": 9, "scaled": 0.5}, False),
        ({"raw": 9}, False),  # no scale at all: no score
        (None, False),
    ],
)
def test_condition_min_score(score: dict[str, Any] | None, expected: bool) -> None:
    r = rule({"activity_prefix": QUIZ}, {"min_score": 0.8})
    result = {"score": score} if score is not None else None
    assert meets_statement(r, statement(verb="scored", result=result)) is expected


def test_conditions_together_must_all_hold() -> None:
    r = rule({"activity_prefix": QUIZ}, {"completed": True, "success": True, "min_score": 0.8})
    full = {"completion": True, "success": True, "score": {"raw": 9, "min": 0, "max": 10}}
    assert meets_statement(r, statement(verb="completed", result=full))
    for drop in ("completion", "success", "score"):
        partial = {k: v for k, v in full.items() if k != drop}
        assert not meets_statement(r, statement(verb="answered", result=partial)), drop
    low = {**full, "score": {"raw": 7, "min": 0, "max": 10}}
    assert not meets_statement(r, statement(verb="completed", result=low))


def test_the_processor_applies_the_moodle_normalisation(known: dict[str, Framework]) -> None:
    """End to end inside the reducer: the evidence is `met` by raw/min/max, not scaled."""
    rules = load_rules(
        {
            "id": "moodle",
            "framework": DIGCOMP,
            "rules": [
                {
                    "id": "quiz",
                    "competence": C11,
                    "level": "3",
                    "match": {"activity_prefix": QUIZ},
                    "when": {"min_score": 0.8},
                }
            ],
        },
        known,
    )
    reducer = CompetencyReducer([rules])
    trap = statement(result={"score": {"raw": 6, "min": -10, "max": 10, "scaled": 0.6}})
    (found,) = reducer.contributions(trap)
    assert found.data["evidence"][0]["met"] is True
    lie = statement(result={"score": {"raw": 7, "min": 0, "max": 10, "scaled": 0.85}})
    (found,) = reducer.contributions(lie)
    assert found.data["evidence"][0]["met"] is False


def test_the_rule_index_finds_exactly_the_rules_a_full_scan_finds() -> None:
    """RuleSet.matching looks rules up by activity id and prefix; it must agree with trying
    every rule, in rule order, whatever mix of match properties the rules use."""
    matchers: list[dict[str, str]] = [
        {"activity": QUIZ + "search-basics"},
        {"activity_prefix": QUIZ + "search-"},
        {"activity_prefix": QUIZ},
        {"activity_prefix": QUIZ + "s"},
        {"activity_prefix": "https://other.example.org/"},
        {"activity_type": ASSESSMENT},
        {"verb": VERBS + "passed"},
        {"competency": C12},
        {"activity": QUIZ + "search-basics", "verb": VERBS + "passed"},
        {"activity_prefix": QUIZ + "search-", "activity_type": ASSESSMENT},
        {"activity": QUIZ + "email"},
    ]
    rules = tuple(Rule(f"r{i}", C11, "2", 2, match, {}, 1) for i, match in enumerate(matchers))
    ruleset = RuleSet("all", DIGCOMP, rules, {})
    objects = [
        QUIZ + "search-basics",
        QUIZ + "search-advanced",
        QUIZ + "email",
        QUIZ + "s",
        QUIZ,
        "https://other.example.org/x",
        "https://nowhere.example.org/",
    ]
    checked = 0
    for activity in objects:
        for verb in ("passed", "experienced"):
            for typed in (True, False):
                s = statement(activity, verb=verb)
                if typed:
                    s["object"]["definition"] = {"type": ASSESSMENT}
                s["context"] = {"contextActivities": {"category": [{"id": C12}]}}
                expected = [r for r in rules if matches(r, s)]
                assert ruleset.matching(s) == expected
                checked += 1 if expected else 0
    assert checked > 10  # the cases do match something
    agent_object = {**statement(QUIZ + "email"), "object": LEARNER}
    assert ruleset.matching(agent_object) == [r for r in rules if matches(r, agent_object)]
