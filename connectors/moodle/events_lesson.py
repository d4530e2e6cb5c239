"""Lesson events: the lesson session (started, resumed, restarted, ended), its pages (viewed,
answered) and essay grading. Question pages become cmi.interactions so answers can be scored
against the page's correct responses.
"""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import PREP, _statement
from connectors.moodle.interactions import fill_in, long_fill_in, matching, numeric
from connectors.moodle.mapping import (
    COMPLETED,
    EDLM,
    VIEWED,
    Context,
    Statement,
    activity,
    cmi_choice,
    course_lang,
    event,
    number,
    parse_other,
    score,
    slugify,
    strip_html,
    verb,
)

L = "\\mod_lesson\\event\\"
SHORTANSWER, TRUEFALSE, MULTICHOICE, MATCHING, NUMERICAL, ESSAY = 1, 2, 3, 5, 8, 10


def lesson(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/mod/lesson/view.php?id={c.event.get('contextinstanceid')}#lesson",
        f"{EDLM}/activity-types/lesson-session",
    )
    if row.get("name") is not None:
        obj["definition"]["name"] = {lang: row["name"]}
    if row.get("intro") is not None:
        obj["definition"]["description"] = {lang: strip_html(row["intro"])}
    return obj


def _page_id(c: Context, page: dict[str, Any]) -> str:
    return f"{c.app}/mod/lesson/view.php?id={c.event.get('contextinstanceid')}&pageid={page['id']}"


