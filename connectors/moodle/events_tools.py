"""Admin tools and Totara: certificates (issued, revoked, verified), user tours ended, Totara
programs assigned. Certificates are identified by their public code, so a verification and the
issue it checks land on the same activity."""

from __future__ import annotations

from typing import Any

from connectors.moodle.events_core import _statement
from connectors.moodle.mapping import (
    EDLM,
    Context,
    Statement,
    activity,
    course_lang,
    event,
    verb,
)

CERT = "\\tool_certificate\\event\\"
TLA = "https://w3id.org/xapi/tla/verbs/"


def certificate(c: Context, code: Any) -> dict[str, Any]:
    return activity(
        f"{c.app}/admin/tool/certificate/index.php?code={code}",
        f"{EDLM}/activity-types/certificate",
        {"en": f"Certificate {code}"},
    )


def _certificate_statement(
    c: Context,
    actor: dict[str, Any],
    verb_: dict[str, Any],
    code: Any,
    course: dict[str, Any] | None,
    **extra: Any,
) -> Statement:
    lang = course_lang(course) if course else c.config.source_lang
    statement = _statement(c, actor, verb_, certificate(c, code), lang, **extra)
    if course:
        statement["context"]["contextActivities"]["parent"] = [c.course_activity(course)]
    return statement


def _issue_course(c: Context, issue: dict[str, Any]) -> dict[str, Any] | None:
    return c.course(issue["courseid"]) if issue.get("courseid") is not None else None


@event(CERT + "certificate_issued", function="tool_certificate\\certificate_issued")
def certificate_issued(c: Context) -> list[Statement]:
    learner = c.user(c.event.get("relateduserid"))
    issuer = c.user(c.event.get("userid"))
    issue = c.by_id("tool_certificate_issues", c.event.get("objectid"))
    return [
        _certificate_statement(
            c, learner, verb(TLA + "achieved", "Achieved"), issue.get("code"),
            _issue_course(c, issue), instructor=issuer,
        )
    ]


@event(CERT + "certificate_revoked", function="tool_certificate\\certificate_revoked")
def certificate_revoked(c: Context) -> list[Statement]:
    """The issue row is gone: its code comes from `other`, its course from the event."""
    learner = c.user(c.event.get("relateduserid"))
    revoker = c.user(c.event.get("userid"))
    return [
        _certificate_statement(
            c, learner, verb(TLA + "forfeited", "Forfeited"), c.other.get("code"),
            c.optional_course(), instructor=revoker,
        )
    ]


@event(CERT + "certificate_verified", function="tool_certificate\\certificate_verified")
def certificate_verified(c: Context) -> list[Statement]:
    user = c.user(c.event.get("userid"))
    issue = c.by_id("tool_certificate_issues", c.event.get("objectid"))
    return [
        _certificate_statement(
            c, user, verb(TLA + "verified", "Verified"), issue.get("code"),
            _issue_course(c, issue),
        )
    ]


@event("\\tool_usertours\\event\\tour_ended", function="tool_usertours\\tour_ended")
def tour_ended(c: Context) -> list[Statement]:
    """The toured page itself (its URL) is the object, with no definition."""
    user = c.user(c.event.get("userid"))
    obj = {"id": c.other.get("pageurl"), "objectType": "Activity"}
    return [
        _statement(c, user, verb(f"{EDLM}/verbs/toured", "Toured"), obj, c.config.source_lang)
    ]


@event("\\totara_program\\event\\program_assigned", function="totara_program\\program_assigned")
def program_assigned(c: Context) -> list[Statement]:
    """The plugin's program object has no objectType (Activity is the xAPI default)."""
    user = c.user(c.event.get("userid"))
    program = c.by_id("prog", c.event.get("objectid"))
    lang = c.config.source_lang
    obj = {
        "id": f"{c.app}/totara/program/view.php?id={program['id']}",
        "definition": {
            "type": "http://id.tincanapi.com/activitytype/lms/program",
            "name": {lang: program.get("fullname") or "A Totara program"},
        },
    }
    return [
        _statement(
            c, user, verb("http://activitystrea.ms/schema/1.0/assign", "Assigned"), obj, lang
        )
    ]
