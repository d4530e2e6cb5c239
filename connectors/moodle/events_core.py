"""Core Moodle events (courses, users, enrolments, badges, calendar, groups, notes...)."""

from __future__ import annotations

from typing import Any

from connectors.moodle.mapping import (
    COMPLETED,
    CREATED,
    DELETED,
    EDITED,
    EDLM,
    JOINED,
    LEFT,
    UPDATED,
    VIEWED,
    Context,
    Statement,
    activity,
    course_lang,
    event,
    strip_html,
    verb,
)

E = "\\core\\event\\"
BADGE_METHOD = (
    "https://xapi.edlm/profiles/edlm-lms/v1/concepts/context-extensions/badge-assignment-method"
)
PREP = "https://yetanalytics.com/profiles/prepositions/concepts/context-extensions/"


def _statement(
    c: Context,
    actor: dict[str, Any],
    verb_: dict[str, Any],
    object_: dict[str, Any],
    lang: str,
    **context: Any,
) -> Statement:
    """The common shape: site as category, the plugin's info extension, `context` extras."""
    ctx: dict[str, Any] = c.base(lang)
    activities: dict[str, Any] = {}
    parent = context.pop("parent", None)
    if parent is not None:
        activities["parent"] = parent
    activities["category"] = [c.site()]
    other = context.pop("other", None)
    if other is not None:
        activities["other"] = other
    extensions = context.pop("extensions", None)
    if extensions:
        ctx["extensions"] = {**ctx["extensions"], **extensions}
    ctx.update(context)
    ctx["contextActivities"] = activities
    return {"actor": actor, "verb": verb_, "object": object_, "context": ctx}


def _with_course(statement: Statement, c: Context, course: dict[str, Any] | None) -> Statement:
    if course:
        statement["context"]["contextActivities"]["parent"] = [c.course_activity(course)]
    return statement


def _lang(c: Context, course: dict[str, Any] | None) -> str:
    return course_lang(course) if course else c.config.source_lang


# Courses ---------------------------------------------------------------------------------


def _course_event(verb_: dict[str, Any], function: str, related: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        user = c.event.get("relateduserid" if related else "userid")
        actor = c.user(user)
        course = c.course()
        return [_statement(c, actor, verb_, c.course_activity(course), course_lang(course))]

    return transform


event(E + "course_viewed", function="core\\course_viewed")(_course_event(VIEWED, "course_viewed"))
event(E + "course_created", function="core\\course_created")(
    _course_event(CREATED, "course_created")
)
event(E + "course_updated", function="core\\course_updated")(
    _course_event(EDITED, "course_updated")
)
event(E + "course_completed", function="core\\course_completed")(
    _course_event(COMPLETED, "course_completed", related=True)
)


@event(E + "course_completion_updated", function="core\\course_completion_updated")
def course_completion_updated(c: Context) -> list[Statement]:
    course = c.course()
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/course/completion.php?id={course['id']}",
        f"{EDLM}/activity-types/course-completion-criteria",
        {lang: f"{course.get('fullname')} Completion Criteria"},
    )
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            EDITED,
            obj,
            lang,
            parent=[c.course_activity(course)],
        )
    ]


@event(E + "course_module_completion_updated", function="core\\course_module_completion_updated")
def course_module_completion_updated(c: Context) -> list[Statement]:
    course = c.course()
    state = int(c.other.get("completionstate") or 0)
    result: dict[str, Any] = {}
    if state:
        verb_ = COMPLETED
        result["completion"] = True
        if state > 1:
            result["success"] = state == 2
    else:
        verb_ = verb(f"{EDLM}/verbs/uncompleted", "Uncompleted")
    cmid = c.event.get("contextinstanceid")
    statement = _statement(
        c,
        c.user(c.event.get("relateduserid")),
        verb_,
        c.module(course, cmid),
        course_lang(course),
        parent=c.parents(cmid),
    )
    if result:
        statement["result"] = result
    return [statement]


