"""How a statement query or history filter becomes index terms: one reading for every store."""

from __future__ import annotations

from typing import Any

from lrs.domain.records import HistoryQuery, StatementQuery
from lrs.xapi.statements import Term


def in_course(statement: dict[str, Any], course: str) -> bool:
    """Whether a statement names `course` as a context parent or grouping activity.

    A StatementRef (a voiding statement, say) counts when its target does: stores find it
    through the target's inherited index terms, as xAPI filters do, so it is kept here.
    """
    obj = statement.get("object") or {}
    if isinstance(obj, dict) and obj.get("objectType") == "StatementRef":
        return True
    context = statement.get("context") or {}
    activities = context.get("contextActivities") or {} if isinstance(context, dict) else {}
    for group in ("parent", "grouping"):
        found = activities.get(group) if isinstance(activities, dict) else None
        if isinstance(found, dict):
            found = [found]
        for activity in found or []:
            if isinstance(activity, dict) and activity.get("id") == course:
                return True
    return False


def history_terms(query: HistoryQuery) -> list[tuple[Term, str]]:
    """The index terms besides the learner that a history's statements must carry.

    The course narrows through RELATED_ACTIVITY (context activities included); `in_course`
    then keeps only parent and grouping.
    """
    terms: list[tuple[Term, str]] = []
    if query.activity is not None:
        terms.append((Term.ACTIVITY, query.activity))
    if query.course is not None:
        terms.append((Term.RELATED_ACTIVITY, query.course))
    if query.verb is not None:
        terms.append((Term.VERB, query.verb))
    return terms


# Order in which a query's filters drive the index lookup: most selective first.
_DRIVER_ORDER = (
    Term.REGISTRATION,
    Term.AGENT,
    Term.RELATED_AGENT,
    Term.ACTIVITY,
    Term.RELATED_ACTIVITY,
    Term.VERB,
)


def query_terms(query: StatementQuery) -> list[tuple[Term, str]]:
    """The index terms a statement must carry to match the query, most selective first.

    Shared so that every store reads `related_*` and registration case the same way, and
    can drive its lookup by the first term.
    """
    terms: list[tuple[Term, str]] = []
    if query.agent is not None:
        terms.append((Term.RELATED_AGENT if query.related_agents else Term.AGENT, query.agent))
    if query.verb is not None:
        terms.append((Term.VERB, query.verb))
    if query.activity is not None:
        terms.append(
            (Term.RELATED_ACTIVITY if query.related_activities else Term.ACTIVITY, query.activity)
        )
    if query.registration is not None:
        terms.append((Term.REGISTRATION, query.registration.lower()))
    terms.sort(key=lambda term: _DRIVER_ORDER.index(term[0]))
    return terms
