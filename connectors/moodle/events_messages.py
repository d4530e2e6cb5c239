"""Core events outside a course module that carry content: messages (sent to a user or a group,
viewed) and questions created in the question bank."""

from __future__ import annotations

from typing import Any

from connectors.base import MappingError
from connectors.moodle.events_core import PREP, _group, _statement
from connectors.moodle.mapping import (
    CREATED,
    EDLM,
    VIEWED,
    Context,
    Statement,
    course_lang,
    event,
    verb,
)
from connectors.moodle.quiz_questions import question_definition

E = "\\core\\event\\"
SENT = verb("http://activitystrea.ms/send", "Sent")


def message(c: Context, lang: str, row: dict[str, Any]) -> dict[str, Any]:
    subject = row.get("subject")
    return {
        "objectType": "Activity",
        "id": f"{c.app}/message?id={row['id']}",
        "definition": {
            "type": "http://id.tincanapi.com/activitytype/chat-message",
            "name": {lang: subject if subject is not None else "[Untitled Message]"},
            "description": {lang: row.get("fullmessage")},
        },
    }


def _person_message(verb_: dict[str, Any], table: str | None, other_party: str) -> Any:
    """Sent (to the related user) or viewed (from the related user); course parent if any."""

    def transform(c: Context) -> list[Statement]:
        source = table or c.event.get("objecttable")
        if not source:  # the plugin then has no message to describe and fails too
            raise MappingError("the event names no message table (objecttable)")
        row = c.by_id(source, c.event.get("objectid"))
        user = c.user(c.event.get("userid"))
        party = c.user(c.event.get("relateduserid"))
        course = c.optional_course()
        lang = course_lang(course) if course else c.config.source_lang
        statement = _statement(
            c, user, verb_, message(c, lang, row), lang, extensions={PREP + other_party: party}
        )
        if course:
            statement["context"]["contextActivities"]["parent"] = [c.course_activity(course)]
        return [statement]

    return transform


event(E + "message_sent", function="core\\message_sent")(_person_message(SENT, "messages", "to"))
event(E + "message_viewed", function="core\\message_viewed")(
    _person_message(VIEWED, None, "from")
)


@event(E + "group_message_sent", function="core\\group_message_sent")
def group_message_sent(c: Context) -> list[Statement]:
    """The group (with its members) is the recipient; the group activity is the grouping."""
    user = c.user(c.event.get("userid"))
    row = c.by_id("messages", c.event.get("objectid"))
    conversation = c.by_id("message_conversations", row.get("conversationid"))
    group = c.by_id("groups", conversation.get("itemid"))
    course = c.course(group.get("courseid"))
    lang = course_lang(course)
    members = c.rows("groups_members", {"groupid": group["id"]})
    recipient: dict[str, Any] = {"objectType": "Group"}
    if group.get("name") is not None:
        recipient["name"] = group["name"]
    recipient["member"] = [c.user(m.get("userid")) for m in members]
    statement = _statement(
        c, user, SENT, message(c, lang, row), lang,
        parent=[c.course_activity(course)], extensions={PREP + "to": recipient},
    )
    statement["context"]["contextActivities"]["grouping"] = [_group(c, course, group)]
    return [statement]


@event(E + "question_created", function="core\\question_created")
def question_created(c: Context) -> list[Statement]:
    """The question as the interaction it will be in quizzes, plus its Moodle type."""
    user = c.user(c.event.get("userid"))
    course = c.course()
    lang = course_lang(course)
    question = c.by_id("question", c.event.get("objectid"))
    definition = question_definition(c, question, lang) or {}
    definition.setdefault("extensions", {})[f"{EDLM}/activity-extensions/moodle-question-type"] = (
        question.get("qtype")
    )
    obj = {
        "objectType": "Activity",
        "id": f"{c.app}/question?id={question['id']}",
        "definition": definition,
    }
    return [
        _statement(c, user, CREATED, obj, lang, parent=[c.course_activity(course)])
    ]
