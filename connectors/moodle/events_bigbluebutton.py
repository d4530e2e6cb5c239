"""BigBlueButton meetings and recordings: every event is the user acting on the meeting module,
told apart only by the verb (the plugin's shared bigbluebuttonbn handler).

Not mapped: `activity_viewed`, which the plugin's event table lists but for which it has no
transform (the plugin fails on it), so there is no statement shape to follow."""

from __future__ import annotations

from connectors.moodle.events_core import on_module
from connectors.moodle.mapping import event, verb

BBB = "\\mod_bigbluebuttonbn\\event\\"
AS = "http://activitystrea.ms/schema/1.0/"
TINCAN = "http://id.tincanapi.com/verb/"
DOD = "https://w3id.org/xapi/dod-isd/verbs/"

# Moodle event (and plugin function) -> (verb id, display).
VERBS: dict[str, tuple[str, str]] = {
    "activity_management_viewed": (TINCAN + "viewed", "Viewed"),
    "live_session_event": (TINCAN + "live", "Live"),
    "meeting_created": (AS + "create", "Created"),
    "meeting_ended": (TINCAN + "adjourned", "Adjourned"),
    "meeting_joined": (AS + "join", "Joined"),
    "meeting_left": (AS + "leave", "Left"),
    "recording_deleted": (DOD + "deleted", "Deleted"),
    "recording_edited": (DOD + "edited", "Edited"),
    "recording_imported": ("http://adlnet.gov/expapi/verbs/imported", "Imported"),
    "recording_protected": (TINCAN + "secured", "Secured"),
    "recording_published": (DOD + "published", "Published"),
    "recording_unprotected": (TINCAN + "unsecured", "Unsecured"),
    "recording_unpublished": (AS + "retract", "Retracted"),
    "recording_viewed": (TINCAN + "viewed", "Viewed"),
}


def _register() -> None:
    for name, (id_, display) in VERBS.items():
        function = "live_session" if name == "live_session_event" else name
        event(BBB + name, function=f"mod_bigbluebuttonbn\\{function}")(
            on_module(verb(id_, display))
        )


_register()
