"""Moodle `logstore_standard_log` rows -> xAPI statements, as the Moodle xAPI logstore plugin
(xAPI-vle/moodle-logstore_xapi 5.0.1) maps them.

Pure: every database read goes through a `Lookup` (the plugin's "repository": rows of a Moodle
table matching some column values), so the same code runs on SQL in production and on the
plugin's own fixtures in tests. Reimplemented in Python from the plugin's source
(src/transformer/events, src/transformer/utils) and its test fixtures; no code copied.
Statement shapes follow the plugin, quirks included (a verb display spelled "Unocked"), so
that LRS reports written for plugin data keep working on replayed history, except where the
plugin's data is wrong (Config.plugin_compatible brings those back, for sites that must match
the plugin byte for byte): a quiz attempt named by the log row's own id instead of the attempt
the event names; an attempt's result taken from the learner's current quiz grade instead of
the attempt's own marks; `result.score.scaled` mapped from [min, max] onto [-1, 1] instead of
the fraction of the maximum; names as firstname + lastname whatever the site's name format.

The event table: mapping.py holds the shared pieces; events_core.py the core events;
events_<component>.py one Moodle component's events each (events_mod.py the view event every
module shares); quiz_questions.py, interactions.py and php.py the question interactions and PHP
conversions they use.

Unknown events raise `Unmapped` (counted, not an error); events whose rows are missing raise
`MappingError` (refused and reported); events of deleted users and rows done by someone logged
in as the learner raise `Excluded` when the configuration says to leave them out.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from connectors.base import Excluded, MappingError, Unmapped, fraction, statement_id

Row = dict[str, Any]
Statement = dict[str, Any]

INFO = "http://lrs.learninglocker.net/define/extensions/info"
SITE_TYPE = "http://id.tincanapi.com/activitytype/lms"
COURSE_TYPE = "https://w3id.org/xapi/cmi5/activitytype/course"
EDLM = "https://xapi.edlm/profiles/edlm-lms/concepts"


class Lookup(Protocol):
    """The plugin's database reads: rows of `table` whose columns equal `where`."""

    def records(self, table: str, where: dict[str, Any], sort: str = "") -> list[Row]:
        """Matching rows, ordered by `sort` ("id ASC", "timecreated DESC, id DESC")."""
        ...


@dataclass(frozen=True)
class Config:
    """The plugin settings that change statements (defaults: the plugin's test configuration).

    `session_id` is the Moodle session key the live plugin hashes into `context.registration`;
    a replayed log has none, so by default no registration is sent.

    `send_mbox` and `send_username` are the plugin's identity settings: set them as the live
    plugin is set, so that an LRS fed by both sees one actor per person.
    `name_format` is Moodle's full-name template ("lastname firstname"); None reads the site's
    own (`fullnamedisplay`, by default its language's order).
    `deleted_users`: "skip" leaves a deleted user's events out; "erase" keeps them with the
    person reduced to the bare Moodle user id (no name, username or email).
    `logged_in_as`: "skip" leaves out rows done by someone logged in as the user; "mark" keeps
    them with the real user named in the LOGGED_IN_AS context extension.
    """

    app_url: str
    send_name: bool = True
    send_mbox: bool = False
    send_username: bool = False
    send_response_choices: bool = True
    source_lang: str = "en"
    platform: str = "Moodle"
    session_id: str | None = None
    plugin_compatible: bool = False
    name_format: str | None = None
    deleted_users: str = "skip"
    logged_in_as: str = "skip"


DELETED_USERS = ("skip", "erase")
LOGGED_IN_AS_CHOICES = ("skip", "mark")
# Context extension naming who really acted on a row done while "logged in as" the actor.
LOGGED_IN_AS = "https://w3id.org/lrs/extensions/moodle/logged-in-as"
# The full-name order of Moodle's language packs (langconfig `fullnamedisplay`) where it is
# not "firstname lastname"; a site whose `fullnamedisplay` is "language" (the default) names
# people in its language's order.
LANGUAGE_NAME_ORDER = {
    "vi": "lastname firstname",
    "ja": "lastname firstname",
    "ko": "lastname firstname",
    "zh_cn": "lastname firstname",
    "zh_tw": "lastname firstname",
    "hu": "lastname firstname",
}
NAME_FIELDS = re.compile(
    r"\b(firstnamephonetic|lastnamephonetic|middlename|alternatename|firstname|lastname)\b"
)


# --- PHP serialised `other` -------------------------------------------------------------


