"""Open edX tracking events -> xAPI, as openedx/event-routing-backends (v10) maps them.

A port of the transformers in `event_routing_backends/processors/xapi/` without Django, tincan
or LMS database look-ups: what those look-ups answer (the learner's anonymous id, a course's
display name) is configuration (`Deployment`), so the mapping stays a pure function of the
event. With the same answers it reproduces the plugin's statements, ids included: the plugin
derives an id as uuid5(uuid5(NAMESPACE_URL, verb JSON), actor JSON + "-" + timestamp), with
tincan's JSON spelling, and so do we (`_erb_id`). Re-running the connector, or running it
next to the plugin, never stores an event twice.

Deliberate differences, where the plugin's output is not valid xAPI and our store would refuse
it: a multi-question problem's object is an `Activity` (the plugin says `GroupActivity`, which
xAPI does not know); a special exam's grouping activity id that is not an IRI (the plugin
copies the proctoring attempt code) becomes an IRI under the LMS (`.../attempt/<code>`); empty
objects (`"extensions": {}`) are left out; a score maximum of 0 (xAPI wants max > min) is left
out. The transformer-version context extension names
this connector, not the plugin.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

from connectors.base import MappingError, Unmapped

XAPI_VERSION = "1.0.3"
TRANSFORMER_VERSION = "lrs-connectors-openedx@1 (event-routing-backends v10)"
EN, EN_US = "en", "en-US"

# xAPI verbs, activity types and extensions the plugin uses (its constants.py).
V = "http://adlnet.gov/expapi/verbs/"
VERBS = {
    "attempted": V + "attempted",
    "evaluated": "https://w3id.org/xapi/acrossx/verbs/evaluated",
    "registered": V + "registered",
    "unregistered": "http://id.tincanapi.com/verb/unregistered",
    "completed": V + "completed",
    "passed": V + "passed",
    "failed": V + "failed",
    "navigated": "https://w3id.org/xapi/dod-isd/verbs/navigated",
    "posted": "https://w3id.org/xapi/acrossx/verbs/posted",
    "edited": "https://w3id.org/xapi/acrossx/verbs/edited",
    "viewed": "http://id.tincanapi.com/verb/viewed",
    "deleted": "https://w3id.org/xapi/dod-isd/verbs/deleted",
    "voted": "https://w3id.org/xapi/openedx/verb/voted",
    "reported": "https://w3id.org/xapi/acrossx/verbs/reported",
    "unreported": "https://w3id.org/xapi/openedx/verb/unreported",
    "earned": "http://id.tincanapi.com/verb/earned",
    "progressed": V + "progressed",
    "terminated": V + "terminated",
    "asked": V + "asked",
    "initialized": V + "initialized",
    "played": "https://w3id.org/xapi/video/verbs/played",
    "paused": "https://w3id.org/xapi/video/verbs/paused",
    "seeked": "https://w3id.org/xapi/video/verbs/seeked",
    "interacted": V + "interacted",
}
A = "http://adlnet.gov/expapi/activities/"
QUESTION = A + "question"
SOLUTION = "http://id.tincanapi.com/activitytype/solution"
RESOURCE = "http://id.tincanapi.com/activitytype/resource"
INTERACTION = A + "cmi.interaction"
SUPPLEMENTAL_INFO = "https://w3id.org/xapi/acrossx/extensions/supplemental-info"
COURSE = A + "course"
MODULE = A + "module"
VIDEO = "https://w3id.org/xapi/video/activity-type/video"
DISCUSSION = "http://id.tincanapi.com/activitytype/discussion"
LINK = A + "link"
EXAM_ATTEMPT = A + "attempt"
EXAM_TYPES = {
    "timed": "https://w3id.org/xapi/openedx/activity/timed-assessment",
    "practice": "https://w3id.org/xapi/openedx/activity/practice-assessment",
    "proctored": "https://w3id.org/xapi/openedx/activity/proctored-assessment",
}
X_TOTAL_COUNT = "https://w3id.org/xapi/acrossx/extensions/total-items"
X_MODE = "https://w3id.org/xapi/acrossx/extensions/type"
X_ATTEMPT = "http://id.tincanapi.com/extension/attempt-id"
X_GRADE_CLASSIFICATION = "http://www.tincanapi.co.uk/activitytypes/grade_classification"
X_PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
X_VIDEO_LENGTH = "https://w3id.org/xapi/video/extensions/length"
X_STARTING_POSITION = "http://id.tincanapi.com/extension/starting-position"
X_ENDING_POSITION = "http://id.tincanapi.com/extension/ending-point"
X_SESSION_ID = "https://w3id.org/xapi/openedx/extensions/session-id"
X_TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"
X_TIME_LIMIT = "https://w3id.org/xapi/acrossx/extensions/time-limit"
X_ATTEMPT_STARTED = "https://w3id.org/xapi/openedx/extension/attempt-started"
X_ATTEMPT_COMPLETED = "https://w3id.org/xapi/openedx/extension/attempt-completed"
X_DURATION = "http://id.tincanapi.com/extension/duration"
X_VIDEO_TIME = "https://w3id.org/xapi/video/extensions/time"
X_VIDEO_TIME_FROM = "https://w3id.org/xapi/video/extensions/time-from"
X_VIDEO_TIME_TO = "https://w3id.org/xapi/video/extensions/time-to"
X_SPEED_FROM = "https://w3id.org/xapi/openedx/extension/speed-from"
X_SPEED_TO = "https://w3id.org/xapi/openedx/extension/speed-to"
X_CC_ENABLED = "https://w3id.org/xapi/video/extensions/cc-enabled"

INTERACTION_TYPES = {
    "choiceresponse": "choice",
    "multiplechoiceresponse": "choice",
    "numericalresponse": "numeric",
    "stringresponse": "fill-in",
    "customresponse": "other",
    "coderesponse": "other",
    "externalresponse": "other",
    "formularesponse": "fill-in",
    "schematicresponse": "other",
    "imageresponse": "matching",
    "annotationresponse": "fill-in",
    "choicetextresponse": "choice",
    "optionresponse": "choice",
    "symbolicresponse": "fill-in",
    "truefalseresponse": "true-false",
    "non_existent": "other",
}

ERB_NAMESPACE = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")  # the plugin's base uuid
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Deployment:
    """What the plugin looks up in the LMS, given as configuration.

    `actor_name` maps a user id or username to the account name (the plugin uses the
    learner's anonymous external id for xAPI); by default the user id or username itself.
    `course_name` gives a course's display name (the plugin reads course overviews); None
    leaves the name out.
    """

    lms_url: str
    actor_name: Callable[[str], str | None] | None = None
    course_name: Callable[[str], str | None] = field(default=lambda course_id: None)

    @classmethod
    def with_names(cls, lms_url: str, actors: Mapping[str, str], courses: Mapping[str, str]) -> Deployment:
        """A deployment whose look-ups are tables (exported from the LMS): users without an
        entry keep their user id or username as the account name."""
        return cls(lms_url, lambda user: actors.get(user, user), courses.get)


Event = dict[str, Any]


# reading events as the plugin does ---------------------------------------------------------
def _empty(value: Any) -> bool:
    return value is None or (value != 0 and not value)


def _find(event: Any, key: str) -> Any:
    """The plugin's `find_nested`: the first `key` at any depth, depth first."""
    if key in event:
        return event[key]
    for value in event.values():
        if isinstance(value, dict):
            found = _find(value, key)
            if found is not None:
                return found
    return None


def get(event: Event, key: str, required: bool = False) -> Any:
    """The plugin's `get_data`: dotted paths from the top, plain keys at any depth; empty
    values (but not 0) count as missing."""
    if "." in key:
        value: Any = event
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
    else:
        value = _find(event, key)
    if _empty(value):
        value = None
    if value is None and required:
        raise MappingError(f"event {event.get('name')!r} has no {key}")
    return value


def _prune(value: Any) -> Any:
    """Drop None and empty values recursively (the plugin's `del_none` plus tincan's own)."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if not (v is None or (v != 0 and v is not False and not v))}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def seconds(value: Any) -> float | None:
    """The plugin's `convert_seconds_to_float`: three decimals, None when empty."""
    if _empty(value):
        return None
    return float(f"{float(value):.3f}")


def iso_duration(total: float) -> str:
    """A number of seconds as tincan writes an ISO 8601 duration (PT03M15S)."""
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    days, hours, minutes = int(days), int(hours), int(minutes)
    secs = round(secs, 6)
    date = f"{days}D" if days else ""
    time = "T"
    bigger = bool(date or hours)
    if bigger:
        time += f"{hours:02}H"
    bigger = bigger or bool(minutes)
    if bigger:
        time += f"{minutes:02}M"
    text = f"{int(secs):02}" if float(secs).is_integer() else (f"{secs:09.6f}").rstrip("0")
    return "P" + date + time + text + "S"


def _iso_timestamp(text: str) -> str:
    """As tincan writes it (`+00:00`, not `Z`); a time without zone is UTC, as Open edX logs."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"not an ISO 8601 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _verb(name: str) -> dict[str, Any]:
    return {"id": VERBS[name], "display": {EN: name}}


def _tincan_json(value: dict[str, Any]) -> str:
    return json.dumps(value)


def _erb_id(actor: dict[str, Any], timestamp: str, verb: dict[str, Any], child: str | None = None) -> str:
    """The plugin's statement id: the same bytes in, the same id out.

    tincan serialises an Agent as objectType then account (name before homePage), and a
    Verb as id then display; the child of a multi-question problem adds its question id.
    """
    agent: dict[str, Any] = {"objectType": "Agent"}
    if "account" in actor:
        agent["account"] = {"name": actor["account"]["name"], "homePage": actor["account"]["homePage"]}
    else:
        agent.update({k: v for k, v in actor.items() if k != "objectType"})
    verb_json = _tincan_json({"id": verb["id"], "display": verb["display"]})
    namespace_key = verb_json if child is None else f"{verb_json}-{child}"
    namespace = uuid.uuid5(ERB_NAMESPACE, namespace_key)
    return str(uuid.uuid5(namespace, f"{_tincan_json(agent)}-{timestamp}"))


# the transformer ---------------------------------------------------------------------------
class _Transformer:
    """One event's transformation; the parts the plugin's transformer classes share."""

    def __init__(self, event: Event, deployment: Deployment) -> None:
        self.event = event
        self.d = deployment
        self.root = deployment.lms_url.rstrip("/")
        self.name: str = get(event, "name", True)

    def get(self, key: str, required: bool = False) -> Any:
        return get(self.event, key, required)

    def iri(self, kind: str, object_id: Any) -> str | None:
        if object_id is None:
            return None
        return f"{self.root}/{kind}/{object_id}"

    def actor(self) -> dict[str, Any]:
        user = self.get("data.user_id") or self.get("data.username")
        if not user:
            user = self.get("user_id") or self.get("username")
        if not user:
            raise MappingError(f"event {self.name!r} names no user (an anonymous visitor)")
        name = self.d.actor_name(str(user)) if self.d.actor_name else str(user)
        if not name:
            raise MappingError(f"no account known for Open edX user {user}")
        return {"objectType": "Agent", "account": {"homePage": self.root, "name": name}}

    def timestamp(self) -> str:
        """The event's time as given: the statement id is derived from this very text."""
        value = self.get("timestamp") or self.get("time")
        if not value:
            raise MappingError(f"event {self.name!r} has no timestamp")
        return str(value)

    def course_activity(self, course_id: str, lang: str = EN_US) -> dict[str, Any]:
        name = self.d.course_name(course_id)
        return {
            "id": self.iri("course", course_id),
            "objectType": "Activity",
            "definition": {"type": COURSE, "name": {lang: name} if name else None},
        }

    def context_activities(self) -> dict[str, Any] | None:
        course_id = self.get("context.course_id")
        if course_id is None:
            return None
        return {"parent": [self.course_activity(course_id)]}

    def context_extensions(self) -> dict[str, Any]:
        return {X_TRANSFORMER_VERSION: TRANSFORMER_VERSION, X_SESSION_ID: self.get("session")}

    def context(self) -> dict[str, Any]:
        return {"contextActivities": self.context_activities(), "extensions": self.context_extensions()}

    def verb(self) -> dict[str, Any]:
        raise NotImplementedError

    def object(self) -> dict[str, Any]:
        raise NotImplementedError

    def result(self) -> dict[str, Any] | None:
        return None

    def statement(self) -> dict[str, Any]:
        actor, timestamp, verb = self.actor(), self.timestamp(), self.verb()
        obj = self.object()
        if not obj.get("id"):
            raise MappingError(f"event {self.name!r}: cannot tell the object's id")
        statement = {
            "id": _erb_id(actor, timestamp, verb),
            "actor": actor,
            "verb": verb,
            "object": {"objectType": "Activity", **obj},
            "result": self.result(),
            "context": self.context(),
            "timestamp": _iso_timestamp(timestamp),
            "version": XAPI_VERSION,
        }
        pruned: dict[str, Any] = _prune(statement)
        return pruned

    def transform(self) -> list[dict[str, Any]]:
        return [self.statement()]


class _Fixed(_Transformer):
    verb_name = ""

    def verb(self) -> dict[str, Any]:
        return _verb(self.verb_name)


# enrollment and course grade ---------------------------------------------------------------
class _Enrollment(_Fixed):
    def context_activities(self) -> dict[str, Any] | None:
        return None

    def object(self) -> dict[str, Any]:
        course = self.course_activity(self.get("context.course_id", True), EN)
        course["definition"]["extensions"] = {X_MODE: self.get("data.mode")}
        return course


# completion and grades ---------------------------------------------------------------------
class _Completion(_Fixed):
    verb_name = "progressed"

    def object(self) -> dict[str, Any]:
        return {"id": self.iri("xblock", self.get("data.block_id")), "definition": {"type": RESOURCE}}

    def result(self) -> dict[str, Any] | None:
        completion = self.get("data.completion")
        if completion is None:
            raise MappingError("completion event without data.completion")
        return {"completion": completion == 1.0, "extensions": {X_PROGRESS: completion * 100}}


def _score(raw: Any, maximum: Any, scaled: Any) -> dict[str, Any]:
    """min 0 as the plugin has it; a maximum of 0 is left out, since xAPI wants max > min."""
    return {
        "min": 0,
        "max": maximum if maximum is None or maximum > 0 else None,
        "raw": raw,
        "scaled": scaled,
    }


def _earned_score(earned: Any, possible: Any) -> dict[str, Any]:
    possible, earned = possible or 0, earned or 0
    scaled = earned / possible if possible > 0 else 0
    return {"success": earned >= possible, "score": _score(earned, possible, scaled)}


class _SubsectionGraded(_Fixed):
    verb_name = "earned"

    def object(self) -> dict[str, Any]:
        return {"id": self.iri("xblock", self.get("data.block_id", True)), "definition": {"type": RESOURCE}}

    def result(self) -> dict[str, Any] | None:
        data = self.get("data") or {}
        return _earned_score(data.get("weighted_total_earned"), data.get("weighted_total_possible"))


class _CourseGraded(_Fixed):
    verb_name = "earned"

    def object(self) -> dict[str, Any]:
        course = self.course_activity(self.get("context.course_id", True), EN)
        return course

    def result(self) -> dict[str, Any] | None:
        data = self.get("data") or {}
        earned = data.get("percent_grade") or 0
        return {
            "score": _score(earned, 1.0, earned),
            "extensions": {X_GRADE_CLASSIFICATION: self.get("data.letter_grade") or "Fail"},
        }


# exams -------------------------------------------------------------------------------------
class _Exam(_Fixed):
    def object(self) -> dict[str, Any]:
        kind = self.name.split(".")[2]
        return {
            "id": self.get("event.exam_content_id") or self.get("data.exam_content_id"),
            "definition": {
                "type": EXAM_TYPES[kind],
                "name": {EN: self.get("exam_name")},
                "extensions": {X_TIME_LIMIT: self.get("exam_default_time_limit_mins")},
            },
        }

    def context_activities(self) -> dict[str, Any] | None:
        activities = super().context_activities() or {}
        code = self.get("attempt_code")
        if code is not None and not _IRI.match(str(code)):
            code = f"{self.root}/attempt/{code}"
        activities["grouping"] = [
            {
                "id": code,
                "objectType": "Activity",
                "definition": {
                    "type": EXAM_ATTEMPT,
                    "name": {EN: self.get("exam_name")},
                    "extensions": {
                        X_ATTEMPT_STARTED: self.get("attempt_started_at"),
                        X_ATTEMPT_COMPLETED: self.get("attempt_completed_at"),
                        X_DURATION: self.get("attempt_event_elapsed_time_secs"),
                        X_ATTEMPT: self.get("attempt_id"),
                    },
                },
            }
        ]
        return activities


# forums ------------------------------------------------------------------------------------
class _Forum(_Fixed):
    extension_key: str | None = None

    def object(self) -> dict[str, Any]:
        object_id = self.get("data.id", True)
        path = self.get("context.path", True).rstrip("/").replace(object_id, "").rstrip("/")
        title = self.get("data.title")
        return {
            "id": f"{self.root}{path}/{object_id}",
            "definition": {"type": DISCUSSION, "name": {EN: title} if title else None},
        }

    def context_activities(self) -> dict[str, Any] | None:
        activities = super().context_activities()
        discussion = self.get("data.discussion.id")
        if not discussion:
            return activities
        activities = activities or {}
        activities["grouping"] = [
            {
                "id": f"{self.root}/api/discussion/v1/threads/{discussion}",
                "objectType": "Activity",
                "definition": {"type": DISCUSSION},
            }
        ]
        return activities

    def context_extensions(self) -> dict[str, Any]:
        extensions = super().context_extensions()
        if self.extension_key:
            extensions[X_MODE] = self.get(self.extension_key)
        return extensions


# navigation --------------------------------------------------------------------------------
class _Navigation(_Fixed):
    verb_name = "navigated"

    def object(self) -> dict[str, Any]:
        if self.name == "edx.ui.lms.link_clicked":
            return {"id": self.get("data.target_url", True), "definition": {"type": LINK}}
        if self.name.endswith("outline.selected"):
            return {
                "id": self.get("data.target_url"),
                "definition": {"type": MODULE, "name": {EN: self.get("data.target_name")}},
            }
        return {
            "id": self.iri("xblock", self.get("data.id")),
            "definition": {"type": RESOURCE, "extensions": {X_TOTAL_COUNT: self.get("data.tab_count")}},
        }

    def context_extensions(self) -> dict[str, Any]:
        extensions = super().context_extensions()
        if not self.name.startswith("edx.ui.lms.sequence.") or self.name.endswith("outline.selected"):
            return extensions
        ending = {
            "edx.ui.lms.sequence.tab_selected": self.get("data.target_tab"),
            "edx.ui.lms.sequence.next_selected": "next unit",
        }.get(self.name, "previous unit")
        extensions[X_STARTING_POSITION] = self.get("data.current_tab")
        extensions[X_ENDING_POSITION] = ending
        return extensions


# problems ----------------------------------------------------------------------------------
PROBLEM_VERBS = {
    "edx.grades.problem.submitted": "attempted",
    "problem_check_browser": "attempted",
    "problem_check": "evaluated",
    "showanswer": "asked",
    "edx.problem.hint.demandhint_displayed": "asked",
    "edx.problem.completed": "completed",
}
PROBLEM_TYPES = {
    "edx.grades.problem.submitted": QUESTION,
    "showanswer": SOLUTION,
    "edx.problem.hint.demandhint_displayed": SUPPLEMENTAL_INFO,
}


class _Problem(_Transformer):
    def source(self) -> Any:
        return self.get("event_source") or self.get("context.event_source")

    def verb(self) -> dict[str, Any]:
        key = self.name
        if self.source() == "browser" and self.name == "problem_check":
            key = "problem_check_browser"
        return _verb(PROBLEM_VERBS[key])

    def object_id(self) -> Any:
        data = self.get("data")
        if data and isinstance(data, dict):
            return self.get("data.problem_id") or self.get("data.module_id", True)
        return self.get("usage_key")

    def definition(self) -> dict[str, Any]:
        return {"type": PROBLEM_TYPES.get(self.name, INTERACTION)}

    def object(self) -> dict[str, Any]:
        object_id = self.object_id()
        if self.name == "showanswer":
            object_id = f"{self.iri('xblock', self.get('problem_id', True))}/answer"
        elif self.name == "edx.problem.hint.demandhint_displayed":
            module = self.get("module_id", True)
            object_id = f"{self.iri('xblock', module)}/hint/{self.get('hint_index', True)}"
        elif self.name == "edx.grades.problem.submitted":
            object_id = self.iri("xblock", object_id)
        return {"id": object_id, "definition": self.definition()}

    def result(self) -> dict[str, Any] | None:
        if self.name != "edx.grades.problem.submitted":
            return None
        data = self.get("data") or {}
        return _earned_score(data.get("weighted_earned"), data.get("weighted_possible"))


def _block_version(course_id: str) -> str:
    prefix = course_id.split(":")[0]
    version = "block-" + prefix.split("-")[-1]
    return "ccx-" + version if "ccx" in prefix else version


def _problem_block_id(referer: str | None, data: Any, course_id: str | None) -> str | None:
    """The plugin's `get_problem_block_id`: from the referrer's activate_block_id, else from
    the browser event's `input_<block>_2_1=...` data."""
    if referer is not None:
        found = parse_qs(urlparse(referer).query).get("activate_block_id")
        if found and found[0]:
            return found[0]
    if data is not None and course_id is not None and isinstance(data, str):
        parts, course = data.split("_"), course_id.split(":")
        if len(parts) > 1 and len(course) > 1:
            return f"{_block_version(course_id)}:{course[1]}+type@problem+block@{parts[1]}"
    return None


class _ProblemCheck(_Problem):
    child: str | None = None

    def submission(self) -> dict[str, Any] | None:
        submissions: dict[str, dict[str, Any]] | None = self.get("data.submission")
        if submissions:
            for sub in submissions.values():
                if sub.get("response_type"):
                    return sub
        return None

    def child_ids(self) -> list[str]:
        if self.child is not None:
            return []
        submissions = self.get("submission") or {}
        return list(submissions) if len(submissions) > 1 else []

    def definition(self) -> dict[str, Any]:
        definition = super().definition()
        if self.get("data.attempts"):
            definition["extensions"] = {X_ATTEMPT: self.get("data.attempts")}
        interaction = INTERACTION_TYPES.get(self.get("response_type"), "other")
        submission = self.submission()
        if submission:
            interaction = INTERACTION_TYPES.get(submission.get("response_type", ""), "other")
            definition["description"] = {EN_US: submission["question"]}
        elif self.get("display_name"):
            definition["name"] = {EN_US: self.get("display_name")}
        definition["interactionType"] = "other" if self.child_ids() else interaction
        return definition

    def object(self) -> dict[str, Any]:
        if self.source() == "browser":
            referer = self.get("referer") or self.get("context.referer", True)
            block = _problem_block_id(referer, self.get("data"), self.get("context.course_id"))
            return {"id": self.iri("xblock", block), "definition": self.definition()}
        object_id = self.object_id()
        return {"id": self.iri("xblock", object_id) if object_id else None, "definition": self.definition()}

    def result(self) -> dict[str, Any] | None:
        if self.source() == "browser":
            return None
        data = self.get("data")
        data = data if isinstance(data, dict) else {}
        submission = self.submission()
        if submission:
            response, correct = submission["answer"], submission.get("correct")
        else:
            response, correct = data.get("answers"), self.get("success") == "correct"
        max_grade, grade = self.get("max_grade"), self.get("grade")
        scaled = None
        if max_grade is not None and grade is not None:
            scaled = grade / max_grade if max_grade > 0 else 0
        if isinstance(response, list):
            response = json.dumps(response, ensure_ascii=False)
        elif response is not None and not isinstance(response, str):
            response = str(response)  # tincan coerces a response to text
        return {
            "success": correct,
            "score": _score(grade, max_grade, scaled),
            "response": response,
        }

    def transform(self) -> list[dict[str, Any]]:
        parent = self.statement()
        children = []
        for child_id in self.child_ids():
            child = _ProblemChild(self.event, self.d, parent, child_id)
            children.append(child.statement())
        return [parent, *children]


class _ProblemChild(_ProblemCheck):
    """One question of a multi-question problem: refers to the parent statement."""

    def __init__(self, event: Event, deployment: Deployment, parent: dict[str, Any], child: str) -> None:
        super().__init__(event, deployment)
        self.parent = parent
        self.child = child

    def submission(self) -> dict[str, Any] | None:
        return (self.get("submission") or {}).get(self.child)

    def object_id(self) -> Any:
        parent_id = super().object_id() or ""
        return "@".join([*parent_id.split("@")[:-1], str(self.child)])

    def result(self) -> dict[str, Any] | None:
        result = super().result() or {}
        result["score"] = None
        response = (self.submission() or {}).get("answer")
        result["response"] = json.dumps(response, ensure_ascii=False) if isinstance(response, list) else response
        return result

    def context(self) -> dict[str, Any]:
        return {
            "contextActivities": {
                "parent": [self.parent["object"]],
                "grouping": self.parent.get("context", {}).get("contextActivities", {}).get("parent"),
            },
            "extensions": self.context_extensions(),
            "statement": {"objectType": "StatementRef", "id": self.parent["id"]},
        }

    def statement(self) -> dict[str, Any]:
        statement = super().statement()
        statement["id"] = _erb_id(statement["actor"], statement["timestamp"], statement["verb"], str(self.child))
        return statement


# video -------------------------------------------------------------------------------------
VIDEO_VERBS = {
    "load_video": "initialized",
    "edx.video.loaded": "initialized",
    "play_video": "played",
    "edx.video.played": "played",
    "stop_video": "terminated",
    "edx.video.stopped": "terminated",
    "complete_video": "completed",
    "edx.video.completed": "completed",
    "pause_video": "paused",
    "edx.video.paused": "paused",
    "seek_video": "seeked",
    "edx.video.position.changed": "seeked",
}
CC_SHOWN = {"edx.video.closed_captions.shown", "edx.video.transcript.shown", "video_show_cc_menu", "show_transcript"}
CC_EVENTS = CC_SHOWN | {
    "hide_transcript",
    "video_hide_cc_menu",
    "edx.video.transcript.hidden",
    "edx.video.closed_captions.hidden",
}


class _Video(_Transformer):
    def verb(self) -> dict[str, Any]:
        return _verb(VIDEO_VERBS.get(self.name, "interacted"))

    def object(self) -> dict[str, Any]:
        course_id = self.get("context.course_id", True)
        video_id = self.get("data.id", True)
        block = f"{_block_version(course_id)}:{course_id.split(':')[1]}+type@video+block@{video_id}"
        return {"id": f"{self.root}/xblock/{block}", "definition": {"type": VIDEO}}

    def context_extensions(self) -> dict[str, Any]:
        extensions = super().context_extensions()
        extensions[X_VIDEO_LENGTH] = seconds(self.get("data.duration"))
        return extensions

    def current_time(self) -> float | None:
        return seconds(self.get("data.current_time") or self.get("data.currentTime"))

    def result(self) -> dict[str, Any] | None:
        verb = VIDEO_VERBS.get(self.name)
        if verb in ("played", "terminated", "paused"):
            return {"extensions": {X_VIDEO_TIME: self.current_time()}}
        if verb == "completed":
            duration = seconds(self.get("data.duration"))
            return {
                "extensions": {X_VIDEO_TIME: duration},
                "completion": True,
                "duration": iso_duration(duration) if duration is not None else None,
            }
        if verb == "seeked":
            return {
                "extensions": {
                    X_VIDEO_TIME_FROM: seconds(self.get("data.old_time")),
                    X_VIDEO_TIME_TO: seconds(self.get("data.new_time")),
                }
            }
        if self.name == "speed_change_video":
            return {
                "extensions": {
                    X_SPEED_FROM: f"{self.get('data.old_speed', True)}x",
                    X_SPEED_TO: f"{self.get('data.new_speed', True)}x",
                }
            }
        if self.name in CC_EVENTS:
            return {"extensions": {X_VIDEO_TIME: self.current_time(), X_CC_ENABLED: self.name in CC_SHOWN}}
        return None


def _fixed(base: type[_Transformer], verb: str, extension: str | None = None) -> type[_Transformer]:
    return type(f"{base.__name__}_{verb}", (base,), {"verb_name": verb, "extension_key": extension})


TRANSFORMERS: dict[str, type[_Transformer]] = {
    "edx.course.enrollment.activated": _fixed(_Enrollment, "registered"),
    "edx.course.enrollment.mode_changed": _fixed(_Enrollment, "registered"),
    "edx.course.enrollment.deactivated": _fixed(_Enrollment, "unregistered"),
    "edx.course.grade.passed.first_time": _fixed(_Enrollment, "passed"),
    "edx.course.grade.now_passed": _fixed(_Enrollment, "passed"),
    "edx.course.grade.now_failed": _fixed(_Enrollment, "failed"),
    "edx.completion.block_completion.changed": _Completion,
    "edx.grades.subsection.grade_calculated": _SubsectionGraded,
    "edx.grades.course.grade_calculated": _CourseGraded,
    "edx.forum.thread.created": _fixed(_Forum, "posted", "thread_type"),
    "edx.forum.response.created": _fixed(_Forum, "posted"),
    "edx.forum.comment.created": _fixed(_Forum, "posted"),
    "edx.forum.thread.viewed": _fixed(_Forum, "viewed"),
    "edx.forum.thread.voted": _fixed(_Forum, "voted", "vote_value"),
    "edx.forum.response.voted": _fixed(_Forum, "voted", "vote_value"),
    "edx.ui.lms.link_clicked": _Navigation,
    "edx.ui.lms.sequence.outline.selected": _Navigation,
    "edx.ui.lms.outline.selected": _Navigation,
    "edx.ui.lms.sequence.next_selected": _Navigation,
    "edx.ui.lms.sequence.previous_selected": _Navigation,
    "edx.ui.lms.sequence.tab_selected": _Navigation,
    "showanswer": _Problem,
    "edx.problem.completed": _Problem,
    "edx.problem.hint.demandhint_displayed": _Problem,
    "edx.grades.problem.submitted": _Problem,
    "problem_check": _ProblemCheck,
}
for _kind in ("thread", "response", "comment"):
    TRANSFORMERS[f"edx.forum.{_kind}.edited"] = _fixed(_Forum, "edited")
    TRANSFORMERS[f"edx.forum.{_kind}.deleted"] = _fixed(_Forum, "deleted")
    TRANSFORMERS[f"edx.forum.{_kind}.reported"] = _fixed(_Forum, "reported")
    TRANSFORMERS[f"edx.forum.{_kind}.unreported"] = _fixed(_Forum, "unreported")
for _kind in ("timed", "practice", "proctored"):
    TRANSFORMERS[f"edx.special_exam.{_kind}.attempt.created"] = _fixed(_Exam, "initialized")
    TRANSFORMERS[f"edx.special_exam.{_kind}.attempt.submitted"] = _fixed(_Exam, "terminated")
for _name in [*VIDEO_VERBS, *CC_EVENTS, "speed_change_video"]:
    TRANSFORMERS[_name] = _Video


def supported(event: Event) -> bool:
    return event.get("name") in TRANSFORMERS


def map_event(event: Event, deployment: Deployment) -> list[dict[str, Any]]:
    """The statements an event maps to. An event no xAPI profile covers (a tracking log holds
    many: page views of the instructor dashboard, server-side bookkeeping) raises `Unmapped`:
    counted and reported by name, not an error."""
    if not isinstance(event, dict):
        raise MappingError("an event must be a JSON object")
    transformer = TRANSFORMERS.get(event.get("name"))  # type: ignore[arg-type]
    if transformer is None:
        raise Unmapped(f"event {event.get('name')!r}: not mapped")
    try:
        return transformer(event, deployment).transform()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise MappingError(f"event {event.get('name')!r}: {type(exc).__name__}: {exc}") from None


_LOG_JSON = re.compile(rb"^.*?(\{.*\})\s*$", re.S)


def parse_log_line(line: bytes) -> Event:
    """A tracking-log line as the plugin's async sender sees the event.

    Log lines may carry a logger prefix (`2023-05-23 ... logger.py:41 - {...}`); the log calls
    the payload `event` (sometimes a JSON string) and the time `time`, the live stream calls
    them `data` and `timestamp` (the plugin's `event_log_parser` does the same renaming).
    """
    match = _LOG_JSON.match(line)
    if match is None:
        raise MappingError("no JSON object on this line")
    try:
        event = json.loads(match.group(1))
    except ValueError as exc:
        raise MappingError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise MappingError("an event must be a JSON object")
    if "data" not in event and "event" in event:
        payload = event["event"]
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                pass
        event["data"] = payload
    if "timestamp" not in event and "time" in event:
        event["timestamp"] = event["time"]
    return event
