"""Forum events: discussions, posts, subscriptions and the per-user post report.

Posts hang under their discussion, which hangs under the forum module, so that a report on a
discussion can gather its replies from `contextActivities.parent` alone.
"""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    CREATED,
    DELETED,
    EDITED,
    EDLM,
    VIEWED,
    Context,
    Statement,
    activity,
    course_lang,
    event,
    full_name,
    strip_html,
    verb,
)

F = "\\mod_forum\\event\\"
SUBSCRIBED = verb(f"{EDLM}/verbs/subscribed", "Subscribed")
UNSUBSCRIBED = verb(f"{EDLM}/verbs/unsubscribed", "Unsubscribed")
REPLIED = verb("http://id.tincanapi.com/verb/replied", "Replied")


def discussion(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A discussion; the plugin names it "Discussion" when the row has no name column."""
    return activity(
        f"{c.app}/mod/forum/discuss.php?d={row['id']}",
        "http://id.tincanapi.com/activitytype/discussion",
        {course_lang(course): row.get("name", "Discussion")},
    )


def post(c: Context, course: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A reply; a deleted post has only its id and discussion, so no name or description."""
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/mod/forum/discuss.php?d={row.get('discussion')}#p{row['id']}",
        "http://id.tincanapi.com/activitytype/forum-reply",
    )
    if row.get("subject") is not None:
        obj["definition"]["name"] = {lang: row["subject"]}
    if row.get("message") is not None:
        obj["definition"]["description"] = {lang: strip_html(row["message"])}
    return obj


def _discussion_event(verb_: dict[str, Any], from_other: bool = False) -> Any:
    """Created/viewed name the discussion as the object; (un)subscribed carry it in `other`."""

    def transform(c: Context) -> list[Statement]:
        course = c.course()
        found = c.other.get("discussion") if from_other else c.event.get("objectid")
        row = c.by_id("forum_discussions", found)
        cmid = c.event.get("contextinstanceid")
        return [
            _statement(
                c, c.user(c.event.get("userid")), verb_, discussion(c, course, row),
                course_lang(course), parent=c.parents(cmid, include_module=True),
            )
        ]

    return transform


event(F + "discussion_created", function="mod_forum\\discussion_created")(
    _discussion_event(CREATED)
)
event(F + "discussion_viewed", function="mod_forum\\discussion_viewed")(
    _discussion_event(VIEWED)
)
event(
    F + "discussion_subscription_created",
    function="mod_forum\\discussion_subscription_created",
)(_discussion_event(SUBSCRIBED, from_other=True))
event(
    F + "discussion_subscription_deleted",
    function="mod_forum\\discussion_subscription_deleted",
)(_discussion_event(UNSUBSCRIBED, from_other=True))


def _post_event(verb_: dict[str, Any], deleted: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        course = c.course()
        discussion_id = c.other.get("discussionid")
        if deleted:  # the row is gone: the plugin rebuilds the id from the event
            row: dict[str, Any] = {"id": c.event.get("objectid"), "discussion": discussion_id}
        else:
            row = c.by_id("forum_posts", c.event.get("objectid"))
        parent_discussion = c.by_id("forum_discussions", discussion_id)
        cmid = c.event.get("contextinstanceid")
        return [
            _statement(
                c, c.user(c.event.get("userid")), verb_, post(c, course, row),
                course_lang(course),
                parent=[
                    discussion(c, course, parent_discussion),
                    *c.parents(cmid, include_module=True),
                ],
            )
        ]

    return transform


event(F + "post_created", function="mod_forum\\post_created")(_post_event(REPLIED))
event(F + "post_updated", function="mod_forum\\post_updated")(_post_event(EDITED))
event(F + "post_deleted", function="mod_forum\\post_deleted")(_post_event(DELETED, True))


def _forum_subscription(verb_: dict[str, Any]) -> Any:
    def transform(c: Context) -> list[Statement]:
        course = c.course()
        cmid = c.event.get("contextinstanceid")
        return [
            _statement(
                c, c.user(c.event.get("userid")), verb_, c.module(course, cmid),
                course_lang(course), parent=c.parents(cmid),
            )
        ]

    return transform


event(F + "subscription_created", function="mod_forum\\subscription_created")(
    _forum_subscription(SUBSCRIBED)
)
event(F + "subscription_deleted", function="mod_forum\\subscription_deleted")(
    _forum_subscription(UNSUBSCRIBED)
)


@event(F + "user_report_viewed", function="mod_forum\\user_report_viewed")
def user_report_viewed(c: Context) -> list[Statement]:
    """Course 0 means "all courses": then no course parent and English names."""
    subject = c.by_id("user", c.event.get("relateduserid"))
    course = c.optional_course()
    lang = course_lang(course) if course else "en"
    ext = "https://moodle.org/xapi/extensions/"
    obj = activity(
        f"{c.app}/mod/forum/user.php?id={subject['id']}",
        "http://id.tincanapi.com/activitytype/user-profile",
        {lang: "forum posts of " + full_name(subject)},
        extensions={ext + "user_id": subject["id"]},
    )
    if course:
        obj["id"] += f"&course={course['id']}"
        obj["definition"]["extensions"][ext + "course_id"] = course["id"]
    statement = _statement(c, c.user(c.event.get("userid")), VIEWED, obj, lang)
    if course:
        statement["context"]["contextActivities"]["parent"] = [c.course_activity(course)]
    return [statement]