def parse_other(value: Any) -> Any:
    """`other` is PHP-serialised (Moodle < 3.x logs) or JSON (newer Moodle): read both."""
    if value is None or isinstance(value, (dict, list)):
        return value or {}
    text = str(value).strip()
    if not text or text == "N;":
        return {}
    if text[0] in "{[" or text in ("null", "true", "false"):
        try:
            return json.loads(text) or {}
        except json.JSONDecodeError as exc:
            raise MappingError(f"`other` is not valid JSON: {exc}") from None
    try:
        parsed, _ = _unserialize(text.encode(), 0)
    except (ValueError, IndexError) as exc:
        raise MappingError(f"`other` is neither JSON nor PHP-serialised: {exc}") from None
    return parsed


def _unserialize(data: bytes, i: int) -> tuple[Any, int]:
    kind = data[i : i + 1]
    if kind == b"N":
        return None, i + 2
    if kind in (b"i", b"d", b"b"):
        end = data.index(b";", i)
        raw = data[i + 2 : end].decode()
        value: Any = int(raw) if kind == b"i" else float(raw) if kind == b"d" else raw == "1"
        return value, end + 1
    if kind == b"s":
        colon = data.index(b":", i + 2)
        length = int(data[i + 2 : colon])
        start = colon + 2
        return data[start : start + length].decode("utf-8", "replace"), start + length + 2
    if kind == b"O":  # an object (lesson essays store a stdClass): read as its properties
        colon = data.index(b":", i + 2)
        length = int(data[i + 2 : colon])
        i = colon + 2 + length + 2  # past the quoted class name and its closing quote
        colon = data.index(b":", i)
        count = int(data[i:colon])
        i = colon + 2
        return _unserialize_items(data, i, count)
    if kind == b"a":
        colon = data.index(b":", i + 2)
        count = int(data[i + 2 : colon])
        return _unserialize_items(data, colon + 2, count)
    raise ValueError(f"unsupported PHP type {kind!r} at {i}")


def _unserialize_items(data: bytes, i: int, count: int) -> tuple[dict[Any, Any], int]:
    """`count` key/value pairs from `i` (just past the opening brace), then the closing one."""
    items: dict[Any, Any] = {}
    for _ in range(count):
        key, i = _unserialize(data, i)
        items[key], i = _unserialize(data, i)
    return items, i + 1


# --- shared pieces ----------------------------------------------------------------------