@event(E + "course_module_created", function="core\\course_module_created")
def course_module_created(c: Context) -> list[Statement]:
    course = c.course()
    cmid = c.event.get("contextinstanceid")
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            CREATED,
            c.module(course, cmid),
            course_lang(course),
            parent=c.parents(cmid),
        )
    ]


@event(E + "course_resources_list_viewed", function="core\\course_resources_list_viewed")
def course_resources_list_viewed(c: Context) -> list[Statement]:
    course = c.course()
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/course/resources.php?id={course['id']}",
        "https://w3id.org/xapi/acrossx/activities/webpage",
        {lang: f"{course.get('fullname')} Resources"},
    )
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            VIEWED,
            obj,
            lang,
            parent=[c.course_activity(course)],
        )
    ]


@event(E + "course_section_created", function="core\\course_section_created")
def course_section_created(c: Context) -> list[Statement]:
    course = c.course()
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            CREATED,
            c.section(course, c.event.get("objectid")),
            course_lang(course),
            parent=[c.course_activity(course)],
        )
    ]


def _category(c: Context, category: dict[str, Any]) -> dict[str, Any]:
    lang = c.config.source_lang
    return activity(
        f"{c.app}/course/management.php?categoryid={category['id']}",
        f"{EDLM}/activity-types/course-category",
        {lang: category.get("name")},
        description={lang: category.get("description")},
    )


@event(E + "course_category_created", function="core\\course_category_created")
def course_category_created(c: Context) -> list[Statement]:
    table = c.event.get("objecttable") or "course_categories"
    category = c.by_id(table, c.event.get("objectid"))
    parent = c.by_id(table, category.get("parent"))
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            CREATED,
            _category(c, category),
            c.config.source_lang,
            parent=[_category(c, parent)],
        )
    ]


# Users and enrolments --------------------------------------------------------------------


@event(E + "user_created", function="core\\user_created")
def user_created(c: Context) -> list[Statement]:
    return [
        _statement(
            c,
            c.user(c.event.get("relateduserid")),
            verb("http://adlnet.gov/expapi/verbs/registered", "Registered"),
            c.site(),
            c.config.source_lang,
        )
    ]


@event(E + "user_loggedin", E + "user_loggedinas", function="core\\user_loggedin")
def user_loggedin(c: Context) -> list[Statement]:
    extensions = c.info()
    if c.event.get("relateduserid") is not None:
        extensions[PREP + "as"] = c.user(c.event["relateduserid"])
    return [
        {
            "actor": c.user(c.event.get("userid")),
            "verb": verb(f"{EDLM}/verbs/login", "Logged In"),
            "object": c.site(),
            "context": {"language": c.config.source_lang, "extensions": extensions},
        }
    ]


@event(E + "user_loggedout", function="core\\user_loggedout")
def user_loggedout(c: Context) -> list[Statement]:
    return [
        {
            "actor": c.user(c.event.get("userid")),
            "verb": verb(f"{EDLM}/verbs/logout", "Logged Out"),
            "object": c.site(),
            "context": c.base(c.config.source_lang),
        }
    ]


def _enrolment(c: Context, verb_: dict[str, Any]) -> list[Statement]:
    user = c.by_id("user", c.event.get("userid"))
    member = c.by_id("user", c.event.get("relateduserid"))
    course = c.course()
    extras: dict[str, Any] = {
        "extensions": {f"{EDLM}/context-extensions/enrolment-type": c.other.get("enrol")}
    }
    if str(member.get("id")) != str(user.get("id")):
        extras["instructor"] = c.actor(user)
    statement = _statement(
        c, c.actor(member), verb_, c.course_activity(course), course_lang(course), **extras
    )
    return [statement]


@event(E + "user_enrolment_created", function="core\\user_enrolment_created")
def user_enrolment_created(c: Context) -> list[Statement]:
    return _enrolment(c, verb(f"{EDLM}/verbs/enrolled", "Enrolled"))


