"""Quiz events: attempts (started, viewed, overdue, submitted, reviewed) and manual grading.
A submitted attempt also yields one `answered` statement per question (quiz_questions.py), as
the plugin sends them, so per-question analytics work on replayed history.
"""

from __future__ import annotations

import copy
from typing import Any

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


def _on_attempt(verb_: dict, actor_column: str, attempt_column: str = "objectid") -> Any:
    """The attempt as object, under the quiz. The plugin's attempt_viewed names the attempt by
    the log row's own id (`attempt_column="id"`), not its objectid: kept for fidelity."""

    def transform(c: Context) -> list[Statement]:
        course = c.course()
        cmid = c.event.get("contextinstanceid")
        return [
            _statement(
                c, c.user(c.event.get(actor_column)), verb_,
                quiz_attempt(c, c.event.get(attempt_column), cmid), course_lang(course),
                parent=c.parents(cmid, include_module=True),
            )
        ]

    return transform


event(Q + "attempt_started", function="mod_quiz\\attempt_started")(
    _on_attempt(STARTED, "relateduserid")
)
event(Q + "attempt_viewed", function="mod_quiz\\attempt_viewed")(
    _on_attempt(VIEWED, "userid", attempt_column="id")
)
event(Q + "attempt_becameoverdue", function="mod_quiz\\attempt_becameoverdue")(
    _on_attempt(verb(f"{EDLM}/verbs/exceeded", "Exceeded"), "relateduserid")
)


@event(Q + "attempt_reviewed", function="mod_quiz\\attempt_reviewed")
def attempt_reviewed(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    attempt_id = c.event.get("objectid")
    return [
        _statement(
            c, c.user(c.event.get("relateduserid")), RECEIVED, quiz_review(c, attempt_id),
            course_lang(course), instructor=c.user(c.event.get("userid")),
            parent=[quiz_attempt(c, attempt_id, cmid), *c.parents(cmid, include_module=True)],
        )
    ]


def attempt_result(attempt: dict, item: dict, grade: dict) -> dict[str, Any]:
    """Score from the quiz's grade item; success compares the uncapped grade with the pass mark."""
    total = number(grade.get("rawgrade"))
    result: dict[str, Any] = {
        "score": score(total, number(item.get("grademin")), number(item.get("grademax"))),
        "completion": attempt.get("state") == "finished",
        "success": total >= number(item.get("gradepass")),
    }
    start, finish = attempt.get("timestart"), attempt.get("timefinish")
    if start is not None and finish is not None and int(finish) - int(start) > 0:
        result["duration"] = f"PT{int(finish) - int(start)}S"
    return result


@event(
    Q + "attempt_submitted", Q + "attempt_abandoned",
    function="mod_quiz\\attempt_submitted\\handler",
)
def attempt_submitted(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    attempt = c.by_id("quiz_attempts", c.event.get("objectid"))
    c.by_id("course_modules", cmid)
    quiz = c.by_id("quiz", attempt.get("quiz"))
    item = c.row("grade_items", {"itemmodule": "quiz", "iteminstance": quiz["id"]})
    grade = c.row("grade_grades", {"itemid": item["id"], "userid": c.event.get("relateduserid")})
    completed = _statement(
        c, c.user(c.event.get("relateduserid")), COMPLETED,
        quiz_attempt(c, c.event.get("objectid"), cmid), course_lang(course),
        parent=c.parents(cmid, include_module=True),
    )
    completed["result"] = attempt_result(attempt, item, grade)
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
    statement["result"] = {"score": score(raw, low, high, cap=False)}
    return [statement]
