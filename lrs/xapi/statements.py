"""Pure operations on statements: completing them for storage, comparing, indexing, formatting."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Collection, Iterator, Mapping
from enum import IntEnum
from typing import Any

from lrs.xapi.agent_keys import agent_key, ifi_only
from lrs.xapi.errors import Conflict, ValidationError

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"
# Properties the LRS sets or may rewrite; two statements differing only here are "the same".
_LRS_PROPERTIES = ("stored", "authority", "version", "id")


class Term(IntEnum):
    """What a row of the statement index says about a statement (one query filter each)."""

    AGENT = 1  # actor or object
    RELATED_AGENT = 2  # also authority, instructor, team, SubStatement agents, group members
    VERB = 3
    ACTIVITY = 4  # object
    RELATED_ACTIVITY = 5  # also context activities and SubStatement activities
    REGISTRATION = 6

    # Enum hashes its member's name in Python; a statement's ~10 index terms are hashed in
    # sets on every write, so hash as the int the member equals (and is stored as).
    __hash__ = int.__hash__


def prepare(
    statement: dict[str, Any],
    *,
    stored: str,
    authority: dict[str, Any],
    version: str,
) -> dict[str, Any]:
    """The statement as the LRS stores it: id, stored, authority, version and timestamp set.

    The caller has validated it; timestamp normalisation to UTC is the caller's (version-aware).
    """
    prepared = normalise_context_activities(dict(statement))
    if "id" not in prepared:
        prepared["id"] = str(uuid.uuid4())
    else:
        prepared["id"] = prepared["id"].lower()
    prepared["stored"] = stored
    prepared["authority"] = authority
    if "timestamp" not in prepared:
        prepared["timestamp"] = stored
    if "version" not in prepared:
        prepared["version"] = "2.0.0" if version.startswith("2.") else "1.0.0"
    return prepared


def normalise_context_activities(statement: dict[str, Any]) -> dict[str, Any]:
    """A single context activity is stored as a one-element list, as the spec returns it."""

    def fix(stmt: dict[str, Any]) -> dict[str, Any]:
        context = stmt.get("context")
        if isinstance(context, dict) and isinstance(context.get("contextActivities"), dict):
            groups = context["contextActivities"]
            if any(isinstance(v, dict) for v in groups.values()):
                stmt = {
                    **stmt,
                    "context": {
                        **context,
                        "contextActivities": {
                            k: [v] if isinstance(v, dict) else v for k, v in groups.items()
                        },
                    },
                }
        obj = stmt.get("object")
        if isinstance(obj, dict) and obj.get("objectType") == "SubStatement":
            stmt = {**stmt, "object": fix(obj)}
        return stmt

    return fix(statement)


def same_statement(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    """Is `incoming` (as a client sent it) the statement already stored under its id?

    Equal apart from what the LRS itself sets; a timestamp the LRS filled in is not compared.
    """

    def strip(s: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if k not in _LRS_PROPERTIES}

    a, b = strip(stored), strip(normalise_context_activities(incoming))
    if "timestamp" not in incoming:
        a.pop("timestamp", None)
    return a == b


def learner_key(statement: dict[str, Any]) -> str:
    """The key the statement is filed under (its actor); anonymous groups use their first member."""
    actor = statement.get("actor") or {}
    key = agent_key(actor)
    if key is None:
        for member in actor.get("member") or []:
            key = agent_key(member)
            if key:
                break
    return key or "anonymous"


def statement_ref_target(statement: dict[str, Any]) -> str | None:
    obj = statement.get("object") or {}
    if obj.get("objectType") == "StatementRef":
        return str(obj.get("id", "")).lower()
    return None


def is_voiding(statement: dict[str, Any]) -> bool:
    return (statement.get("verb") or {}).get("id") == VOIDED_VERB and statement_ref_target(
        statement
    ) is not None


def voiding_targets(prepared: list[dict[str, Any]]) -> list[str]:
    """Ids the batch voids: a store looks these up to tell `check_batch` which are voiding."""
    return [
        target
        for statement in prepared
        if is_voiding(statement) and (target := statement_ref_target(statement)) is not None
    ]


def unique_in_batch(
    prepared: list[dict[str, Any]], incoming: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A statement sent twice in one batch is stored once; twice with different content is
    a conflict, as it would be across batches. (The HTTP API refuses duplicate ids in a batch
    before this; connectors and the ingest processor batch records without that check.)"""
    seen: dict[str, dict[str, Any]] = {}
    kept_prepared: list[dict[str, Any]] = []
    kept_incoming: list[dict[str, Any]] = []
    for statement, sent in zip(prepared, incoming, strict=True):
        first = seen.get(statement["id"])
        if first is None:
            seen[statement["id"]] = statement
            kept_prepared.append(statement)
            kept_incoming.append(sent)
        elif not same_statement(first, sent):
            raise Conflict(
                f"statement {statement['id']} is twice in the batch with different content", "id"
            )
    return kept_prepared, kept_incoming


