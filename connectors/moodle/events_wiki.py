"""Wiki pages (viewed) and their comment threads (viewed, commented, comment deleted). A page's
comments are a discussion activity of their own, under the page."""

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

W = "\\mod_wiki\\event\\"


def page(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    lang = course_lang(course)
    return activity(
        f"{c.app}/mod/wiki/view.php?pageid={row['id']}",
        f"{EDLM}/activity-types/wiki-page",
        {lang: row.get("title")},
        description={lang: strip_html(row.get("cachedcontent"))},
    )


def discussion(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    return activity(
        f"{c.app}/mod/wiki/comments.php?pageid={row['id']}",
        "http://id.tincanapi.com/activitytype/discussion",
        {course_lang(course): f"{row.get('title')} Discussion"},
    )


def _module_parents(c: Context) -> list[dict[str, Any]]:
    return c.parents(c.event.get("contextinstanceid"), include_module=True)


@event(W + "page_viewed", function="mod_wiki\\page_viewed")
def page_viewed(c: Context) -> list[Statement]:
    course = c.course()
    row = c.by_id("wiki_pages", c.event.get("objectid"))
    return [
        _statement(
            c, c.user(c.event.get("userid")), VIEWED, page(c, course, row),
            course_lang(course), parent=_module_parents(c),
        )
    ]


@event(W + "comments_viewed", function="mod_wiki\\comments_viewed")
def comments_viewed(c: Context) -> list[Statement]:
    course = c.course()
    row = c.by_id("wiki_pages", c.event.get("objectid"))
    return [
        _statement(
            c, c.user(c.event.get("userid")), VIEWED, discussion(c, course, row),
            course_lang(course), parent=[page(c, course, row), *_module_parents(c)],
        )
    ]


@event(W + "comment_created", function="mod_wiki\\comment_created")
def comment_created(c: Context) -> list[Statement]:
    """The comment's text is the result's response; the object is the page's discussion."""
    user = c.user(c.event.get("userid"))
    course = c.course()
    comment = c.by_id("comments", c.event.get("objectid"))
    row = c.by_id("wiki_pages", comment.get("itemid"))
    statement = _statement(
        c, user, verb("http://adlnet.gov/expapi/verbs/commented", "Commented"),
        discussion(c, course, row), course_lang(course),
        parent=[page(c, course, row), *_module_parents(c)],
    )
    statement["result"] = {"response": strip_html(comment.get("content"))}
    return [statement]


@event(W + "comment_deleted", function="mod_wiki\\comment_deleted")
def comment_deleted(c: Context) -> list[Statement]:
    user = c.user(c.event.get("userid"))
    course = c.course()
    row = c.by_id("wiki_pages", int(c.other.get("itemid")))
    comment_id = c.event.get("objectid")
    obj = activity(
        f"{c.app}/mod/wiki/instancecomments.php?commentid={comment_id}&pageid={row['id']}",
        "http://activitystrea.ms/comment",
        {"en": "Comment"},
    )
    return [
        _statement(
            c, user, DELETED, obj, course_lang(course),
            parent=[discussion(c, course, row), page(c, course, row), *_module_parents(c)],
        )
    ]