class Context:
    """One event being mapped: the row, the lookup and the configuration."""

    def __init__(self, event: Row, lookup: Lookup, config: Config, function: str) -> None:
        self.event = event
        self.lookup = lookup
        self.config = config
        self.function = function
        self.app = config.app_url
        self._other: Any = None

    @property
    def other(self) -> Any:
        if self._other is None:
            self._other = parse_other(self.event.get("other"))
        return self._other

    def rows(self, table: str, where: dict[str, Any], sort: str = "") -> list[Row]:
        return self.lookup.records(table, where, sort)

    def row(self, table: str, where: dict[str, Any]) -> Row:
        found = self.lookup.records(table, where)
        if not found:
            raise MappingError(f"{table} not found: {where}")
        return found[0]

    def by_id(self, table: str, id: Any) -> Row:
        if id is None:
            raise MappingError(f"{table}: the event names no id")
        return self.row(table, {"id": id})

    def user(self, id: Any) -> dict[str, Any]:
        return self.actor(self.by_id("user", id))

    def actor(self, user: Row) -> dict[str, Any]:
        """The person as the plugin names them; a deleted user is left out or reduced to the
        bare id (Config.deleted_users), never sent with the name Moodle still keeps."""
        if str(user.get("deleted") or 0) not in ("0", ""):
            if self.config.deleted_users != "erase":
                raise Excluded(f"user {user.get('id')} is deleted")
            return {"account": {"homePage": self.app, "name": str(user.get("id"))}}
        actor: dict[str, Any] = {}
        if self.config.send_name:
            actor["name"] = full_name(user, self.name_format())
        email = user.get("email") or ""
        if self.config.send_mbox and re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            actor["mbox"] = "mailto:" + email
            return actor
        if self.config.send_username:
            actor["account"] = {"homePage": self.app, "name": user.get("username")}
            return actor
        actor["account"] = {"homePage": self.app, "name": str(user.get("id"))}
        return actor

    def by_then(self, moment: Any) -> bool:
        """Whether a row's time is no later than the event's: the row is the state the event
        saw, not a later one (a regrade, a later attempt)."""
        try:
            then = int(moment)
            created = self.event.get("timecreated")
            return created is not None and then <= int(created)
        except (TypeError, ValueError):
            return False

    def grade_then(self, item: Row, userid: Any) -> Row | None:
        """The learner's gradebook grade for `item` as it stood at the event, from Moodle's
        grade history (`grade_grades_history`); None where the history has none (or the site
        keeps none)."""
        try:
            rows = self.rows(
                "grade_grades_history", {"itemid": item.get("id"), "userid": userid},
                "timemodified DESC",
            )
        except MappingError:  # no such table: grade history is off, or the site predates it
            return None
        return next((r for r in rows if self.by_then(r.get("timemodified"))), None)

    def name_format(self) -> str:
        """The site's full-name template: the configured one, else Moodle's `fullnamedisplay`
        ("language": the site language's order); the plugin's firstname + lastname in
        plugin-compatible mode."""
        if self.config.plugin_compatible and not self.config.name_format:
            return "firstname lastname"
        display = self.config.name_format or self._setting("fullnamedisplay") or "language"
        if display == "language":
            lang = (self._setting("lang") or "en").lower()
            return LANGUAGE_NAME_ORDER.get(lang, "firstname lastname")
        return display

    def _setting(self, name: str) -> str | None:
        try:
            found = self.lookup.records("config", {"name": name})
        except MappingError as exc:
            raise MappingError(
                f"the site's name format is in its config table ({exc}): let the connector "
                "read it, or give --name-format"
            ) from None
        return str(found[0].get("value")) if found and found[0].get("value") else None

    def course(self, id: Any = None) -> Row:
        return self.by_id("course", self.event.get("courseid") if id is None else id)

    def optional_course(self) -> Row | None:
        courseid = self.event.get("courseid")
        return self.course() if courseid not in (None, 0, "0", "") else None

    def info(self) -> dict[str, Any]:
        return {
            INFO: {
                "event_name": self.event.get("eventname"),
                "event_function": "\\src\\transformer\\events\\" + self.function,
            }
        }

    def base(self, lang: str) -> dict[str, Any]:
        return {"language": lang, "extensions": self.info()}

    def site(self) -> dict[str, Any]:
        site = self.by_id("course", 1)
        return activity(
            self.app, SITE_TYPE, {course_lang(site): site.get("fullname") or "Moodle LMS"}
        )

    def course_activity(self, course: Row) -> dict[str, Any]:
        return activity(
            f"{self.app}/course/view.php?id={course['id']}",
            COURSE_TYPE,
            {course_lang(course): course.get("fullname") or "A Moodle course"},
        )

    def section(self, course: Row, section_id: Any) -> dict[str, Any]:
        section = self.by_id("course_sections", section_id)
        return activity(
            f"{self.app}/course/section.php?id={section['id']}",
            "http://id.tincanapi.com/activitytype/section",
            {course_lang(course): f"{course.get('fullname')} Section {section.get('section')}"},
        )

    def module(self, course: Row, cmid: Any) -> dict[str, Any]:
        cm = self.by_id("course_modules", cmid)
        module = self.by_id("modules", cm.get("module"))
        name = module["name"]
        instance = self.by_id(name, cm.get("instance"))
        lang = course_lang(course)
        kind = MODULE_TYPES.get(name, "http://id.tincanapi.com/activitytype/lms/module")
        title = instance["name"] if "name" in instance else name
        definition: dict[str, Any] = {"type": kind, "name": {lang: title}}
        if name == "choice":
            options = self.rows("choice_options", {"choiceid": instance["id"]}, "id ASC")
            definition = cmi_choice(
                self.config,
                instance.get("name"),
                strip_html(instance.get("intro")),
                [o.get("text") for o in options],
                lang,
            )
        if name in ("survey", "wiki"):
            definition["description"] = {lang: strip_html(instance.get("intro"))}
        return {
            "objectType": "Activity",
            "id": f"{self.app}/mod/{name}/view.php?id={cmid}",
            "definition": definition,
        }

    def parents(self, cmid: Any, include_module: bool = False) -> list[dict[str, Any]]:
        cm = self.by_id("course_modules", cmid)
        course = self.course(cm.get("course"))
        found = [self.section(course, cm.get("section")), self.course_activity(course)]
        if include_module:
            found.insert(0, self.module(course, cmid))
        return found


