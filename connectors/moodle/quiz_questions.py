"""One quiz question attempt -> the plugin's `answered` statement, by question type.

The question becomes a cmi.interaction (its correct answer in `correctResponsesPattern`) and
the learner's `responsesummary` becomes the result. Question types the plugin does not map
(description, calculated, ddwtos...) yield nothing, as in the plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


def question_answered(
    c: Context, question_attempt: dict[str, Any], attempt: dict[str, Any]
) -> list[Statement]:
    """`attempt` is the quiz attempt's activity: the question's parent, above the quiz."""
    question = c.by_id("question", question_attempt.get("questionid"))
    result_of = RESULTS.get(str(question.get("qtype")))
    if result_of is None:
        return []
    course = c.course()
    lang = course_lang(course)
    cmid = c.event.get("contextinstanceid")
    definition = question_definition(c, question, lang, question_attempt.get("rightanswer"))
    statement = _statement(
        c, c.user(c.event.get("relateduserid")), ANSWERED,
        {
            "objectType": "Activity",
            "id": f"{c.app}/question/question.php?cmid={cmid}&id={question['id']}",
            "definition": definition,
        },
        lang, parent=[attempt, *c.parents(cmid, include_module=True)],
    )
    statement["result"] = result_of(c, question, question_attempt)
    return [statement]


def _name_text(question: dict[str, Any]) -> tuple[Any, str]:
    return question.get("name"), strip_html(question.get("questiontext"))


def _choices(c: Context, question: dict[str, Any]) -> list[str]:
    answers = c.rows("question_answers", {"question": question["id"]})
    return [strip_html(a.get("answer")) for a in answers]


def _numerical_answer(
    c: Context, question: dict[str, Any]
) -> tuple[Any, float | None, float | None]:
    """(target, low, high) of the best answer: its value plus or minus its tolerance; a
    non-numeric answer (a cloze wildcard "*") has no bounds."""
    answers = sorted(
        c.rows("question_answers", {"question": question["id"]}),
        key=lambda a: php_float(a.get("fraction")), reverse=True,
    )
    if not answers:  # the plugin reads nulls here: no target, no bounds
        return None, None, None
    target: Any = answers[0].get("answer")
    if not is_numeric(target):
        return target, None, None
    tolerances = c.rows("question_numerical", {"answer": answers[0]["id"]})
    tolerance = php_float(tolerances[0].get("tolerance")) if tolerances else 0.0
    target = php_float(target)
    return target, target - tolerance, target + tolerance


def question_definition(
    c: Context, question: dict[str, Any], lang: str, right: str | None = None
) -> dict[str, Any] | None:
    """The question as a cmi.interaction; `right` is an attempt's `rightanswer` where the
    plugin uses it (choice and gap-select patterns). None for types the plugin does not map."""
    qtype = str(question.get("qtype"))
    name, text = _name_text(question)
    if qtype == "essay":
        return long_fill_in(name, text, lang)
    if qtype == "shortanswer":
        return fill_in(name, text, lang)
    if qtype == "truefalse":
        return true_false(name, text, lang, truefalse_options(c, question).correct)
    if qtype in ("multichoice", "multichoiceset"):
        picks = strip_html(right).split("; ") if right is not None else None
        return cmi_choice(c.config, name, text, _choices(c, question), lang, picks)
    if qtype == "gapselect":
        picks = right.strip("{}").split("} {") if right is not None else None
        return sequencing(c.config, name, text, _choices(c, question), lang, picks)
    if qtype in ("match", "randomsamatch"):
        subquestions = c.rows("qtype_match_subquestions", {"questionid": question["id"]})
        return matching(
            name, text, [strip_html(s.get("questiontext")) for s in subquestions],
            [s.get("answertext") for s in subquestions], lang,
        )
    if qtype == "numerical":
        target, low, high = _numerical_answer(c, question)
        exact = target if low == target and high == target and target is not None else None
        return numeric(
            name, text, lang, php_text(low) if low is not None else None,
            php_text(high) if high is not None else None,
            php_text(exact) if exact is not None else None,
        )
    return None


def essay(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    summary = attempt.get("responsesummary") or ""
    return {"response": summary, "completion": summary != ""}


def shortanswer(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    summary = attempt.get("responsesummary")
    return {"response": summary, "completion": summary != ""}


@dataclass(frozen=True)
class TrueFalse:
    """A true/false question's two answers as the site wrote them, and which one is right.

    Moodle stores the answers' text, the response summary and the right answer in the site's
    language ("Đúng"/"Sai"): which text means true is read from `question_truefalse`
    (trueanswer/falseanswer: the answers' ids), never from the English word, which the plugin
    compares with. Without that table (the plugin's fixtures) English "True"/"False" stand."""

    true_text: str
    false_text: str
    correct: bool

    def meaning(self, text: Any) -> bool | None:
        """True or False for an answer or response text; None for anything else."""
        plain = strip_html(text).strip()
        if plain == strip_html(self.true_text).strip():
            return True
        if plain == strip_html(self.false_text).strip():
            return False
        return None


def truefalse_options(c: Context, question: dict[str, Any]) -> TrueFalse:
    answers = c.rows("question_answers", {"question": question["id"]})
    right = [a for a in answers if php_float(a.get("fraction")) == 1.0]
    options = c.rows("question_truefalse", {"question": question["id"]})
    if options:
        by_id = {str(a.get("id")): str(a.get("answer") or "") for a in answers}
        true_id, false_id = str(options[0].get("trueanswer")), str(options[0].get("falseanswer"))
        return TrueFalse(
            by_id.get(true_id, ""), by_id.get(false_id, ""),
            bool(right) and str(right[0].get("id")) == true_id,
        )
    return TrueFalse("True", "False", bool(right) and right[0].get("answer") == "True")


def truefalse(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """The response as xAPI's "true"/"false" in any site language; success when it means
    what the right answer means."""
    summary = attempt.get("responsesummary")
    options = truefalse_options(c, question)
    meant = options.meaning(summary) if summary is not None else None
    right = options.meaning(attempt.get("rightanswer"))
    return {
        "response": slugify(strip_html(summary)) if meant is None else str(meant).lower(),
        "completion": summary is not None,
        "success": meant is not None and meant == (options.correct if right is None else right),
        "extensions": {CMI + "true-false/response": meant is True},
    }


def multichoice(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """multichoice and multichoiceset: choices are "; "-separated in the summaries."""
    summary, right = attempt.get("responsesummary"), attempt.get("rightanswer")
    selections = strip_html(summary).split("; ")
    return {
        "response": "[,]".join(slugify(s) for s in selections),
        "success": (right or "") == (summary or ""),
        "completion": summary != "",
        "extensions": {CMI + "choice/response": strip_html(summary)},
    }


def gapselect(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """Gaps filled in order: a sequencing response read from the "{a} {b}" summary."""
    summary = attempt.get("responsesummary")
    if not summary:
        return {"response": "", "completion": False, "success": False}
    selections = summary.lstrip("{").rstrip("}").split("} {")
    return {
        "response": "[,]".join(slugify(s) for s in selections),
        "completion": True,
        "success": attempt.get("rightanswer") == summary,
        "extensions": {CMI + "sequencing/response": selections},
    }


def match(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    """match and randomsamatch: summaries read "stem\\n -> answer; stem\\n -> answer"."""
    summary = attempt.get("responsesummary")
    if not summary:
        return {"response": "", "completion": False, "success": False}
    pairs = [_stem_answer(part) for part in summary.split("; ")]
    return {
        "response": "[,]".join(f"{slugify(stem)}[.]{slugify(answer)}" for stem, answer in pairs),
        "completion": True,
        "success": attempt.get("rightanswer") == summary,
        "extensions": {CMI + "matching/response": dict(pairs)},
    }


def _stem_answer(part: str) -> tuple[str, str | None]:
    """Read "stem\\n -> answer" as the plugin does: the first two pieces, a missing answer null."""
    pieces = part.split("\n -> ")
    return pieces[0], pieces[1] if len(pieces) > 1 else None


def numerical(c: Context, question: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
    target, low, high = _numerical_answer(c, question)
    summary = attempt.get("responsesummary")
    success = (
        summary is not None
        and is_numeric(summary)
        and (
            target == "*"
            or (low is not None and high is not None and low <= float(summary) <= high)
        )
    )
    return {
        "response": summary,
        "completion": summary != "",
        "success": success,
        "extensions": {CMI + "numeric/response": php_float(summary)},
    }


RESULTS: dict[str, Callable[[Context, dict[str, Any], dict[str, Any]], dict[str, Any]]] = {
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
