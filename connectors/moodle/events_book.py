"""Book chapters: created and viewed. A viewed subchapter also names its chapter (the last
top-level chapter before it) as a parent, so chapter-level reports include subchapter views.
"""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    CREATED,
    VIEWED,
    Context,
    Statement,
    course_lang,
    event,
    strip_html,
)
from connectors.moodle.php import php_float

B = "\\mod_book\\event\\"


def chapter(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    lang = course_lang(course)
    definition: dict[str, Any] = {"type": "http://id.tincanapi.com/activitytype/chapter"}
    if "title" in row:
        definition["name"] = {lang: row["title"]}
    if "content" in row:
        definition["description"] = {lang: strip_html(row["content"])}
    cmid = c.event.get("contextinstanceid")
    return {
        "objectType": "Activity",
        "id": f"{c.app}/mod/book/view.php?id={cmid}&chapterid={row['id']}",
        "definition": definition,
    }


def _chapter_event(
    c: Context, verb_: dict[str, Any]
) -> tuple[Statement, dict[str, Any], dict[str, Any]]:
    course = c.course()
    row = c.by_id("book_chapters", c.event.get("objectid"))
    statement = _statement(
        c, c.user(c.event.get("userid")), verb_, chapter(c, course, row), course_lang(course),
        parent=c.parents(c.event.get("contextinstanceid"), include_module=True),
    )
    return statement, course, row


@event(B + "chapter_created", function="mod_book\\chapter_created")
def chapter_created(c: Context) -> list[Statement]:
    return [_chapter_event(c, CREATED)[0]]


@event(B + "chapter_viewed", function="mod_book\\chapter_viewed")
def chapter_viewed(c: Context) -> list[Statement]:
    statement, course, row = _chapter_event(c, VIEWED)
    if php_float(row.get("subchapter")) == 0:
        return [statement]
    tops = c.rows("book_chapters", {"bookid": row.get("bookid"), "subchapter": 0})
    if not tops:
        return [statement]
    tops.sort(key=lambda r: php_float(r.get("pagenum")))
    parent = tops[0]
    for top in tops:
        if php_float(top.get("pagenum")) > php_float(row.get("pagenum")):
            break
        parent = top
    activities = statement["context"]["contextActivities"]
    activities["parent"] = [chapter(c, course, parent), *activities["parent"]]
    return [statement]
