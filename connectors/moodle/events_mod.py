"""Activity module events (views of every module, quiz, assignment, forum, lesson...)."""

from __future__ import annotations

from connectors.base import MappingError
from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    COMPLETED,
    EDLM,
    RECEIVED,
    SCORED,
    STARTED,
    SUBMITTED,
    VIEWED,
    Context,
    Statement,
    activity,
    course_lang,
    event,
)

# Every module's "course module viewed" maps the same way (the plugin's all\course_module_viewed).
VIEWED_MODULES = (
    "assign", "book", "chat", "choice", "data", "facetoface", "feedback", "folder", "forum",
    "glossary", "imscp", "lesson", "lti", "page", "questionnaire", "quiz", "resource", "scorm",
    "survey", "url", "wiki", "workshop",
)


@event(
    *(f"\\mod_{m}\\event\\course_module_viewed" for m in VIEWED_MODULES),
    "\\core_h5p\\event\\h5p_viewed",
    function="all\\course_module_viewed",
)
def course_module_viewed(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    return [
        _statement(
            c, c.user(c.event.get("userid")), VIEWED, c.module(course, cmid),
            course_lang(course), parent=c.parents(cmid),
        )
    ]


# Quiz ------------------------------------------------------------------------------------

Q = "\\mod_quiz\\event\\"
# Question types the plugin maps to `answered` statements that this port does not yet: an
# attempt holding one is refused rather than sent without its answers.
QUESTION_TYPES_NOT_YET = {
    "essay", "gapselect", "truefalse", "randomsamatch", "shortanswer", "match",
    "multichoice", "multichoiceset", "numerical",
}


def _attempt(c: Context) -> dict:
    attempt_id = c.event.get("objectid")
    attempt = c.by_id("quiz_attempts", attempt_id)
    quiz = c.by_id("quiz", attempt.get("quiz"))
    return activity(
        f"{c.app}/mod/quiz/attempt.php?attempt={attempt_id}&cmid={c.event.get('contextinstanceid')}",
        "http://adlnet.gov/expapi/activities/attempt",
        {c.config.source_lang: f"{quiz.get('name')} Attempt {attempt_id}"},
    )


@event(Q + "attempt_started", function="mod_quiz\\attempt_started")
def quiz_attempt_started(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    return [
        _statement(
            c, c.user(c.event.get("relateduserid")), STARTED, _attempt(c), course_lang(course),
            parent=c.parents(cmid, include_module=True),
        )
    ]


@event(Q + "attempt_reviewed", function="mod_quiz\\attempt_reviewed")
def quiz_attempt_reviewed(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    lang = c.config.source_lang
    review = activity(
        f"{c.app}/review.php?attempt={c.event.get('objectid')}",
        "http://activitystrea.ms/schema/1.0/review",
        {lang: "Review"},
    )
    return [
        _statement(
            c, c.user(c.event.get("relateduserid")), RECEIVED, review, course_lang(course),
            instructor=c.user(c.event.get("userid")),
            parent=[_attempt(c), *c.parents(cmid, include_module=True)],
        )
    ]


def attempt_result(attempt: dict, item: dict, grade: dict) -> dict:
    """Score with the plugin's scaled score, in [-1, 1]: ((raw - min) / (max - min)) * 2 - 1."""
    total = float(grade.get("rawgrade") or 0)
    low = float(item.get("grademin") or 0)
    high = float(item.get("grademax") or 0)
    passing = float(item.get("gradepass") or 0)
    raw = max(min(total, high), low)
    scaled = 0 if high == low else ((raw - low) / (high - low) * 2) - 1
    result: dict = {
        "score": {"raw": raw, "min": low, "max": high, "scaled": scaled},
        "completion": attempt.get("state") == "finished",
        "success": total >= passing,
    }
    start, finish = attempt.get("timestart"), attempt.get("timefinish")
    if start is not None and finish is not None and int(finish) - int(start) > 0:
        result["duration"] = f"PT{int(finish) - int(start)}S"
    return result


@event(Q + "attempt_submitted", function="mod_quiz\\attempt_submitted\\handler")
def quiz_attempt_submitted(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    attempt = c.by_id("quiz_attempts", c.event.get("objectid"))
    quiz = c.by_id("quiz", attempt.get("quiz"))
    item = c.row("grade_items", {"itemmodule": "quiz", "iteminstance": quiz["id"]})
    grade = c.row("grade_grades", {"itemid": item["id"], "userid": c.event.get("relateduserid")})
    completed = _statement(
        c, c.user(c.event.get("relateduserid")), COMPLETED, _attempt(c), course_lang(course),
        parent=c.parents(cmid, include_module=True),
    )
    completed["result"] = attempt_result(attempt, item, grade)
    answered: list[Statement] = []
    for question_attempt in c.rows("question_attempts", {"questionusageid": attempt.get("uniqueid")}):
        question = c.by_id("question", question_attempt.get("questionid"))
        if question.get("qtype") in QUESTION_TYPES_NOT_YET:
            raise MappingError(
                f"quiz question type {question.get('qtype')!r}: answered statements not mapped yet"
            )
        # Any other question type: the plugin sends no answered statement either.
    return [completed, *answered]


# Assignments -----------------------------------------------------------------------------

A = "\\mod_assign\\event\\"


def _submission(c: Context, lang: str) -> dict:
    cmid = c.event.get("contextinstanceid")
    cm = c.by_id("course_modules", cmid)
    module = c.by_id("modules", cm.get("module"))
    instance = c.by_id("assign", cm.get("instance"))
    name = instance["name"] if "name" in instance else module.get("name")
    return activity(
        f"{c.app}/mod/assign/view.php?id={cmid}#submission",
        f"{EDLM}/activity-types/submission",
        {lang: f"{name} Submission"},
    )


@event(A + "assessable_submitted", function="mod_assign\\assignment_submitted")
def assignment_submitted(c: Context) -> list[Statement]:
    course = c.course()
    lang = course_lang(course)
    submission = c.by_id("assign_submission", c.event.get("objectid"))
    c.by_id("assign", submission.get("assignment"))  # the plugin refuses a missing assignment
    cmid = c.event.get("contextinstanceid")
    return [
        _statement(
            c, c.user(c.event.get("userid")), SUBMITTED, _submission(c, lang), lang,
            parent=c.parents(cmid, include_module=True),
        )
    ]


@event(A + "submission_graded", function="mod_assign\\assignment_graded")
def assignment_graded(c: Context) -> list[Statement]:
    grade = c.by_id(c.event.get("objecttable") or "assign_grades", c.event.get("objectid"))
    course = c.course()
    lang = course_lang(course)
    c.by_id("assign", grade.get("assignment"))
    comments = c.rows(
        "assignfeedback_comments", {"assignment": grade.get("assignment"), "grade": grade["id"]}
    )
    item = c.row("grade_items", {"itemmodule": "assign", "iteminstance": grade.get("assignment")})
    raw = float(grade.get("grade") or 0)
    low = float(item.get("grademin") or 0)
    high = float(item.get("grademax") or 0)
    passing = float(item.get("gradepass") or 0)
    statement = _statement(
        c, c.user(grade.get("userid")), SCORED, _submission(c, lang), lang,
        instructor=c.user(c.event.get("userid")),
        parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
    )
    result: dict = {"success": raw >= passing}
    if comments and comments[0].get("commenttext") is not None:
        result["response"] = comments[0]["commenttext"]
    if low <= raw <= high:  # the plugin sends a score only when it is in range
        scaled = 0 if high == low else ((raw - low) / (high - low) * 2) - 1
        result["score"] = {"raw": raw, "min": low, "max": high, "scaled": scaled}
    statement["result"] = result
    return [statement]