def check_batch(
    prepared: list[dict[str, Any]],
    incoming: list[dict[str, Any]],
    existing: Mapping[str, dict[str, Any]],
    stored_voiding: Collection[str],
) -> None:
    """Refuse a whole batch before any of it is written, with the same error in every store.

    `prepared` are the batch's statements as `prepare` completed them, `incoming` the same
    statements as the client sent them; `existing` maps the batch's ids that are stored
    already to their stored JSON; `stored_voiding` holds the `voiding_targets` that are
    stored voiding statements.
    """
    for statement, sent in zip(prepared, incoming, strict=True):
        old = existing.get(statement["id"])
        if old is not None and not same_statement(old, sent):
            raise Conflict(
                f"statement {statement['id']} is stored already with different content", "id"
            )
    batch_by_id = {s["id"]: s for s in prepared}
    for target in voiding_targets(prepared):
        in_batch = batch_by_id.get(target)
        if target in stored_voiding or (in_batch is not None and is_voiding(in_batch)):
            raise ValidationError(
                f"statement {target} is a voiding statement and cannot be voided", "object.id"
            )


def _agents_in(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict) and obj.get("objectType") in (None, "Agent", "Group"):
        key = agent_key(obj)
        if key:
            yield key
        if obj.get("objectType") == "Group":
            for member in obj.get("member") or []:
                member_key = agent_key(member)
                if member_key:
                    yield member_key


def _context_activity_ids(context: Any) -> Iterator[str]:
    if not isinstance(context, dict):
        return
    for activities in (context.get("contextActivities") or {}).values():
        if isinstance(activities, dict):
            activities = [activities]
        for activity in activities or []:
            if isinstance(activity, dict) and "id" in activity:
                yield activity["id"]


def _context_agents(context: Any) -> Iterator[str]:
    if not isinstance(context, dict):
        return
    yield from _agents_in(context.get("instructor"))
    yield from _agents_in(context.get("team"))
    for entry in (context.get("contextAgents") or []) + (context.get("contextGroups") or []):
        if isinstance(entry, dict):
            yield from _agents_in(entry.get("agent") or entry.get("group"))


def index_terms(statement: dict[str, Any]) -> set[tuple[Term, str]]:
    """Every (filter, value) under which a statement query must find this statement.

    RELATED_* rows are supersets of their direct rows, so each query reads one index range.
    """
    terms: set[tuple[Term, str]] = set()
    actor = statement.get("actor")
    obj = statement.get("object") or {}
    object_type = obj.get("objectType", "Activity")

    actor_key = agent_key(actor)
    if actor_key:
        terms.add((Term.AGENT, actor_key))
    for key in _agents_in(actor):
        terms.add((Term.RELATED_AGENT, key))

    verb_id = (statement.get("verb") or {}).get("id")
    if verb_id:
        terms.add((Term.VERB, verb_id))

    if object_type == "Activity" and "id" in obj:
        terms.add((Term.ACTIVITY, obj["id"]))
        terms.add((Term.RELATED_ACTIVITY, obj["id"]))
    elif object_type in ("Agent", "Group"):
        object_key = agent_key(obj)
        if object_key:
            terms.add((Term.AGENT, object_key))
        for key in _agents_in(obj):
            terms.add((Term.RELATED_AGENT, key))
    elif object_type == "SubStatement":
        for key in _agents_in(obj.get("actor")):
            terms.add((Term.RELATED_AGENT, key))
        sub_object = obj.get("object") or {}
        if sub_object.get("objectType", "Activity") == "Activity" and "id" in sub_object:
            terms.add((Term.RELATED_ACTIVITY, sub_object["id"]))
        else:
            for key in _agents_in(sub_object):
                terms.add((Term.RELATED_AGENT, key))
        for key in _context_agents(obj.get("context")):
            terms.add((Term.RELATED_AGENT, key))
        for activity_id in _context_activity_ids(obj.get("context")):
            terms.add((Term.RELATED_ACTIVITY, activity_id))

    for key in _agents_in(statement.get("authority")):
        terms.add((Term.RELATED_AGENT, key))
    context = statement.get("context")
    for key in _context_agents(context):
        terms.add((Term.RELATED_AGENT, key))
    for activity_id in _context_activity_ids(context):
        terms.add((Term.RELATED_ACTIVITY, activity_id))
    if isinstance(context, dict) and context.get("registration"):
        terms.add((Term.REGISTRATION, str(context["registration"]).lower()))
    return terms


