"""Face-to-face sessions: signing up, cancelling, and attendance taken. Attendance yields one
statement per attendee (the teacher who took it is the instructor), with the session's total
scheduled time as the duration."""

from __future__ import annotations

from typing import Any

from connectors.base import MappingError
from connectors.moodle.events_core import _statement, on_module
from connectors.moodle.mapping import Context, Statement, course_lang, event, verb
from connectors.moodle.php import php_float

F2F = "\\mod_facetoface\\event\\"
ATTENDED = verb("http://adlnet.gov/expapi/verbs/attended", "Attended")
# facetoface status codes: 90 partially attended, 100 fully attended.
PARTIALLY_ATTENDED, FULLY_ATTENDED = 90, 100


event(F2F + "signup_success", function="mod_facetoface\\signup_success")(
    on_module(verb("http://adlnet.gov/expapi/verbs/registered", "Registered"))
)
event(F2F + "cancel_booking", function="mod_facetoface\\cancel_booking")(
    on_module(verb("http://id.tincanapi.com/verb/unregistered", "Unregistered"))
)


def session_duration(c: Context, session_id: Any) -> int:
    dates = c.rows("facetoface_sessions_dates", {"sessionid": session_id})
    return sum(
        int(php_float(d.get("timefinish"))) - int(php_float(d.get("timestart"))) for d in dates
    )


@event(F2F + "take_attendance", function="mod_facetoface\\take_attendance")
def take_attendance(c: Context) -> list[Statement]:
    """Signups whose status set at this moment is (partly) attended; like the plugin, a signup
    whose rows cannot be read is skipped rather than failing the whole event."""
    instructor = c.user(c.event.get("userid"))
    course = c.course()
    lang = course_lang(course)
    session_id = c.event.get("objectid")
    duration = session_duration(c, session_id)
    cmid = c.event.get("contextinstanceid")
    statements: list[Statement] = []
    for signup in c.rows("facetoface_signups", {"sessionid": session_id}):
        try:
            status = c.row(
                "facetoface_signups_status",
                {"signupid": signup.get("id"), "timecreated": c.event.get("timecreated")},
            )
            code = php_float(status.get("statuscode"))
            if code < PARTIALLY_ATTENDED:
                continue
            statement = _statement(
                c,
                c.user(signup.get("userid")),
                ATTENDED,
                c.module(course, cmid),
                lang,
                instructor=instructor,
                parent=c.parents(cmid),
            )
        except MappingError:
            continue
        statement["result"] = {"duration": f"PT{duration}S", "completion": code == FULLY_ATTENDED}
        statements.append(statement)
    return statements