@event(E + "user_enrolment_deleted", function="core\\user_enrolment_deleted")
def user_enrolment_deleted(c: Context) -> list[Statement]:
    return _enrolment(c, LEFT)


@event(E + "user_enrolment_updated", function="core\\user_enrolment_updated")
def user_enrolment_updated(c: Context) -> list[Statement]:
    enrolment = c.by_id("user_enrolments", c.event.get("objectid"))
    if str(enrolment.get("status")) == "1":
        return _enrolment(c, verb("https://w3id.org/xapi/tla/verbs/suspended", "Suspended"))
    return _enrolment(c, verb("https://w3id.org/xapi/tla/verbs/resumed", "Resumed"))


# Badges ----------------------------------------------------------------------------------


def _badge(c: Context, badge: dict[str, Any], lang: str) -> dict[str, Any]:
    ext = "https://xapi.edlm/profiles/edlm-lms/v1/concepts/activity-extensions/"
    return activity(
        f"{c.app}/badges/overview.php?id={badge['id']}",
        f"{EDLM}/activity-types/badge",
        {lang: badge.get("name")},
        description={lang: badge.get("description")},
        extensions={
            ext + "badge-type": {1: "Global", 2: "Course"}.get(int(badge.get("type") or 0)),
            ext + "badge-version": badge.get("version"),
        },
    )


