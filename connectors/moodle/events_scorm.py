"""SCORM events: a SCO launched, and the raw score or lesson status a SCO reported. The verb of
a score or status comes from the attempt's `cmi.core.lesson_status` (passed, failed, else
completed), read from the attempt's tracked SCORM values.
"""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    COMPLETED,
    EDLM,
    Context,
    Statement,
    course_lang,
    event,
    score,
    verb,
)
from connectors.moodle.php import php_float

S = "\\mod_scorm\\event\\"


def content_object(c: Context, course: dict[str, Any]) -> dict[str, Any]:
    """The module's content (the SCO), as the plugin names it: the module's id plus "#sco"."""
    cmid = c.event.get("contextinstanceid")
    cm = c.by_id("course_modules", cmid)
    module = c.by_id("modules", cm.get("module"))
    instance = c.by_id(module["name"], cm.get("instance"))
    title = instance["name"] if "name" in instance else module["name"]
    return {
        "objectType": "Activity",
        "id": f"{c.app}/mod/{module['name']}/view.php?id={cmid}#sco",
        "definition": {
            "type": f"{EDLM}/activity-types/scorm-content-object",
            "name": {course_lang(course): f"{title} Content"},
        },
    }


def tracks(c: Context, userid: Any) -> dict[str, Any]:
    """{element: value} of the attempt named in `other`. The plugin passes the event's context
    instance (the course module id) as the SCO id; we do the same to read the same rows."""
    attempt = c.row(
        "scorm_attempt",
        {"userid": userid, "scormid": c.event.get("objectid"), "attempt": c.other.get("attemptid")},
    )
    found: dict[Any, Any] = {}
    values = c.rows(
        "scorm_scoes_value", {"attemptid": attempt["id"], "scoid": c.event.get("contextinstanceid")}
    )
    for value in values:
        element = c.by_id("scorm_element", value.get("elementid"))
        found[element.get("element")] = value.get("value")
    return found


def status_verb(found: dict[str, Any]) -> dict[str, Any]:
    status = found.get("cmi.core.lesson_status")
    if status == "failed":
        return verb("http://adlnet.gov/expapi/verbs/failed", "Failed")
    if status == "passed":
        return verb("http://adlnet.gov/expapi/verbs/passed", "Passed")
    return COMPLETED


def scorm_result(c: Context, found: dict[str, Any], raw: int) -> dict[str, Any]:
    """Raw score, with min, max and scaled only as far as the SCO reported its bounds."""
    low = found.get("cmi.core.score.min")
    high = found.get("cmi.core.score.max")
    if low is not None and high is not None:
        return {"score": {**score(c.config, raw, php_float(low), php_float(high), cap=False), "raw": raw}}
    if high is not None:
        return {"score": {"raw": raw, "max": php_float(high)}}
    if low is not None:
        return {"score": {"raw": raw, "min": php_float(low)}}
    return {"score": {"raw": raw}}


def _in_scorm(c: Context, verb_: dict[str, Any], course: dict[str, Any]) -> Statement:
    cmid = c.event.get("contextinstanceid")
    return _statement(
        c, c.user(c.event.get("userid")), verb_, content_object(c, course),
        course_lang(course), parent=c.parents(cmid, include_module=True),
    )


@event(S + "sco_launched", function="mod_scorm\\sco_launched")
def sco_launched(c: Context) -> list[Statement]:
    course = c.course()
    sco = c.by_id("scorm_scoes", c.event.get("objectid"))
    c.by_id("scorm", sco.get("scorm"))
    return [_in_scorm(c, verb("http://adlnet.gov/expapi/verbs/launched", "Launched"), course)]


@event(S + "scoreraw_submitted", function="mod_scorm\\scoreraw_submitted")
def scoreraw_submitted(c: Context) -> list[Statement]:
    """The plugin takes the raw score as a whole number (its function's int parameter)."""
    user = c.by_id("user", c.event.get("userid"))
    course = c.course()
    c.by_id("scorm", c.event.get("objectid"))
    found = tracks(c, user["id"])
    statement = _in_scorm(c, status_verb(found), course)
    statement["result"] = scorm_result(c, found, int(php_float(c.other.get("cmivalue"))))
    return [statement]


@event(S + "status_submitted", function="mod_scorm\\status_submitted")
def status_submitted(c: Context) -> list[Statement]:
    user = c.by_id("user", c.event.get("userid"))
    course = c.course()
    c.by_id("scorm", c.event.get("objectid"))
    return [_in_scorm(c, status_verb(tracks(c, user["id"])), course)]
