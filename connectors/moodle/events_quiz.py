"""Quiz events: attempts (started, viewed, overdue, submitted, reviewed) and manual grading.
A submitted attempt also yields one `answered` statement per question (quiz_questions.py), as
the plugin sends them, so per-question analytics work on replayed history.

Every event names its attempt (`objectid`, or `other.attemptid`) and the attempt names its
learner: a statement about an attempt is about that attempt, and an attempt whose owner is not
the learner the event names is refused, so that one learner's attempt is never credited to
another. An attempt's result is its own: its marks scaled to the quiz's grade, pass or fail
against the grade to pass, its own duration (plugin-compatible mode: the learner's current
quiz grade, as the plugin sends it).
"""

from __future__ import annotations

import copy
from typing import Any

from connectors.base import MappingError
from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    COMPLETED,
    EDLM,
    RECEIVED,
    SCORED,
    STARTED,
    VIEWED,
    Context,
    Statement,
    activity,
    course_lang,
    event,
    number,
    score,
    verb,
)
from connectors.moodle.quiz_questions import question_answered

Q = "\\mod_quiz\\event\\"


def quiz_attempt(c: Context, attempt_id: Any, cmid: Any) -> dict[str, Any]:
    attempt = c.by_id("quiz_attempts", attempt_id)
    quiz = c.by_id("quiz", attempt.get("quiz"))
    return activity(
        f"{c.app}/mod/quiz/attempt.php?attempt={attempt_id}&cmid={cmid}",
        "http://adlnet.gov/expapi/activities/attempt",
        {c.config.source_lang: f"{quiz.get('name')} Attempt {attempt_id}"},
    )


def quiz_review(c: Context, attempt_id: Any) -> dict[str, Any]:
    return activity(
        f"{c.app}/review.php?attempt={attempt_id}",
        "http://activitystrea.ms/schema/1.0/review",
        {c.config.source_lang: "Review"},
    )


def owned_attempt(c: Context, attempt_id: Any, learner: Any) -> dict[str, Any]:
    """The attempt, refused when it is not `learner`'s (when the event names a learner)."""
    attempt = c.by_id("quiz_attempts", attempt_id)
    owner = attempt.get("userid")
    if learner is not None and owner is not None and str(owner) != str(learner):
        raise MappingError(
            f"quiz attempt {attempt_id} belongs to user {owner}, not to user {learner} whom "
            "the event names"
        )
    return attempt


def _on_attempt(verb_: dict[str, Any], actor_column: str) -> Any:
    """The attempt as object, under the quiz. The attempt is the one the event names
    (`objectid`); the plugin's attempt_viewed takes the log row's own id instead, which on a
    real site names no attempt or another learner's: that stays for plugin-compatible mode,
    with the attempt's owner checked against the event's learner all the same."""

    def transform(c: Context) -> list[Statement]:
        course = c.course()
        cmid = c.event.get("contextinstanceid")
        by_log_id = c.config.plugin_compatible and verb_ is VIEWED
        attempt_id = c.event.get("id" if by_log_id else "objectid")
        owned_attempt(c, attempt_id, c.event.get("relateduserid"))
        return [
            _statement(
                c, c.user(c.event.get(actor_column)), verb_,
                quiz_attempt(c, attempt_id, cmid), course_lang(course),
                parent=c.parents(cmid, include_module=True),
            )
        ]

    return transform


event(Q + "attempt_started", function="mod_quiz\\attempt_started")(
    _on_attempt(STARTED, "relateduserid")
)
event(Q + "attempt_viewed", function="mod_quiz\\attempt_viewed")(
    _on_attempt(VIEWED, "userid")
)
event(Q + "attempt_becameoverdue", function="mod_quiz\\attempt_becameoverdue")(
    _on_attempt(verb(f"{EDLM}/verbs/exceeded", "Exceeded"), "relateduserid")
)


