"""Polls: a choice answered, a survey or questionnaire submitted, their reports viewed. The
choice module itself is the cmi.interaction (its options are the choices), the option picked is
the response."""

from __future__ import annotations

from connectors.moodle.events_core import _statement, on_module
from connectors.moodle.mapping import (
    EDLM,
    VIEWED,
    Context,
    Statement,
    activity,
    course_lang,
    event,
    verb,
)


@event("\\mod_choice\\event\\answer_created", function="mod_choice\\answer_created")
def answer_created(c: Context) -> list[Statement]:
    user = c.user(c.event.get("userid"))
    course = c.course()
    answer = c.by_id("choice_answers", c.event.get("objectid"))
    option = c.by_id("choice_options", answer.get("optionid"))
    cmid = c.event.get("contextinstanceid")
    statement = _statement(
        c,
        user,
        verb("http://adlnet.gov/expapi/verbs/answered", "Answered"),
        c.module(course, cmid),
        course_lang(course),
        parent=c.parents(cmid),
    )
    statement["result"] = {"response": option.get("text")}
    return [statement]


# The plugin's survey uses activitystrea.ms/submit, not the schema/1.0 submit verb.
event("\\mod_survey\\event\\response_submitted", function="mod_survey\\response_submitted")(
    on_module(verb("http://activitystrea.ms/submit", "Submitted"))
)


@event("\\mod_survey\\event\\report_viewed", function="mod_survey\\report_viewed")
def survey_report_viewed(c: Context) -> list[Statement]:
    """One activity per report kind (`action`), named like "Survey Report: Summary"."""
    user = c.user(c.event.get("userid"))
    course = c.course()
    survey = c.by_id("survey", c.event.get("objectid"))
    lang = course_lang(course)
    cmid = c.event.get("contextinstanceid")
    action = str(c.other.get("action") or "")
    obj = activity(
        f"{c.app}/mod/survey/report.php?id={cmid}&action={action}",
        f"{EDLM}/activity-types/report",
        {lang: f"{survey.get('name')} Report: {action[:1].upper()}{action[1:]}"},
    )
    return [_statement(c, user, VIEWED, obj, lang, parent=c.parents(cmid, include_module=True))]


QN = "\\mod_questionnaire\\event\\"


event(QN + "attempt_resumed", function="mod_questionnaire\\attempt_resumed")(
    on_module(verb("https://w3id.org/xapi/tla/verbs/resumed", "Resumed"))
)
event(QN + "attempt_saved", function="mod_questionnaire\\attempt_saved")(
    on_module(verb("https://w3id.org/xapi/tla/verbs/suspended", "Suspended"))
)
event(QN + "attempt_submitted", function="mod_questionnaire\\attempt_submitted")(
    on_module(verb("http://activitystrea.ms/submit", "Submitted"))
)


@event(QN + "all_responses_viewed", function="mod_questionnaire\\all_responses_viewed")
def all_responses_viewed(c: Context) -> list[Statement]:
    user = c.user(c.event.get("userid"))
    course = c.course()
    lang = course_lang(course)
    questionnaire = c.by_id("questionnaire", c.event.get("objectid"))
    obj = activity(
        f"{c.app}/mod/questionnaire/report.php?instance={questionnaire['id']}&group=0",
        f"{EDLM}/activity-types/report",
    )
    if questionnaire.get("name") is not None:
        obj["definition"]["name"] = {lang: f"{questionnaire['name']} Report"}
    cmid = c.event.get("contextinstanceid")
    return [_statement(c, user, VIEWED, obj, lang, parent=c.parents(cmid, include_module=True))]
