"""Caliper 1.1/1.2 events (Canvas live events, Open edX, any sensor) -> xAPI statements.

Published Caliper -> xAPI crosswalks are thin, so verbs follow, where one exists, the pairing
the Open edX plugin makes when it emits both formats from one event (load_video -> Started /
initialized, play_video -> Resumed / played, problem submitted -> Submitted / attempted,
seek -> JumpedTo / seeked, caption and speed changes -> interacted, link and tab clicks ->
NavigatedTo / navigated), so one learner's Open edX history reads the same through either
path; otherwise the ADL and community vocabularies (logged-in, scored, posted, ...).

Who did it: Caliper names people by IRI; xAPI needs an account. An actor id
`<origin>/user/<name>` (Open edX, many sensors) becomes account {homePage: origin, name};
any other id (Canvas `urn:instructure:canvas:user:...`) becomes account {homePage: the
sensor, name: the whole id}. A GradeEvent's actor is the grader: the statement's actor is
the learner graded (`object.assignee`), the grader goes to `context.instructor`.

Statement ids: uuid5 of ("caliper:" + sensor, event id), so a resent envelope is stored once.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from connectors.base import MappingError, fraction, statement_id

ADL = "http://adlnet.gov/expapi/verbs/"
VIDEO_VERB = "https://w3id.org/xapi/video/verbs/"
VERB_IDS = {
    "logged-in": "https://w3id.org/xapi/adl/verbs/logged-in",
    "logged-out": "https://w3id.org/xapi/adl/verbs/logged-out",
    "navigated": "https://w3id.org/xapi/dod-isd/verbs/navigated",
    "viewed": "http://id.tincanapi.com/verb/viewed",
    "initialized": ADL + "initialized",
    "attempted": ADL + "attempted",
    "suspended": ADL + "suspended",
    "resumed": ADL + "resumed",
    "completed": ADL + "completed",
    "skipped": "http://id.tincanapi.com/verb/skipped",
    "scored": ADL + "scored",
    "played": VIDEO_VERB + "played",
    "paused": VIDEO_VERB + "paused",
    "seeked": VIDEO_VERB + "seeked",
    "interacted": ADL + "interacted",
    "posted": "https://w3id.org/xapi/acrossx/verbs/posted",
    "subscribed": "http://id.tincanapi.com/verb/subscribed",
    "unsubscribed": "http://id.tincanapi.com/verb/unsubscribed",
    "commented": ADL + "commented",
    "used": "http://activitystrea.ms/schema/1.0/use",
    "registered": ADL + "registered",
    "unregistered": "http://id.tincanapi.com/verb/unregistered",
    "passed": ADL + "passed",
    "failed": ADL + "failed",
}

# (event type, action) -> verb; (None, action) applies to any event type.
VERBS: dict[tuple[str | None, str], str] = {
    ("SessionEvent", "LoggedIn"): "logged-in",
    ("SessionEvent", "LoggedOut"): "logged-out",
    ("SessionEvent", "TimedOut"): "logged-out",
    (None, "NavigatedTo"): "navigated",
    (None, "Viewed"): "viewed",
    ("AssessmentEvent", "Started"): "initialized",
    ("AssessmentEvent", "Submitted"): "attempted",
    ("AssessmentEvent", "Paused"): "suspended",
    ("AssessmentEvent", "Resumed"): "resumed",
    ("AssessmentEvent", "Restarted"): "initialized",
    ("AssessmentItemEvent", "Started"): "attempted",
    ("AssessmentItemEvent", "Completed"): "completed",
    ("AssessmentItemEvent", "Skipped"): "skipped",
    ("GradeEvent", "Graded"): "scored",
    ("OutcomeEvent", "Graded"): "scored",
    ("MediaEvent", "Started"): "initialized",
    ("MediaEvent", "Resumed"): "played",
    ("MediaEvent", "Paused"): "paused",
    ("MediaEvent", "Ended"): "completed",
    ("MediaEvent", "JumpedTo"): "seeked",
    ("MediaEvent", "Seeked"): "seeked",
    ("ForumEvent", "Subscribed"): "subscribed",
    ("ForumEvent", "Unsubscribed"): "unsubscribed",
    ("ThreadEvent", "MarkedAsRead"): "viewed",
    ("MessageEvent", "Posted"): "posted",
    ("MessageEvent", "MarkedAsRead"): "viewed",
    ("AnnotationEvent", "Commented"): "commented",
    ("ToolUseEvent", "Used"): "used",
    ("Event", "Activated"): "registered",
    ("Event", "Deactivated"): "unregistered",
    ("Event", "Completed"): "completed",
}
MEDIA_INTERACTIONS = {
    "ChangedSpeed",
    "ChangedVolume",
    "ChangedResolution",
    "ChangedSize",
    "EnabledClosedCaptioning",
    "DisabledClosedCaptioning",
    "EnteredFullScreen",
    "ExitedFullScreen",
    "Muted",
    "Unmuted",
    "OpenedPopout",
    "ClosedPopout",
}

A = "http://adlnet.gov/expapi/activities/"
ACTIVITY_TYPES = {
    "Assessment": A + "assessment",
    "AssessmentItem": A + "question",
    "VideoObject": "https://w3id.org/xapi/video/activity-type/video",
    "AudioObject": "https://w3id.org/xapi/audio/activity-type/audio",
    "MediaObject": A + "media",
    "CourseOffering": A + "course",
    "CourseSection": A + "course",
    "Webpage": A + "link",
    "WebPage": A + "link",
    "DigitalResource": "http://id.tincanapi.com/activitytype/resource",
    "DigitalResourceCollection": "http://id.tincanapi.com/activitytype/resource",
    "Document": "http://id.tincanapi.com/activitytype/document",
    "Forum": "http://id.tincanapi.com/activitytype/discussion",
    "Thread": "http://id.tincanapi.com/activitytype/discussion",
    "Message": "http://id.tincanapi.com/activitytype/forum-reply",
    "SoftwareApplication": "http://activitystrea.ms/schema/1.0/application",
    "Annotation": "http://id.tincanapi.com/activitytype/resource",
    "AssignableDigitalResource": A + "assessment",
    "LearningObjective": A + "objective",
}
X_SESSION = "https://w3id.org/lrs/caliper/session"
X_EVENT_TYPE = "https://w3id.org/lrs/caliper/event"
X_VIDEO_TIME = "https://w3id.org/xapi/video/extensions/time"
_USER = re.compile(r"^(https?://[^/]+)/users?/([^/?#]+)$")
_DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def _ref(value: Any) -> dict[str, Any]:
    """A Caliper entity given as an object or as a bare IRI."""
    if isinstance(value, str):
        return {"id": value}
    return value if isinstance(value, dict) else {}


def actor_of(entity: Any, sensor: str) -> dict[str, Any]:
    person = _ref(entity)
    identifier = person.get("id")
    if not isinstance(identifier, str) or not identifier:
        raise MappingError("the event has no actor id")
    match = _USER.match(identifier)
    if match:
        return {"objectType": "Agent", "account": {"homePage": match.group(1), "name": match.group(2)}}
    if not sensor.startswith(("http://", "https://")):
        raise MappingError(f"actor {identifier!r} is no <origin>/user/<name> IRI and the sensor is no URL")
    return {"objectType": "Agent", "account": {"homePage": sensor, "name": identifier}}


def _seconds(duration: Any) -> float | None:
    if isinstance(duration, int | float):
        return float(duration)
    match = _DURATION.match(duration) if isinstance(duration, str) else None
    if not match:
        return None
    days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=secs).total_seconds()


def _activity(entity: dict[str, Any]) -> dict[str, Any]:
    activity: dict[str, Any] = {"objectType": "Activity", "id": entity["id"]}
    definition: dict[str, Any] = {}
    kind = ACTIVITY_TYPES.get(str(entity.get("type")))
    if kind:
        definition["type"] = kind
    if isinstance(entity.get("name"), str) and entity["name"]:
        definition["name"] = {"en": entity["name"]}
    if isinstance(entity.get("description"), str) and entity["description"]:
        definition["description"] = {"en": entity["description"]}
    if definition:
        activity["definition"] = definition
    return activity


def _verb(event: dict[str, Any]) -> dict[str, Any]:
    kind, action = str(event.get("type")), str(event.get("action"))
    name = VERBS.get((kind, action)) or VERBS.get((None, action))
    if name is None and kind == "MediaEvent" and action in MEDIA_INTERACTIONS:
        name = "interacted"
    if name is None:
        raise MappingError(f"no xAPI verb for a {kind} {action}")
    return {"id": VERB_IDS[name], "display": {"en": name}}


def _score(given: Any, maximum: Any, success: Any = None) -> dict[str, Any]:
    result: dict[str, Any] = {}
    score: dict[str, Any] = {}
    if isinstance(given, int | float):
        score["raw"] = given
        if isinstance(maximum, int | float) and maximum > 0:
            score.update(min=0, max=maximum, scaled=fraction(given, maximum))
    if score:
        result["score"] = score
    if isinstance(success, str):
        success = {"true": True, "false": False}.get(success.lower())
    if isinstance(success, bool):
        result["success"] = success
    return result


def map_event(event: Any, sensor: str) -> list[dict[str, Any]]:
    """One Caliper event -> one xAPI statement (an unknown profile or action is refused)."""
    if not isinstance(event, dict):
        raise MappingError("a Caliper event must be a JSON object")
    if "metadata" in event and "body" in event:
        return map_canvas_outcome(event, sensor)
    for name in ("id", "type", "action", "actor", "object", "eventTime"):
        if not event.get(name):
            raise MappingError(f"the Caliper event has no {name}")
    verb = _verb(event)
    obj = _ref(event["object"])
    actor_entity = event["actor"]
    result: dict[str, Any] = {}
    context: dict[str, Any] = {}
    ext = obj.get("extensions")
    extensions: dict[str, Any] = ext if isinstance(ext, dict) else {}
    if event["type"] in ("GradeEvent", "OutcomeEvent"):
        # the object is an Attempt: the learner is its assignee, the activity its assignable
        assignee = obj.get("assignee") or extensions.get("assignee")
        assignable = obj.get("assignable") or extensions.get("assignable")
        if not _ref(assignee).get("id"):
            # The event's actor is the grader (a teacher, an autograder): without the Attempt's
            # assignee the score would be credited to the grader, not to the learner.
            raise MappingError(
                f"the {event['type']}'s attempt names no assignee (the learner graded)"
            )
        if _ref(assignee).get("id") != _ref(actor_entity).get("id"):
            context["instructor"] = actor_of(actor_entity, sensor)
        actor_entity = assignee
        generated = _ref(event.get("generated"))
        score = _ref(generated.get("score")) if "score" in generated else generated
        ext = score.get("extensions")
        score_ext: dict[str, Any] = ext if isinstance(ext, dict) else {}
        result = _score(score.get("scoreGiven"), score.get("maxScore"), score_ext.get("success"))
        if assignable:
            obj = {**_ref(assignable), "isPartOf": obj.get("isPartOf") or extensions.get("isPartOf")}
    if not isinstance(obj.get("id"), str) or not obj["id"] or obj["id"].startswith("_:"):
        raise MappingError("the Caliper event's object has no IRI id")
    if event["type"] == "MediaEvent":
        target = _ref(event.get("target"))
        position = _seconds(target.get("currentTime"))
        if position is not None:
            result["extensions"] = {X_VIDEO_TIME: position}
        if verb["display"]["en"] == "completed":
            result["completion"] = True
    parent = obj.get("isPartOf") or extensions.get("isPartOf")
    activities: dict[str, Any] = {}
    if parent and _ref(parent).get("id"):
        activities["parent"] = [_activity(_ref(parent))]
    group = _ref(event.get("group"))
    if group.get("id") and group.get("id") != _ref(parent).get("id"):
        activities["grouping"] = [_activity(group)]
    if activities:
        context["contextActivities"] = activities
    context_extensions: dict[str, Any] = {X_EVENT_TYPE: f"{event['type']}/{event['action']}"}
    session = _ref(event.get("session"))
    if session.get("id"):
        context_extensions[X_SESSION] = session["id"]
    context["extensions"] = context_extensions
    statement: dict[str, Any] = {
        "id": statement_id(f"caliper:{sensor}", str(event["id"])),
        "actor": actor_of(actor_entity, sensor),
        "verb": verb,
        "object": _activity(obj),
        "context": context,
        "timestamp": event["eventTime"],
    }
    if result:
        statement["result"] = result
    return [statement]


def map_canvas_outcome(event: dict[str, Any], sensor: str) -> list[dict[str, Any]]:
    """A Canvas-format `learning_outcome_result_*` live event: direct evidence of mastery."""
    metadata, body = _ref(event.get("metadata")), _ref(event.get("body"))
    name = str(metadata.get("event_name", ""))
    if not name.startswith("learning_outcome_result"):
        raise MappingError(f"Canvas event {name or '?'} is not mapped (only learning_outcome_result_*)")
    # The learner is body.user_id; metadata.user_id is whoever's request raised the event (the
    # teacher who assessed), never the learner to credit.
    user = body.get("user_id")
    outcome = body.get("learning_outcome_id")
    host = metadata.get("hostname") or metadata.get("http_host")
    home = f"https://{host}" if host else sensor
    if not (user and outcome and home.startswith(("http://", "https://"))):
        raise MappingError("learning outcome result without user_id, learning_outcome_id or host")
    record = metadata.get("event_id") or f"{body.get('id', '')}|{body.get('updated_at', '')}"
    timestamp = body.get("assessed_at") or body.get("updated_at") or metadata.get("event_time")
    if not timestamp:
        raise MappingError("learning outcome result without a time")
    result = _score(body.get("score"), body.get("possible"), body.get("mastery"))
    if not result:
        raise MappingError("learning outcome result without mastery or score")
    statement = {
        "id": statement_id(f"caliper:{sensor}", str(record)),
        "actor": {"objectType": "Agent", "account": {"homePage": home, "name": str(user)}},
        "verb": {"id": VERB_IDS["scored"], "display": {"en": "scored"}},
        "object": {
            "objectType": "Activity",
            "id": f"{home}/outcomes/{outcome}",
            "definition": {"type": ACTIVITY_TYPES["LearningObjective"]},
        },
        "result": result,
        "timestamp": timestamp,
    }
    title = body.get("learning_outcome_context_title") or body.get("title")
    if isinstance(title, str) and title:
        statement["object"]["definition"]["name"] = {"en": title}
    return [statement]


def events_of(value: Any) -> tuple[str, list[Any]]:
    """(sensor, events) from an envelope or a bare event (a file line)."""
    if isinstance(value, dict) and "data" in value and "sensor" in value:
        data = value["data"]
        return str(value["sensor"]), data if isinstance(data, list) else [data]
    return "", [value]