@event(Q + "attempt_reviewed", function="mod_quiz\\attempt_reviewed")
def attempt_reviewed(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    attempt_id = c.event.get("objectid")
    owned_attempt(c, attempt_id, c.event.get("relateduserid"))
    return [
        _statement(
            c, c.user(c.event.get("relateduserid")), RECEIVED, quiz_review(c, attempt_id),
            course_lang(course), instructor=c.user(c.event.get("userid")),
            parent=[quiz_attempt(c, attempt_id, cmid), *c.parents(cmid, include_module=True)],
        )
    ]


def plugin_attempt_result(
    c: Context, attempt: dict[str, Any], item: dict[str, Any], grade: dict[str, Any]
) -> dict[str, Any]:
    """The plugin's result: the learner's current quiz grade (grade_grades.rawgrade), whatever
    the attempt; success compares that uncapped grade with the pass mark."""
    total = number(grade.get("rawgrade"))
    result: dict[str, Any] = {
        "score": score(c.config, total, number(item.get("grademin")), number(item.get("grademax"))),
        "completion": attempt.get("state") == "finished",
        "success": total >= number(item.get("gradepass")),
    }
    return {**result, **_duration(attempt)}


def attempt_result(
    c: Context, attempt: dict[str, Any], quiz: dict[str, Any], item: dict[str, Any] | None
) -> dict[str, Any]:
    """The attempt's own result: its marks (`sumgrades`) scaled to the quiz's grade, as Moodle
    shows an attempt's grade; success against the grade item's grade to pass, when one is set;
    no score while the attempt awaits manual grading (its sumgrades is null)."""
    result: dict[str, Any] = {"completion": attempt.get("state") == "finished"}
    marks, total, grade = attempt.get("sumgrades"), quiz.get("sumgrades"), quiz.get("grade")
    if marks is not None and number(total) > 0:
        raw = round(number(marks) / number(total) * number(grade), 5)
        result["score"] = score(c.config, raw, 0.0, number(grade))
        passing = number(item.get("gradepass")) if item else 0.0
        if passing > 0:
            result["success"] = raw >= passing
    return {**result, **_duration(attempt)}


def _duration(attempt: dict[str, Any]) -> dict[str, Any]:
    start, finish = attempt.get("timestart"), attempt.get("timefinish")
    if start is not None and finish is not None and int(finish) - int(start) > 0:
        return {"duration": f"PT{int(finish) - int(start)}S"}
    return {}


@event(
    Q + "attempt_submitted", Q + "attempt_abandoned",
    function="mod_quiz\\attempt_submitted\\handler",
)
def attempt_submitted(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    learner = c.event.get("relateduserid")
    attempt = owned_attempt(c, c.event.get("objectid"), learner)
    c.by_id("course_modules", cmid)
    quiz = c.by_id("quiz", attempt.get("quiz"))
    completed = _statement(
        c, c.user(learner), COMPLETED,
        quiz_attempt(c, c.event.get("objectid"), cmid), course_lang(course),
        parent=c.parents(cmid, include_module=True),
    )
    if c.config.plugin_compatible:
        item = c.row("grade_items", {"itemmodule": "quiz", "iteminstance": quiz["id"]})
        grade = c.row("grade_grades", {"itemid": item["id"], "userid": learner})
        completed["result"] = plugin_attempt_result(c, attempt, item, grade)
    else:
        items = c.rows("grade_items", {"itemmodule": "quiz", "iteminstance": quiz["id"]})
        completed["result"] = attempt_result(c, attempt, quiz, items[0] if items else None)
    answered: list[Statement] = []
    questions = c.rows("question_attempts", {"questionusageid": attempt.get("uniqueid")})
    for question_attempt in questions:
        answered.extend(question_answered(c, question_attempt, copy.deepcopy(completed["object"])))
    return [completed, *answered]


@event(Q + "question_manually_graded", function="mod_quiz\\question_manually_graded")
def question_manually_graded(c: Context) -> list[Statement]:
    """The learner is scored on one slot of the attempt (its latest step's fraction)."""
    course = c.course()
    lang = course_lang(course)
    instructor = c.user(c.event.get("userid"))
    attempt_id, slot = c.other.get("attemptid"), c.other.get("slot")
    attempt = c.by_id("quiz_attempts", attempt_id)
    quiz = c.by_id("quiz", c.other.get("quizid"))
    learner = c.user(attempt.get("userid"))
    question_attempts = c.rows("question_attempts", {"questionusageid": attempt.get("uniqueid")})
    # The slot graded, not the usage's first question (the plugin's pick); rows without a slot
    # column (the plugin's fixtures) keep the plugin's.
    graded = [q for q in question_attempts if "slot" not in q or str(q["slot"]) == str(slot)]
    question_attempts = graded
    if not question_attempts:
        return []
    steps = c.rows(
        "question_attempt_steps", {"questionattemptid": question_attempts[0]["id"]},
        "sequencenumber DESC",
    )
    if not steps:
        return []
    cmid = c.event.get("contextinstanceid")
    obj = activity(
        f"{c.app}/review.php?attempt={attempt['id']}&slot={slot}",
        "http://activitystrea.ms/schema/1.0/review#slot",
        {lang: f"{quiz.get('name')} Review Slot {slot}"},
    )
    statement = _statement(
        c, learner, SCORED, obj, lang, instructor=instructor,
        parent=[
            quiz_review(c, attempt_id), quiz_attempt(c, attempt_id, cmid),
            *c.parents(cmid, include_module=True),
        ],
    )
    low = number(question_attempts[0].get("minfraction"))
    high = number(question_attempts[0].get("maxfraction"))
    raw = number(steps[0].get("fraction"))
    statement["result"] = {"score": score(c.config, raw, low, high, cap=False)}
    return [statement]
