"""Glossary entries (viewed) and comments on them (created, deleted), each comment under its
entry so that an entry's discussion can be found from the entry's id."""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    DELETED,
    EDLM,
    VIEWED,
    Context,
    Statement,
    activity,
    course_lang,
    event,
    strip_html,
    verb,
)

G = "\\mod_glossary\\event\\"
COMMENTED = verb("http://adlnet.gov/expapi/verbs/commented", "Commented")


def entry(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/mod/glossary/showentry.php?eid={row['id']}",
        f"{EDLM}/activity-types/glossary-entry",
    )
    if row.get("concept") is not None:
        obj["definition"]["name"] = {lang: row["concept"]}
    if row.get("definition") is not None:
        obj["definition"]["description"] = {lang: strip_html(row["definition"])}
    return obj


def comment(
    c: Context, course: dict[str, Any], row: dict[str, Any], entry_row: dict[str, Any]
) -> dict[str, Any]:
    """A deleted comment has only its id: then no description."""
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/mod/glossary/showentry.php?eid={entry_row['id']}#c{row['id']}",
        "http://activitystrea.ms/comment",
    )
    if entry_row.get("concept") is not None:
        obj["definition"]["name"] = {lang: "RE: " + str(entry_row["concept"])}
    if row.get("content") is not None:
        obj["definition"]["description"] = {lang: strip_html(row["content"])}
    return obj


@event(G + "entry_viewed", function="mod_glossary\\entry_viewed")
def entry_viewed(c: Context) -> list[Statement]:
    course = c.course()
    row = c.by_id("glossary_entries", c.event.get("objectid"))
    c.by_id("glossary", row.get("glossaryid"))
    return [
        _statement(
            c, c.user(c.event.get("userid")), VIEWED, entry(c, course, row),
            course_lang(course),
            parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
        )
    ]


def _comment_event(verb_: dict[str, Any], deleted: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        user = c.user(c.event.get("userid"))
        course = c.course()
        if deleted:
            row: dict[str, Any] = {"id": c.event.get("objectid"), "itemid": c.other.get("itemid")}
        else:
            row = c.by_id("comments", c.event.get("objectid"))
        entry_row = c.by_id("glossary_entries", row.get("itemid"))
        return [
            _statement(
                c, user, verb_, comment(c, course, row, entry_row), course_lang(course),
                parent=[
                    entry(c, course, entry_row),
                    *c.parents(c.event.get("contextinstanceid"), include_module=True),
                ],
            )
        ]

    return transform


event(G + "comment_created", function="mod_glossary\\comment_created")(_comment_event(COMMENTED))
event(G + "comment_deleted", function="mod_glossary\\comment_deleted")(
    _comment_event(DELETED, deleted=True)
)
