"""One quiz question attempt -> the plugin's `answered` statement, by question type.

The question becomes a cmi.interaction (its correct answer in `correctResponsesPattern`) and
the learner's `responsesummary` becomes the result. Question types the plugin does not map
(description, calculated, ddwtos...) yield nothing, as in the plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.interactions import (
    fill_in,
    long_fill_in,
    matching,
    numeric,
    sequencing,
    true_false,
)
from connectors.moodle.mapping import (
    Context,
    Statement,
    cmi_choice,
    course_lang,
    slugify,
    strip_html,
    verb,
)
from connectors.moodle.php import is_numeric, php_float, php_text

ANSWERED = verb("http://adlnet.gov/expapi/verbs/answered", "Answered")
CMI = "http://learninglocker.net/xapi/cmi/"
AttemptActivity = Callable[[Context, Any, Any], dict[str, Any]]


def question_answered(
    c: Context, question_attempt: dict, attempt_activity: AttemptActivity
) -> list[Statement]:
    question = c.by_id("question", question_attempt.get("questionid"))
    build = TYPES.get(str(question.get("qtype")))
    if build is None:
        return []
    course = c.course()
    lang = course_lang(course)
    attempt = c.row("quiz_attempts", {"uniqueid": question_attempt.get("questionusageid")})
    c.by_id("quiz", attempt.get("quiz"))
    cmid = c.by_id("course_modules", c.event.get("contextinstanceid"))["id"]
    definition, result = build(c, question, question_attempt, lang)
    statement = _statement(
        c, c.user(c.event.get("relateduserid")), ANSWERED,
        {
            "objectType": "Activity",
            "id": f"{c.app}/question/question.php?cmid={cmid}&id={question['id']}",
            "definition": definition,
        },
        lang,
        parent=[
            attempt_activity(c, attempt["id"], cmid),
            *c.parents(c.event.get("contextinstanceid"), include_module=True),
        ],
    )
    statement["result"] = result
    return [statement]


Built = tuple[dict[str, Any], dict[str, Any]]


def _name_text(question: dict) -> tuple[Any, str]:
    return question.get("name"), strip_html(question.get("questiontext"))


def essay(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    summary = attempt.get("responsesummary") or ""
    return (
        long_fill_in(*_name_text(question), lang),
        {"response": summary, "completion": summary != ""},
    )


def shortanswer(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    summary = attempt.get("responsesummary")
    return (
        fill_in(*_name_text(question), lang),
        {"response": summary, "completion": summary != ""},
    )


def truefalse(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    answers = c.rows("question_answers", {"question": question["id"]})
    right = [a for a in answers if php_float(a.get("fraction")) == 1.0]
    correct = bool(right) and right[0].get("answer") == "True"
    summary = attempt.get("responsesummary")
    return (
        true_false(*_name_text(question), lang, correct),
        {
            "response": slugify(strip_html(summary)),
            "completion": summary is not None,
            "success": attempt.get("rightanswer") == summary,
            "extensions": {CMI + "true-false/response": summary == "True"},
        },
    )


def _choices(c: Context, question: dict) -> list[str]:
    answers = c.rows("question_answers", {"question": question["id"]})
    return [strip_html(a.get("answer")) for a in answers]


def multichoice(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    """multichoice and multichoiceset: choices are "; "-separated in the summaries."""
    summary, right = attempt.get("responsesummary"), attempt.get("rightanswer")
    selections = strip_html(summary).split("; ")
    definition = cmi_choice(
        c.config, *_name_text(question), _choices(c, question), lang,
        strip_html(right).split("; ") if right is not None else None,
    )
    return definition, {
        "response": "[,]".join(slugify(s) for s in selections),
        "success": (right or "") == (summary or ""),
        "completion": summary != "",
        "extensions": {CMI + "choice/response": strip_html(summary)},
    }


def gapselect(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    """Gaps filled in order: a sequencing interaction over the "{a} {b}" summaries."""
    summary, right = attempt.get("responsesummary"), attempt.get("rightanswer")
    definition = sequencing(
        c.config, *_name_text(question), _choices(c, question), lang,
        right.strip("{}").split("} {") if right is not None else None,
    )
    result: dict[str, Any] = {"response": "", "completion": False, "success": False}
    if summary:
        selections = summary.lstrip("{").rstrip("}").split("} {")
        result = {
            "response": "[,]".join(slugify(s) for s in selections),
            "completion": True,
            "success": right == summary,
            "extensions": {CMI + "sequencing/response": selections},
        }
    return definition, result


def match(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    """match and randomsamatch: summaries read "stem\\n -> answer; stem\\n -> answer"."""
    subquestions = c.rows("qtype_match_subquestions", {"questionid": question["id"]})
    definition = matching(
        *_name_text(question),
        [strip_html(s.get("questiontext")) for s in subquestions],
        [s.get("answertext") for s in subquestions],
        lang,
    )
    summary, right = attempt.get("responsesummary"), attempt.get("rightanswer")
    result: dict[str, Any] = {"response": "", "completion": False, "success": False}
    if summary:
        pairs = [part.split("\n -> ") for part in summary.split("; ")]
        result = {
            "response": "[,]".join(f"{slugify(p[0])}[.]{slugify(p[1])}" for p in pairs),
            "completion": True,
            "success": right == summary,
            "extensions": {CMI + "matching/response": {p[0]: p[1] for p in pairs}},
        }
    return definition, result


def numerical(c: Context, question: dict, attempt: dict, lang: str) -> Built:
    """Only the best answer counts: its value plus or minus its tolerance."""
    answers = sorted(
        c.rows("question_answers", {"question": question["id"]}),
        key=lambda a: php_float(a.get("fraction")), reverse=True,
    )
    target: Any = answers[0].get("answer")
    low = high = None
    if is_numeric(target):
        tolerances = c.rows("question_numerical", {"answer": answers[0]["id"]})
        tolerance = php_float(tolerances[0].get("tolerance")) if tolerances else 0.0
        target = php_float(target)
        low, high = target - tolerance, target + tolerance
    exact = target if low == target and high == target else None
    definition = numeric(
        *_name_text(question), lang, php_text(low) if low is not None else None,
        php_text(high) if high is not None else None,
        php_text(exact) if exact is not None else None,
    )
    summary = attempt.get("responsesummary")
    success = is_numeric(summary) and (
        target == "*" or (low is not None and low <= float(summary) <= high)
    )
    return definition, {
        "response": summary,
        "completion": summary != "",
        "success": success,
        "extensions": {CMI + "numeric/response": php_float(summary)},
    }


TYPES: dict[str, Callable[[Context, dict, dict, str], Built]] = {
    "essay": essay,
    "gapselect": gapselect,
    "truefalse": truefalse,
    "randomsamatch": match,
    "match": match,
    "shortanswer": shortanswer,
    "multichoice": multichoice,
    "multichoiceset": multichoice,
    "numerical": numerical,
}
