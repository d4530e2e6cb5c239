"""The one event every activity module shares: "course module viewed" (each module's own events
live in events_<module>.py)."""

from __future__ import annotations

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    VIEWED,
    Context,
    Statement,
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
