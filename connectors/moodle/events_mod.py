"""Activity module events (views of every module, quiz, assignment, forum, lesson...)."""

from __future__ import annotations

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    EDLM,
    SCORED,
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
