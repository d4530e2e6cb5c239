"""Feedback responses: one `submitted` statement for the response, then one `answered`
statement per item answered (choice, rated choice, number, text), as the plugin sends them.
Anonymous responses go out under the plugin's shared anonymous actor, never the user's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.interactions import fill_in, long_fill_in, numeric
from connectors.moodle.mapping import (
    SUBMITTED,
    Context,
    Statement,
    cmi_choice,
    course_lang,
    event,
    verb,
)
from connectors.moodle.php import php_float

ANSWERED = verb("http://adlnet.gov/expapi/verbs/answered", "Answered")
CMI_CHOICE = "http://learninglocker.net/xapi/cmi/choice/response"
CMI_NUMERIC = "http://learninglocker.net/xapi/cmi/numeric/response"
RATING = "http://learninglocker.net/xapi/moodle/feedback_item_rating"


@event(
    "\\mod_feedback\\event\\response_submitted",
    function="mod_feedback\\response_submitted\\handler",
)
def response_submitted(c: Context) -> list[Statement]:
    user = c.by_id("user", c.event.get("userid"))
    values = c.rows("feedback_value", {"completed": c.event.get("objectid")})
    completed = c.by_id("feedback_completed", c.event.get("objectid"))
    if completed.get("anonymous_response") == 1:
        actor: dict[str, Any] = {
            "name": "Anonymous Course Participant",
            "account": {"homePage": c.app, "name": "anonymous"},
        }
    else:
        actor = c.actor(user)
    course = c.course()
    c.by_id("feedback", completed.get("feedback"))
    cmid = c.event.get("contextinstanceid")
    submitted = _statement(
        c, actor, SUBMITTED, c.module(course, cmid), course_lang(course), parent=c.parents(cmid)
    )
    answered: list[Statement] = []
    for value in values:
        answered.extend(item_answered(c, value, actor))
    return [submitted, *answered]


Built = tuple[dict[str, Any], dict[str, Any]]


def item_answered(c: Context, value: dict[str, Any], actor: dict[str, Any]) -> list[Statement]:
    item = c.by_id("feedback_item", value.get("item"))
    build = TYPES.get(str(item.get("typ")))
    if build is None:
        return []
    course = c.course()
    lang = course_lang(course)
    c.by_id("feedback", item.get("feedback"))
    definition, result = build(c, item, value, lang)
    statement = _statement(
        c, actor, ANSWERED,
        {
            "objectType": "Activity",
            "id": f"{c.app}/mod/feedback/edit_item.php?id={item['id']}",
            "definition": definition,
        },
        lang, parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
    )
    statement["result"] = result
    return [statement]


def _picked(choices: list[Any], value: Any) -> Any:
    """The 1-based choice number in `value`; none when out of range (PHP gives null)."""
    index = int(php_float(value)) - 1
    return choices[index] if 0 <= index < len(choices) else None


def multichoice(c: Context, item: dict[str, Any], value: dict[str, Any], lang: str) -> Built:
    """presentation is a six-character type prefix ("r>>>>>"), then choices split by "\\n|"."""
    choices = str(item.get("presentation") or "")[6:].split("\n|")
    picked = _picked(choices, value.get("value"))
    return cmi_choice(c.config, item.get("name"), None, choices, lang), {
        "response": picked,
        "completion": value.get("value") != "",
        "extensions": {CMI_CHOICE: picked},
    }


def multichoicerated(c: Context, item: dict[str, Any], value: dict[str, Any], lang: str) -> Built:
    """Each choice reads "rating####name"; the rating goes into its own extension."""
    rated = [part.split("####") for part in str(item.get("presentation") or "")[6:].split("|")]
    names = [part[1] if len(part) > 1 else None for part in rated]
    picked = _picked(list(range(len(rated))), value.get("value"))
    result: dict[str, Any] = {
        "response": None,
        "completion": value.get("value") != "",
        "extensions": {RATING: None, CMI_CHOICE: None},
    }
    if picked is not None:
        name = names[picked]
        result["response"] = name
        result["extensions"] = {RATING: int(php_float(rated[picked][0])), CMI_CHOICE: name}
    return cmi_choice(c.config, item.get("name"), None, names, lang), result


def numerical(c: Context, item: dict[str, Any], value: dict[str, Any], lang: str) -> Built:
    low, _, high = str(item.get("presentation") or "").partition("|")
    return numeric(item.get("name"), None, lang, low, high), {
        "response": value.get("value"),
        "completion": value.get("value") != "",
        "extensions": {CMI_NUMERIC: php_float(value.get("value"))},
    }


def textarea(c: Context, item: dict[str, Any], value: dict[str, Any], lang: str) -> Built:
    return long_fill_in(item.get("name"), None, lang), {
        "response": value.get("value"),
        "completion": value.get("value") != "",
    }


def textfield(c: Context, item: dict[str, Any], value: dict[str, Any], lang: str) -> Built:
    return fill_in(item.get("name"), None, lang), {
        "response": value.get("value"),
        "completion": value.get("value") != "",
    }


TYPES: dict[str, Callable[[Context, dict[str, Any], dict[str, Any], str], Built]] = {
    "multichoicerated": multichoicerated,
    "multichoice": multichoice,
    "numeric": numerical,
    "textarea": textarea,
    "textfield": textfield,
}