def activity_definitions(statement: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(activity id, definition) for every activity in the statement that carries a definition."""

    def activities(stmt: dict[str, Any]) -> Iterator[dict[str, Any]]:
        obj = stmt.get("object") or {}
        if obj.get("objectType", "Activity") == "Activity":
            yield obj
        elif obj.get("objectType") == "SubStatement":
            yield from activities(obj)
        context = stmt.get("context")
        if isinstance(context, dict):
            for group in (context.get("contextActivities") or {}).values():
                for activity in [group] if isinstance(group, dict) else group or []:
                    if isinstance(activity, dict):
                        yield activity

    for activity in activities(statement):
        if "id" in activity and isinstance(activity.get("definition"), dict):
            yield activity["id"], activity["definition"]


def merge_definition(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """The canonical definition: newest values win, language maps are merged per language."""
    if not old:
        return copy.deepcopy(new)
    merged = copy.deepcopy(old)
    for key, value in new.items():
        if key in ("name", "description") and isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def agents_named(statement: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, agent object) for the agents whose names the Agents resource reports."""
    for agent in (statement.get("actor"), statement.get("object")):
        if isinstance(agent, dict) and agent.get("objectType", "Agent") == "Agent":
            key = agent_key(agent)
            if key:
                yield key, agent


def format_ids(statement: dict[str, Any]) -> dict[str, Any]:
    """The `format=ids` view: agents reduced to their IFI, activities and verbs to their id."""
    out = dict(statement)

    def reduce_object(obj: dict[str, Any]) -> dict[str, Any]:
        object_type = obj.get("objectType", "Activity")
        if object_type in ("Agent", "Group"):
            return ifi_only(obj)
        if object_type == "Activity":
            return {"id": obj["id"]}
        if object_type == "SubStatement":
            return format_ids(obj)
        return obj

    if isinstance(out.get("actor"), dict):
        out["actor"] = ifi_only(out["actor"])
    if isinstance(out.get("verb"), dict):
        out["verb"] = {"id": out["verb"]["id"]}
    if isinstance(out.get("object"), dict):
        if out["object"].get("objectType") == "SubStatement":
            out["object"] = {**format_ids(out["object"]), "objectType": "SubStatement"}
        else:
            out["object"] = reduce_object(out["object"])
    if isinstance(out.get("authority"), dict):
        out["authority"] = ifi_only(out["authority"])
    context = out.get("context")
    if isinstance(context, dict):
        context = dict(context)
        for prop in ("instructor", "team"):
            if isinstance(context.get(prop), dict):
                context[prop] = ifi_only(context[prop])
        if isinstance(context.get("contextActivities"), dict):
            context["contextActivities"] = {
                k: [{"id": a["id"]} for a in (v if isinstance(v, list) else [v])]
                for k, v in context["contextActivities"].items()
            }
        out["context"] = context
    return out


def format_canonical(statement: dict[str, Any], languages: list[str]) -> dict[str, Any]:
    """The `format=canonical` view: every language map reduced to the best requested language."""

    def pick(language_map: dict[str, Any]) -> dict[str, Any]:
        if not language_map:
            return language_map
        lowered = {k.lower(): k for k in language_map}
        for wanted in languages:
            wanted = wanted.lower()
            if wanted == "*":
                break
            if wanted in lowered:
                key = lowered[wanted]
                return {key: language_map[key]}
            for lower, key in lowered.items():
                if lower.split("-")[0] == wanted.split("-")[0]:
                    return {key: language_map[key]}
        key = next(iter(language_map))
        return {key: language_map[key]}

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            if key in _LANGUAGE_MAPS and all(isinstance(v, str) for v in value.values()):
                return pick(value)
            return {k: walk(v, k) for k, v in value.items() if k != "extensions"} | (
                {"extensions": value["extensions"]} if "extensions" in value else {}
            )
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        return value

    picked: dict[str, Any] = walk(statement)
    return picked


_LANGUAGE_MAPS = frozenset({"display", "name", "description"})