def content_page(c: Context, course: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    obj = activity(_page_id(c, page), "http://adlnet.gov/expapi/activities/lesson-content-page")
    if page.get("title") is not None:
        obj["definition"]["name"] = {course_lang(course): page["title"]}
    return obj


def question_page(c: Context, course: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    """The page as the interaction its question type is; other page types get no definition."""
    lang = course_lang(course)
    answers = c.rows("lesson_answers", {"pageid": page["id"]})
    correct = [a for a in answers if number(a.get("score")) > 0]
    title, text = page.get("title"), strip_html(page.get("contents"))
    qtype = int(page.get("qtype") or 0)
    definition: dict[str, Any] | None = None
    if qtype == SHORTANSWER:
        definition = fill_in(title, text, lang, [strip_html(a.get("response")) for a in correct])
    elif qtype == ESSAY:
        definition = long_fill_in(title, text, lang)
    elif qtype in (TRUEFALSE, MULTICHOICE):
        definition = cmi_choice(
            c.config, title, text, [strip_html(a.get("response")) for a in answers], lang,
            [strip_html(a.get("response")) for a in correct],
        )
    elif qtype == MATCHING:
        pairs = [a for a in answers if a.get("answer")]
        definition = matching(
            title, text, [strip_html(a["answer"]) for a in pairs],
            [strip_html(a.get("response")) for a in pairs], lang,
        )
    elif qtype == NUMERICAL:  # xAPI takes one exact answer: the first correct one (or none)
        exact = strip_html(correct[0].get("response")) if correct else ""
        definition = numeric(title, text, lang, exact=exact)
    obj: dict[str, Any] = {"objectType": "Activity", "id": _page_id(c, page)}
    if definition is not None:
        obj["definition"] = definition
    return obj


def _in_lesson(
    c: Context,
    actor: dict[str, Any],
    verb_: dict[str, Any],
    obj: dict[str, Any],
    course: dict[str, Any],
) -> Statement:
    return _statement(
        c, actor, verb_, obj, course_lang(course),
        parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
    )


def _session(verb_: dict[str, Any], with_result: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        course = c.course()
        row = c.by_id("lesson", c.event.get("objectid"))
        user = c.user(c.event.get("userid"))
        statement = _in_lesson(c, user, verb_, lesson(c, course, row), course)
        if with_result:
            statement["result"] = lesson_result(c, row, c.event.get("userid"))
        return [statement]

    return transform


event(L + "lesson_started", function="mod_lesson\\lesson_started")(
    _session(verb("http://activitystrea.ms/start", "Started"))
)
event(L + "lesson_resumed", function="mod_lesson\\lesson_resumed")(
    _session(verb("https://w3id.org/xapi/tla/verbs/resumed", "Resumed"))
)
event(L + "lesson_restarted", function="mod_lesson\\lesson_restarted")(
    _session(verb(f"{EDLM}/verbs/restarted", "Restarted"))
)
event(L + "lesson_ended", function="mod_lesson\\lesson_ended")(
    _session(COMPLETED, with_result=True)
)


def lesson_result(c: Context, row: dict[str, Any], userid: Any) -> dict[str, Any]:
    """Completion always; score and success from the grade this session earned: the learner's
    `lesson_grades` row completed at the event (a percentage, scaled to the grade item), not
    a later one. Plugin-compatible mode: the learner's current gradebook grade, as the plugin."""
    result: dict[str, Any] = {"completion": True}
    items = c.rows("grade_items", {"itemmodule": "lesson", "iteminstance": row["id"]})
    if not items:
        return result
    item = items[0]
    if not c.config.plugin_compatible:
        grades = c.rows(
            "lesson_grades", {"lessonid": row["id"], "userid": userid}, "completed DESC"
        )
        earned = [g for g in grades if c.by_then(g.get("completed"))]
        if earned:
            high, low = number(item.get("grademax")), number(item.get("grademin"))
            raw = round(number(earned[0].get("grade")) / 100 * high, 5)
            result["score"] = score(c.config, raw, low, high)
            if number(item.get("gradepass")) > 0:
                result["success"] = result["score"]["raw"] >= number(item.get("gradepass"))
        return result
    grades = c.rows(
        "grade_grades", {"itemid": item["id"], "userid": userid}, "timemodified DESC"
    )
    if grades:
        grade = grades[0]
        result["score"] = score(
            c.config,
            number(grade.get("rawgrade")), number(grade.get("rawgrademin")),
            number(grade.get("rawgrademax")),
        )
        result["success"] = result["score"]["raw"] >= number(item.get("gradepass"))
    return result


def _page_event(verb_: dict[str, Any], content: bool = False, answered: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        course = c.course()
        page = c.by_id("lesson_pages", c.event.get("objectid"))
        row = c.by_id("lesson", page.get("lessonid"))
        obj = content_page(c, course, page) if content else question_page(c, course, page)
        statement = _in_lesson(c, c.user(c.event.get("userid")), verb_, obj, course)
        if answered:
            statement["result"] = question_result(c, row, page, c.event.get("userid"))
        return [statement]

    return transform


event(L + "content_page_viewed", function="mod_lesson\\content_page_viewed")(
    _page_event(VIEWED, content=True)
)
event(L + "question_viewed", function="mod_lesson\\question_viewed")(_page_event(VIEWED))
event(L + "question_answered", function="mod_lesson\\question_answered")(
    _page_event(verb("http://adlnet.gov/expapi/verbs/answered", "Answered"), answered=True)
)


def question_result(
    c: Context, row: dict[str, Any], page: dict[str, Any], userid: Any
) -> dict[str, Any]:
    """The learner's attempt at the page this event recorded (the latest seen by the event's
    time; the plugin takes the latest of all); essays are graded later, so no success."""
    attempts = c.rows(
        "lesson_attempts",
        {"lessonid": row["id"], "pageid": page["id"], "userid": userid},
        "timeseen DESC",
    )
    if not c.config.plugin_compatible:  # the answer this event recorded, not a later one
        attempts = [a for a in attempts if c.by_then(a.get("timeseen"))]
    if not attempts:
        return {}
    attempt = attempts[0]
    qtype = int(page.get("qtype") or 0)
    if qtype == ESSAY:
        return {"response": strip_html(parse_other(attempt.get("useranswer")).get("answer"))}
    success = str(attempt.get("correct")) == "1"
    if qtype == MATCHING:  # stored as the chosen targets in answer order: pair them up
        chosen = str(attempt.get("useranswer") or "").split(",")
        answers = c.rows("lesson_answers", {"pageid": page["id"]}, "id ASC")
        pairs = [
            f"{slugify(strip_html(a.get('answer')))}[.]{slugify(chosen.pop(0) if chosen else '')}"
            for a in answers
            if a.get("response") is not None
        ]
        return {"success": success, "response": "[,]".join(pairs)}
    return {"success": success, "response": strip_html(attempt.get("useranswer"))}


@event(L + "essay_assessed", function="mod_lesson\\essay_assessed")
def essay_assessed(c: Context) -> list[Statement]:
    """The grader assesses; the learner is named in the `for` extension."""
    course = c.course()
    c.by_id("lesson", c.other.get("lessonid"))  # the plugin refuses a missing lesson
    attempt = c.by_id("lesson_attempts", c.other.get("attemptid"))
    page = c.by_id("lesson_pages", attempt.get("pageid"))
    learner = c.user(attempt.get("userid"))
    answer = c.row("lesson_answers", {"pageid": page["id"]})
    detail = parse_other(attempt.get("useranswer"))
    statement = _statement(
        c, c.user(c.event.get("userid")),
        verb("https://w3id.org/xapi/dod-isd/verbs/assessed", "Assessed"),
        question_page(c, course, page), course_lang(course),
        parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
        extensions={PREP + "for": learner},
    )
    statement["result"] = {
        "response": strip_html(detail.get("response")),
        "score": score(
            c.config, number(detail.get("score")), 0.0, number(answer.get("score"))
        ),
    }
    return [statement]