def _badge_course(c: Context, badge: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    course = c.course(badge["courseid"]) if badge.get("courseid") else None
    lang = badge.get("language") or (course_lang(course) if course else c.config.source_lang)
    return course, lang


def _badge_parent(c: Context, course: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    return [
        activity(
            f"{c.app}/course/view.php?id={course['id']}",
            "https://w3id.org/xapi/cmi5/activitytype/course",
            {lang: course.get("fullname")},
            description={lang: course.get("summary")},
        )
    ]


@event(E + "badge_awarded", function="core\\badge_awarded")
def badge_awarded(c: Context) -> list[Statement]:
    badge = c.by_id("badge", c.event.get("objectid"))
    course, lang = _badge_course(c, badge)
    manual = c.rows("badge_manual_award", {"id": c.other.get("badgeissuedid")})
    awarder: Any = c.user(manual[0].get("issuerid")) if manual else "System"
    statement = _statement(
        c,
        c.user(c.event.get("relateduserid")),
        verb("https://w3id.org/xapi/tla/verbs/achieved", "Achieved"),
        _badge(c, badge, lang),
        lang,
        instructor=awarder,
        extensions={BADGE_METHOD: "Manual" if manual else "Automatic"},
    )
    statement["result"] = {"response": badge.get("message")}
    if course:
        statement["context"]["contextActivities"]["parent"] = _badge_parent(c, course, lang)
    return [statement]


@event(E + "badge_revoked", function="core\\badge_revoked")
def badge_revoked(c: Context) -> list[Statement]:
    badge = c.by_id("badge", c.event.get("objectid"))
    course, lang = _badge_course(c, badge)
    statement = _statement(
        c,
        c.user(c.event.get("relateduserid")),
        verb("https://w3id.org/xapi/tla/verbs/forfeited", "Forfeited"),
        _badge(c, badge, lang),
        lang,
        instructor=c.user(c.event.get("userid")),
        extensions={BADGE_METHOD: "Manual"},
    )
    if course:
        statement["context"]["contextActivities"]["parent"] = _badge_parent(c, course, lang)
    return [statement]


def _badge_simple(verb_: dict[str, Any]) -> Any:
    def transform(c: Context) -> list[Statement]:
        badge = c.by_id("badge", c.event.get("objectid"))
        user = c.user(c.event.get("userid"))
        course = c.optional_course()
        lang = badge.get("language") or _lang(c, course)
        statement = _statement(c, user, verb_, _badge(c, badge, lang), lang)
        return [_with_course(statement, c, course)]

    return transform


event(E + "badge_updated", function="core\\badge_updated")(_badge_simple(EDITED))
event(E + "badge_viewed", function="core\\badge_viewed")(_badge_simple(VIEWED))


# Calendar --------------------------------------------------------------------------------


def _calendar_event(c: Context, lang: str, name: Any) -> dict[str, Any]:
    return activity(
        f"{c.app}/calendar/view.php?id={c.event.get('objectid')}",
        f"{EDLM}/activity-types/calendar-event",
        {lang: name},
    )


def _calendar(verb_: dict[str, Any], deleted: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        course = c.optional_course()
        if deleted:
            lang = course_lang(course or c.course(1))
            name = c.other.get("name")
        else:
            lang = course_lang(course) if course else "en"
            name = c.by_id("event", c.event.get("objectid")).get("name")
        user = c.user(c.event.get("userid"))
        statement = _statement(c, user, verb_, _calendar_event(c, lang, name), lang)
        return [_with_course(statement, c, course)]

    return transform


event(E + "calendar_event_created", function="core\\calendar_event_created")(_calendar(CREATED))
event(E + "calendar_event_updated", function="core\\calendar_event_updated")(_calendar(EDITED))
event(E + "calendar_event_deleted", function="core\\calendar_event_deleted")(
    _calendar(DELETED, deleted=True)
)


def _subscription(verb_: dict[str, Any], deleted: bool = False) -> Any:
    def transform(c: Context) -> list[Statement]:
        course = c.optional_course()
        lang = _lang(c, course)
        user = c.user(c.event.get("userid"))
        subscription = {} if deleted else c.by_id("event_subscriptions", c.event["objectid"])
        obj = activity(
            f"{c.app}/calendar/subscription?id={c.event.get('objectid')}",
            f"{EDLM}/activity-types/calendar-subscription",
        )
        if not deleted:
            obj["definition"]["name"] = {lang: subscription.get("name")}
        statement = _with_course(_statement(c, user, verb_, obj, lang), c, course)
        if subscription.get("url") is not None:
            statement["context"]["contextActivities"]["other"] = [
                activity(
                    subscription["url"],
                    f"{EDLM}/activity-types/calendar",
                    {"en": "Web Calendar"},
                )
            ]
        return [statement]

    return transform


event(E + "calendar_subscription_created", function="core\\calendar_subscription_created")(
    _subscription(CREATED)
)
event(E + "calendar_subscription_updated", function="core\\calendar_subscription_updated")(
    _subscription(EDITED)
)
event(E + "calendar_subscription_deleted", function="core\\calendar_subscription_deleted")(
    _subscription(DELETED, deleted=True)
)


# Groups ----------------------------------------------------------------------------------


def _group(c: Context, course: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    obj = activity(f"{c.app}/group/index.php?id={group['id']}", f"{EDLM}/activity-types/group")
    if group.get("name") is not None:
        obj["definition"]["name"] = {course_lang(course): group["name"]}
    return obj


@event(E + "group_created", function="core\\group_created")
def group_created(c: Context) -> list[Statement]:
    course = c.course()
    group = c.by_id(c.event.get("objecttable") or "groups", c.event.get("objectid"))
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            CREATED,
            _group(c, course, group),
            course_lang(course),
            parent=[c.course_activity(course)],
        )
    ]


@event(E + "group_deleted", function="core\\group_deleted")
def group_deleted(c: Context) -> list[Statement]:
    course = c.course()
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            DELETED,
            _group(c, course, {"id": c.event.get("objectid")}),
            course_lang(course),
            parent=[c.course_activity(course)],
        )
    ]


def _membership(verb_: dict[str, Any]) -> Any:
    def transform(c: Context) -> list[Statement]:
        user = c.user(c.event.get("userid"))
        member = c.user(c.event.get("relateduserid"))
        course = c.course()
        group = c.by_id(c.event.get("objecttable") or "groups", c.event.get("objectid"))
        return [
            _statement(
                c,
                member,
                verb_,
                _group(c, course, group),
                course_lang(course),
                instructor=user,
                parent=[c.course_activity(course)],
            )
        ]

    return transform


