"""Assignment events: submitted, graded, feedback viewed, submission viewed, locked and
unlocked. Teachers' actions on a learner's submission name the learner in the `for` extension.
"""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import PREP, _statement
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
    score,
    verb,
)

A = "\\mod_assign\\event\\"


def _submission(c: Context, lang: str) -> dict[str, Any]:
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
    given: Any = grade.get("grade")
    if not c.config.plugin_compatible and not c.by_then(grade.get("timemodified")):
        # Graded again since: the grade this event gave is in the grade history, if anywhere
        # (the plugin sends the current grade).
        then = c.grade_then(item, grade.get("userid"))
        given = then.get("rawgrade") if then else None
    raw = float(given or 0)
    low = float(item.get("grademin") or 0)
    high = float(item.get("grademax") or 0)
    passing = float(item.get("gradepass") or 0)
    statement = _statement(
        c, c.user(grade.get("userid")), SCORED, _submission(c, lang), lang,
        instructor=c.user(c.event.get("userid")),
        parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
    )
    result: dict[str, Any] = {"success": raw >= passing} if given is not None else {}
    if comments and comments[0].get("commenttext") is not None:
        result["response"] = comments[0]["commenttext"]
    if given is not None and low <= raw <= high:  # the plugin: a score only when in range
        result["score"] = score(c.config, raw, low, high, cap=False)
    if result:
        statement["result"] = result
    return [statement]


def _module_name(c: Context) -> Any:
    cm = c.by_id("course_modules", c.event.get("contextinstanceid"))
    module = c.by_id("modules", cm.get("module"))
    instance = c.by_id(module["name"], cm.get("instance"))
    return instance["name"] if "name" in instance else module["name"]


@event(A + "feedback_viewed", function="mod_assign\\feedback_viewed")
def feedback_viewed(c: Context) -> list[Statement]:
    """The learner views the grader's feedback; the grader is the instructor."""
    user = c.user(c.event.get("userid"))
    course = c.course()
    lang = course_lang(course)
    name = _module_name(c)
    grade = c.by_id("assign_grades", c.event.get("objectid"))
    cmid = c.event.get("contextinstanceid")
    obj = activity(
        f"{c.app}/mod/assign/view.php?id={cmid}#feedback",
        f"{EDLM}/activity-types/feedback",
        {lang: f"{name} Feedback"},
    )
    return [
        _statement(
            c, user, VIEWED, obj, lang, instructor=c.user(grade.get("grader")),
            parent=c.parents(cmid, include_module=True),
        )
    ]


def _on_learners_submission(c: Context, verb_: dict[str, Any]) -> list[Statement]:
    instructor = c.user(c.event.get("userid"))
    learner = c.user(c.event.get("relateduserid"))
    course = c.course()
    lang = course_lang(course)
    return [
        _statement(
            c, instructor, verb_, _submission(c, lang), lang,
            parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
            extensions={PREP + "for": learner},
        )
    ]


@event(A + "submission_viewed", function="mod_assign\\submission_viewed")
def submission_viewed(c: Context) -> list[Statement]:
    return _on_learners_submission(c, VIEWED)


@event(
    A + "submission_locked", A + "submission_unlocked", function="mod_assign\\submission_locked"
)
def submission_locked(c: Context) -> list[Statement]:
    """Both events, told apart by the log row's `action`. "Unocked" is the plugin's spelling,
    kept so that statements match what the plugin sends."""
    if c.event.get("action") == "locked":
        verb_ = verb(f"{EDLM}/verbs/locked", "Locked")
    else:
        verb_ = verb(f"{EDLM}/verbs/unlocked", "Unocked")
    return _on_learners_submission(c, verb_)
