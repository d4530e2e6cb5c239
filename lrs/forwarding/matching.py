"""Which stored statements a rule takes (pure).

A statement's organisation is that of the credential that stored it (lrs.access); the
caller resolves it, since only the store knows the credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lrs.domain.forwarding import Match
from lrs.xapi.agent_keys import agent_key


def _object_activity(statement: dict[str, Any]) -> str | None:
    obj = statement.get("object")
    if not isinstance(obj, dict) or obj.get("objectType", "Activity") != "Activity":
        return None
    value = obj.get("id")
    return value if isinstance(value, str) else None


def _categories(statement: dict[str, Any]) -> Iterator[str]:
    context = statement.get("context")
    activities = context.get("contextActivities") if isinstance(context, dict) else None
    category = activities.get("category") if isinstance(activities, dict) else None
    if isinstance(category, dict):  # a single activity (allowed by 1.0.x, normalised in 2.0)
        category = [category]
    for activity in category if isinstance(category, list) else []:
        if isinstance(activity, dict) and isinstance(activity.get("id"), str):
            yield activity["id"]


def matches(match: Match, statement: dict[str, Any], org: str) -> bool:
    """Whether a rule with `match` takes `statement`, stored by organisation `org`."""
    if match.orgs and org not in match.orgs:
        return False
    if match.verbs:
        verb = statement.get("verb")
        if not isinstance(verb, dict) or verb.get("id") not in match.verbs:
            return False
    if match.activities or match.activity_prefixes:
        activity = _object_activity(statement)
        if activity is None or not (
            activity in match.activities
            or any(activity.startswith(prefix) for prefix in match.activity_prefixes)
        ):
            return False
    if match.actors and agent_key(statement.get("actor")) not in match.actors:
        return False
    if match.categories and not any(c in match.categories for c in _categories(statement)):
        return False
    return True