event(E + "group_member_added", function="core\\group_member_added")(_membership(JOINED))
event(E + "group_member_removed", function="core\\group_member_removed")(_membership(LEFT))


# Notes, search, questions ----------------------------------------------------------------


def _note(verb_: dict[str, Any]) -> Any:
    def transform(c: Context) -> list[Statement]:
        note = c.by_id("post", c.event.get("objectid"))
        user = c.user(c.event.get("userid"))
        subject = c.user(c.event.get("relateduserid"))
        course = c.optional_course()
        lang = _lang(c, course)
        obj = activity(
            f"{c.app}/notes/view.php?id={note['id']}",
            "http://activitystrea.ms/note",
            {lang: strip_html(note.get("subject"))},
            description={lang: strip_html(note.get("content"))},
            extensions={
                f"{EDLM}/activity-extensions/note-type": "course",
                f"{EDLM}/activity-extensions/note-subject": subject,
            },
        )
        return [_with_course(_statement(c, user, verb_, obj, lang), c, course)]

    return transform


event(E + "note_created", function="core\\note_created")(_note(CREATED))
event(E + "note_updated", function="core\\note_updated")(_note(UPDATED))


@event(E + "notes_viewed", function="core\\notes_viewed")
def notes_viewed(c: Context) -> list[Statement]:
    user = c.user(c.event.get("userid"))
    subject = c.user(c.event.get("relateduserid"))
    course = c.optional_course()
    lang = _lang(c, course)
    obj = activity(
        f"{c.app}/notes/index.php",
        "https://w3id.org/xapi/acrossx/activities/webpage",
        {lang: "Notes"},
        extensions={f"{EDLM}/activity-extensions/note-subject": subject},
    )
    statement = _statement(
        c,
        user,
        VIEWED,
        obj,
        lang,
        extensions={f"{EDLM}/context-extensions/note-subject-scope": subject},
    )
    return [_with_course(statement, c, course)]


@event(E + "search_results_viewed", function="core\\search_results_viewed")
def search_results_viewed(c: Context) -> list[Statement]:
    lang = c.config.source_lang
    obj = activity(
        f"{c.app}/search/index.php",
        "https://w3id.org/xapi/acrossx/activities/webpage",
        {lang: "Global Search"},
    )
    statement = _statement(
        c,
        c.user(c.event.get("userid")),
        verb("https://w3id.org/xapi/acrossx/verbs/searched", "Searched"),
        obj,
        lang,
    )
    statement["result"] = {"response": c.other.get("q")}
    return [statement]


@event(E + "questions_imported", function="core\\questions_imported")
def questions_imported(c: Context) -> list[Statement]:
    course = c.course()
    lang = course_lang(course)
    obj = activity(
        f"{c.app}/question/bank/importquestions/import.php",
        "http://adlnet.gov/expapi/activities/file",
        {lang: f"Questions in {c.other.get('format')} format"},
    )
    return [
        _statement(
            c,
            c.user(c.event.get("userid")),
            verb("http://adlnet.gov/expapi/verbs/imported", "Imported"),
            obj,
            lang,
            parent=[c.course_activity(course)],
        )
    ]


def on_module(verb_: dict[str, Any]) -> Any:
    """The transform of an event where the user does `verb_` to the course module itself
    (the plugin's pattern for sessions, meetings and questionnaire attempts)."""

    def transform(c: Context) -> list[Statement]:
        user = c.user(c.event.get("userid"))
        course = c.course()
        cmid = c.event.get("contextinstanceid")
        return [
            _statement(
                c,
                user,
                verb_,
                c.module(course, cmid),
                course_lang(course),
                parent=c.parents(cmid),
            )
        ]

    return transform