def activity(id: str, type: str, name: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {"type": type}
    if name is not None:
        definition["name"] = name
    definition.update(more)
    return {"objectType": "Activity", "id": id, "definition": definition}


def full_name(user: Row, template: str = "firstname lastname") -> str:
    """Moodle's fullname(): the template's name fields replaced by the user's; the plugin's
    own rules (firstname + lastname, either alone when the other is absent) for its default."""
    if template != "firstname lastname":
        named = NAME_FIELDS.sub(lambda m: str(user.get(m.group(1)) or ""), template)
        return re.sub(r"\s+", " ", named).strip()
    first, last = user.get("firstname"), user.get("lastname")
    if "firstname" in user and "lastname" in user:
        return f"{first} {last}"
    if "firstname" in user:
        return str(first)
    if "lastname" in user:
        return str(last)
    return ""


def course_lang(course: Row | None) -> str:
    lang = (course or {}).get("lang") or "en"
    lang = str(lang).replace("_", "-")
    return lang if re.fullmatch(r"[a-zA-Z]{2}(-[a-zA-Z]{2})?", lang) else "en"


def strip_html(text: Any) -> str:
    if text is None:
        return ""
    return re.sub(r"<[^>]*>", "", str(text)).replace("\n", "").replace("&nbsp;", "")


def timestamp(seconds: Any) -> str:
    moment = datetime.fromtimestamp(int(seconds), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def plugin_uuid(text: str) -> str:
    """The plugin's registration: its own UUID-v5-like hash of the Moodle session key."""
    digest = hashlib.sha1(("12345678-1234-1234-1234-123456789abc" + text).encode()).hexdigest()
    clock = f"{(int(digest[16:20], 16) & 0x3F3F) | 0x8000:x}"
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{clock}-{digest[20:32]}"


def verb(id: str, display: str) -> dict[str, Any]:
    return {"id": id, "display": {"en": display}}


VIEWED = verb("http://id.tincanapi.com/verb/viewed", "Viewed")
CREATED = verb("http://activitystrea.ms/create", "Created")
DELETED = verb("http://activitystrea.ms/delete", "Deleted")
EDITED = verb("https://w3id.org/xapi/acrossx/verbs/edited", "Edited")
UPDATED = verb("http://activitystrea.ms/update", "Updated")
COMPLETED = verb("http://adlnet.gov/expapi/verbs/completed", "Completed")
STARTED = verb("http://activitystrea.ms/schema/1.0/start", "Started")
SUBMITTED = verb("http://activitystrea.ms/schema/1.0/submit", "Submitted")
RECEIVED = verb("http://activitystrea.ms/schema/1.0/receive", "Received")
SCORED = verb("https://w3id.org/xapi/tla/verbs/scored", "Scored")
JOINED = verb("http://activitystrea.ms/join", "Joined")
LEFT = verb("http://activitystrea.ms/leave", "Left")

MODULE_TYPES = {
    "assign": f"{EDLM}/activity-types/assignment",
    "bigbluebuttonbn": "http://adlnet.gov/expapi/activities/meeting",
    "book": "http://id.tincanapi.com/activitytype/book",
    "chat": "http://id.tincanapi.com/activitytype/chat-channel",
    "choice": "http://adlnet.gov/expapi/activities/cmi.interaction",
    "data": "http://xapi.org.au/contentprofile/activitytype/database",
    "facetoface": "https://w3id.org/xapi/acrossx/activities/face-to-face-discussion",
    "feedback": f"{EDLM}/activity-types/feedback",
    "folder": "http://activitystrea.ms/collection",
    "forum": f"{EDLM}/activity-types/forum",
    "glossary": f"{EDLM}/activity-types/glossary",
    "h5pactivity": "http://adlnet.gov/expapi/activities/media",
    "imscp": COURSE_TYPE,
    "label": "https://w3id.org/xapi/acrossx/activities/webpage",
    "lesson": "http://adlnet.gov/expapi/activities/lesson",
    "lti": "http://adlnet.gov/expapi/activities/media",
    "page": "https://w3id.org/xapi/acrossx/activities/page",
    "quiz": "http://adlnet.gov/expapi/activities/assessment",
    "resource": "http://id.tincanapi.com/activitytype/resource",
    "scorm": "http://adlnet.gov/expapi/activities/module",
    "url": "http://adlnet.gov/expapi/activities/link",
    "wiki": f"{EDLM}/activity-types/wiki",
    "workshop": f"{EDLM}/activity-types/workshop",
    "questionnaire": "http://id.tincanapi.com/activitytype/survey",
    "survey": "http://id.tincanapi.com/activitytype/survey",
}


def slugify(text: Any) -> str:
    """The plugin's choice ids: lower case, dashes for spaces, only [a-z0-9-]."""
    slug = re.sub(r"[\s_]+", "-", "" if text is None else str(text).lower())
    return re.sub(r"[^a-z0-9-]", "", slug).strip("-")


def cmi_common(name: Any, description: str | None, lang: str) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "name": {lang: name},
    }
    if description is not None:
        definition["description"] = {lang: description}
    return definition


def cmi_choice(
    config: Config,
    name: Any,
    description: str | None,
    choices: list[Any],
    lang: str,
    right: list[Any] | None = None,
) -> dict[str, Any]:
    """A cmi.interaction `choice`; with no right answers every choice counts as right."""
    definition = {**cmi_common(name, description, lang), "interactionType": "choice"}
    if config.send_response_choices and choices:
        items: list[dict[str, Any]] = [
            {"id": slugify(text), "description": {lang: text}} for text in choices
        ]
        pattern = [slugify(r) for r in right] if right else [i["id"] for i in items]
        definition["correctResponsesPattern"] = ["[,]".join(pattern)]
        definition["choices"] = items
    return definition


# --- the event table --------------------------------------------------------------------

Transform = Callable[[Context], list[Statement]]
EVENTS: dict[str, tuple[str, Transform]] = {}


def event(*names: str, function: str | None = None) -> Callable[[Transform], Transform]:
    """Register a transform for Moodle event names (`\\component\\event\\name`)."""

    def register(transform: Transform) -> Transform:
        for name in names:
            EVENTS[name] = (function or transform.__name__.replace("__", "\\"), transform)
        return transform

    return register


def map_event(event: Row, lookup: Lookup, config: Config) -> list[Statement]:
    """The statements the plugin emits for one log row, with deterministic ids."""
    name = event.get("eventname")
    if not isinstance(name, str) or not name:
        raise MappingError("the row has no eventname")
    found = EVENTS.get(name if name.startswith("\\") else "\\" + name)
    if found is None:
        raise Unmapped(f"{name}: not mapped")
    function, transform = found
    context = Context(event, lookup, config, function)
    real = event.get("realuserid")
    logged_in_as = real not in (None, "", 0, "0") and str(real) != str(event.get("userid"))
    if logged_in_as and config.logged_in_as != "mark":
        raise Excluded(f"done by user {real} logged in as user {event.get('userid')}")
    try:
        statements = transform(context)
        if logged_in_as:  # never credited silently: the real user goes with every statement
            for statement in statements:
                extensions = statement.setdefault("context", {}).setdefault("extensions", {})
                extensions[LOGGED_IN_AS] = context.user(real)
    except (LookupError, TypeError, ValueError, AttributeError, ZeroDivisionError) as exc:
        raise MappingError(f"{name}: cannot map ({type(exc).__name__}: {exc})") from None
    try:
        when = timestamp(event["timecreated"])
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise MappingError(f"{name}: the row has no valid timecreated") from None
    defaults: dict[str, Any] = {"platform": config.platform}
    if config.session_id is not None:
        defaults["registration"] = plugin_uuid(config.session_id)
    out = []
    for index, statement in enumerate(statements):
        statement["context"] = {**defaults, **statement.get("context", {})}
        statement.setdefault("timestamp", when)
        statement = {
            "id": statement_id("moodle:" + config.app_url, f"{event.get('id')}", index),
            **statement,
        }
        out.append(statement)
    return out


def number(value: Any) -> float:
    """PHP's `floatval($x ?: 0)`: empty and missing values count as zero."""
    return float(value or 0)


def score(
    config: Config, raw: float, low: float, high: float, cap: bool = True
) -> dict[str, Any]:
    """A score: raw capped into [min, max] (except where the plugin does not cap), and scaled
    the fraction of the maximum (7.5 of 10 -> 0.75), which is what xAPI consumers and this
    project's competency rules read as a share (0 when max is 0, kept within [-1, 1]).

    In plugin-compatible mode scaled is the plugin 5.x's ((raw - min) / (max - min)) * 2 - 1,
    [min, max] mapped onto [-1, 1] (half marks -> 0.0), 0 when min = max."""
    if cap:
        raw = max(min(raw, high), low)
    if config.plugin_compatible:
        scaled: float = 0 if high == low else ((raw - low) / (high - low) * 2) - 1
    else:
        scaled = fraction(raw, high)
    return {"raw": raw, "min": low, "max": high, "scaled": scaled}
