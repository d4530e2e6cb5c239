"""Frameworks and competency status: per learner key, per person, per group (class)."""

from __future__ import annotations

import io
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from lrs.access import Access
from lrs.api.v1.audit import log_read
from lrs.api.v1.learners import learner_from
from lrs.api.v1.permissions import admin_endpoint, query_endpoint
from lrs.api.v1.persons import person_keys
from lrs.api.xapi.common import in_thread, json_response
from lrs.competency.aggregates import aggregates
from lrs.competency.alignment import load_rules
from lrs.competency.confirmation import confirmation, confirmation_rule
from lrs.competency.crosswalk import Direction
from lrs.competency.exports import SINKS, confirmed_records
from lrs.competency.framework import Framework
from lrs.competency.reading import (
    as_of_bound,
    directions_into,
    evidence_of_many,
    read_status,
)
from lrs.competency.rebuilds import recompute_later
from lrs.competency.recommendations import catalogue, recommend, target_level
from lrs.competency.registry import (
    ALIGNMENT,
    crosswalk_list,
    delete_rules,
    find_framework,
    frameworks,
    import_crosswalk,
    rule_versions,
    rulesets,
    save_rules,
)
from lrs.competency.status import changes_view, class_matrix_csv, status_view
from lrs.domain.records import Contribution, StateQuery
from lrs.ports import Store
from lrs.readmodels import PROFILES
from lrs.readmodels.competencies import CompetencyStatus, fold_timeline
from lrs.rosters import (
    PERSON_FIELDS,
    class_members,
    get_class,
    get_person,
    person_record,
    save_person,
)
from lrs.xapi.agent_keys import normalise_key
from lrs.xapi.errors import NotFound, ValidationError

MAX_GROUP = 5000


def _language(request: Request) -> str:
    header = request.headers.get("accept-language", "en")
    return header.split(",")[0].split(";")[0].strip() or "en"


def _framework(request: Request, store: Store) -> Framework:
    name = request.query_params.get("framework")
    if not name:
        raise ValidationError("give ?framework= (an id from /api/v1/frameworks)", "framework")
    framework = find_framework(store, name)
    if framework is None:
        raise NotFound(f"no framework {name!r}; see /api/v1/frameworks", "framework")
    return framework


def _summary(framework: Framework, language: str) -> dict[str, Any]:
    return {
        "id": framework.id,
        "version": framework.version,
        "title": framework.title.text(language),
        "areas": len(framework.areas),
        "competences": len(framework.competences),
        "levels": [level.code for level in framework.levels],
        "source": {"publisher": framework.source.publisher, "document": framework.source.document},
    }


@query_endpoint
async def list_frameworks(request: Request, store: Store) -> Response:
    found = await in_thread(frameworks, store)
    language = _language(request)
    return json_response({"frameworks": [_summary(f, language) for f in found.values()]})


@query_endpoint
async def get_framework(request: Request, store: Store) -> Response:
    name = request.path_params["framework"]
    framework = await in_thread(find_framework, store, name)
    if framework is None:
        raise NotFound(f"no framework {name!r}", "framework")
    return json_response(framework.as_dict())


def _until(request: Request) -> str | None:
    return as_of_bound(request.query_params.get("as_of"))


def keyed_view(
    store: Store,
    framework: Framework,
    who: str,
    keys: list[str],
    until: str | None,
    language: str,
    attributes_of: str | None = None,
    directions: list[Direction] | None = None,
    evidence: list[Contribution] | None = None,
    attributes: dict[str, Any] | None = None,
) -> CompetencyStatus:
    """The status of the keys (one learner's, or a person's), as of `until`: crosswalked
    evidence included, with when each level was reached, and, for a framework with a
    confirmation rule (Decision 757), whether the person is confirmed. A class passes
    each person's `evidence` and `attributes`, read for the whole class at once."""
    if evidence is None:
        state, _ = read_status(store, framework, keys, until, directions)
    else:
        state, _ = fold_timeline(evidence, until)
    view = status_view(framework, who, state, language)
    # an invisible learner (no keys) reads like one with nothing known, name included
    if attributes is None:
        attributes = (get_person(store, attributes_of or who) or {}) if keys else {}
    if attributes.get("name"):
        view["name"] = attributes["name"]
    rule = confirmation_rule(framework.id)
    if rule is not None:
        view["confirmation"] = confirmation(
            framework, rule, state, attributes.get("target_group"), language
        )
    return view


@query_endpoint
async def learner_competencies(request: Request, store: Store) -> Response:
    key = learner_from(request)
    framework = await in_thread(_framework, request, store)
    until = _until(request)
    access: Access = request.state.access
    # Another organisation's learner reads like one with no evidence yet.
    visible = await in_thread(access.sees_learner, key)
    language = _language(request)
    view = await in_thread(
        keyed_view, store, framework, key, [key] if visible else [], until, language
    )
    await log_read(request, "learner/competencies", key, 1, {"framework": framework.id})
    return json_response({**view, "as_of": request.query_params.get("as_of")})


@query_endpoint
async def person_competencies(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    framework = await in_thread(_framework, request, store)
    until = _until(request)
    view = await in_thread(keyed_view, store, framework, person, keys, until, _language(request))
    await log_read(request, "person/competencies", person, 1, {"framework": framework.id})
    return json_response(
        {**view, "person": person, "keys": keys, "as_of": request.query_params.get("as_of")}
    )


async def _changes(
    request: Request, store: Store, who: str, keys: list[str], what: str
) -> Response:
    framework = await in_thread(_framework, request, store)
    until = _until(request)
    _, changes = await in_thread(read_status, store, framework, keys, until)
    await log_read(request, what, who, len(changes), {"framework": framework.id})
    return json_response(
        {
            "learner": who,
            "framework": framework.id,
            "as_of": request.query_params.get("as_of"),
            "changes": changes_view(framework, changes, _language(request)),
        }
    )


@query_endpoint
async def learner_changes(request: Request, store: Store) -> Response:
    """A learner key's state changes, in time order: what changed, when, by which statement."""
    key = learner_from(request)
    access: Access = request.state.access
    visible = await in_thread(access.sees_learner, key)
    return await _changes(request, store, key, [key] if visible else [], "learner/changes")


@query_endpoint
async def person_changes(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    return await _changes(request, store, person, keys, "person/changes")


def group_members(store: Store, group: str, access: Access | None = None) -> list[str]:
    """Learner keys of a class: learners whose statements name it as context parent or
    grouping (a course or class activity), or who appear in it as a context team, and the
    class's roster (OneRoster), so learners without any statement yet are listed too.

    With `access`, only what the reader sees: the roster when it is of the reader's
    organisations, and the active learners the reader sees.
    """
    members: set[str] = set()
    if access is None or access.everything or access.sees_roster(get_class(store, group)):
        members.update(class_members(store, group))
    active: set[str] = set()
    for field_name in ("course", "team"):
        after = None
        while True:
            page = store.list_states(
                PROFILES, StateQuery(equals={field_name: group}, limit=1000, after=after)
            )
            active.update(key for key, _ in page)
            if len(page) < 1000 or len(active) > MAX_GROUP:
                break
            after = page[-1][0]
    if access is not None:
        active = {key for key in active - members if access.sees_learner(key)}
    return sorted(members | active)


def _name(
    store: Store, record: dict[str, Any], keys: list[str], roster: dict[str, Any]
) -> str | None:
    """A name wherever a source gives one: the person's record, the roster, a statement."""
    if record.get("name"):
        return str(record["name"])
    names = roster.get("names") or {}
    for key in keys:
        if isinstance(names.get(key), str):
            return str(names[key])
    for key in keys:
        seen = store.get_agent_names(key)
        if seen:
            return seen[0]
    return None


def group_views(
    store: Store,
    framework: Framework,
    group: str,
    language: str,
    access: Access | None = None,
    until: str | None = None,
) -> list[CompetencyStatus]:
    """Every member of a class, once per person: keys linked to one person are folded
    together and shown as that person. A class nobody knows (no roster, no statement
    naming it) is a 404, so a mistyped class id is not read as an empty class."""
    group = normalise_key(group)
    roster = get_class(store, group) or {}
    if roster and access is not None and not access.everything and not access.sees_roster(roster):
        roster = {}  # another organisation's class reads as unknown: its existence is theirs
    members = group_members(store, group, access)
    if not roster and not members:
        raise NotFound(f"no class {group!r}: no roster and no statement names it", "group")
    entries: dict[str, list[str]] = {}
    persons: dict[str, str] = {}
    for key in members:
        person = store.person_of(key)
        if person is None:
            entries.setdefault(key, [key])
            continue
        if person not in entries:
            linked = store.keys_of(person)
            entries[person] = access.visible_keys(linked) if access is not None else linked
            persons[person] = person
    views: list[CompetencyStatus] = []
    directions = directions_into(store, framework)
    evidence = evidence_of_many(store, framework, entries, directions)
    for entry in sorted(entries):
        keys = entries[entry]
        record = get_person(store, entry) or {}
        view = keyed_view(
            store, framework, entry, keys, until, language, None, directions,
            evidence[entry], record if keys else {},
        )  # fmt: skip
        view["person"] = persons.get(entry)
        view["keys"] = keys
        view["name"] = _name(store, record, keys, roster)
        views.append(view)
    return views


@query_endpoint
async def group_competencies(request: Request, store: Store) -> Response:
    group = request.path_params["group"]
    framework = await in_thread(_framework, request, store)
    language = _language(request)
    until = _until(request)
    views = await in_thread(
        group_views, store, framework, group, language, request.state.access, until
    )
    await log_read(
        request, "group/competencies", None, len(views), {"group": group, "framework": framework.id}
    )
    if request.query_params.get("format") == "csv":
        body = class_matrix_csv(framework, views, language)
        name = "".join(ch if ch.isalnum() else "-" for ch in group)[-60:]
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="competencies-{name}.csv"'},
        )
    return json_response(
        {
            "group": group,
            "framework": framework.id,
            "as_of": request.query_params.get("as_of"),
            "learners": views,
            "count": len(views),
        }
    )


# ------------------------------------------------------------------------------ crosswalks


@query_endpoint
async def list_crosswalks(request: Request, store: Store) -> Response:
    walks = await in_thread(crosswalk_list, store)
    return json_response({"crosswalks": [dict(w.data) for w in walks]})


def _json_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("the body must be JSON", "body") from None


@admin_endpoint
async def post_crosswalk(request: Request, store: Store) -> Response:
    """Import a site's own crosswalk (admin): it counts from the next read, no rebuild."""
    data = _json_body(await request.body())
    walk = await in_thread(import_crosswalk, store, data)
    return json_response(
        {"id": walk.id, "from": walk.source_framework, "to": walk.target_framework}, status=201
    )


# ------------------------------------------------------------------------------ persons


@admin_endpoint
async def put_person_attributes(request: Request, store: Store) -> Response:
    """Name, target group (Decision 757), commune or ward of a person or learner key."""
    person = request.path_params["person"]
    data = _json_body(await request.body())
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", "body")
    for name, value in data.items():
        if name not in PERSON_FIELDS:
            raise ValidationError(
                f"{name}: not a person attribute ({', '.join(PERSON_FIELDS)})", name
            )
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{name}: must be a string", name)
    group = data.get("target_group")
    rule = confirmation_rule(_757)
    if group is not None and rule is not None and group not in rule.groups:
        raise ValidationError(f"target_group: one of {', '.join(rule.groups)}", "target_group")
    record = person_record(person, **data)
    await in_thread(save_person, store, record)
    return json_response(await in_thread(get_person, store, person))


_757 = "https://w3id.org/lrs/frameworks/vn-decision-757/2025"


# ------------------------------------------------------------------------------ exports


@admin_endpoint
async def export_results(request: Request, store: Store) -> Response:
    """Confirmed persons' results for the national systems, as JSON lines or CSV."""
    framework = await in_thread(_framework, request, store)
    until = _until(request)
    kind = request.query_params.get("format", "jsonl")
    if kind not in SINKS:
        raise ValidationError(f"format: one of {', '.join(SINKS)}", "format")
    out = io.StringIO()
    count = await in_thread(
        lambda: SINKS[kind](out).write(confirmed_records(store, framework, until))
    )
    await log_read(request, "results/export", None, count, {"framework": framework.id})
    media = "application/x-ndjson" if kind == "jsonl" else "text/csv; charset=utf-8"
    return Response(out.getvalue(), media_type=media, headers={"X-Record-Count": str(count)})


# ------------------------------------------------------------------------------ aggregates


@query_endpoint
async def competency_aggregates(request: Request, store: Store) -> Response:
    """Counts and shares per competence and level by class, org, commune or target group,
    over the persons the reader sees (a school: its own; the province: everyone)."""
    access: Access = request.state.access
    framework = await in_thread(_framework, request, store)
    until = _until(request)
    by = request.query_params.get("by", "")
    value = request.query_params.get("value")
    groups = await in_thread(aggregates, store, framework, by, until, access, value)
    await log_read(request, "competencies/aggregates", None, len(groups), {"by": by})
    return json_response(
        {
            "framework": framework.id,
            "by": by,
            "as_of": request.query_params.get("as_of"),
            "groups": groups,
        }
    )


# ------------------------------------------------------------------------------ next steps


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "10")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:
        raise ValidationError("limit: a whole number from 1 to 100", "limit")
    return int(raw)


def next_steps(
    store: Store,
    framework: Framework,
    people: list[tuple[str, list[str]]],
    asked: str | None,
    until: str | None,
    limit: int,
    language: str,
) -> dict[str, Any]:
    """Ranked activities for one person or a class, toward the target level (asked, or
    configured for the person's target group; a class uses the configured default)."""
    entries = catalogue(framework, rulesets(store), crosswalk_list(store))
    group = None
    if len(people) == 1:
        group = (get_person(store, people[0][0]) or {}).get("target_group")
    target = target_level(framework, group, asked)
    directions = directions_into(store, framework)
    states = [read_status(store, framework, keys, until, directions)[0] for _, keys in people]
    names: dict[str, str] = {}
    for activity in sorted({e.activity for e in entries}):
        definition = store.get_activity(activity) or {}
        name = definition.get("name")
        if isinstance(name, dict) and name:
            names[activity] = name.get(language) or next(iter(name.values()))
    level = framework.levels_by_rank.get(target)
    return {
        "framework": framework.id,
        "target": level.code if level else None,
        "persons": len(people),
        "recommendations": recommend(framework, entries, states, target, names, limit, language),
    }


@query_endpoint
async def learner_recommendations(request: Request, store: Store) -> Response:
    key = learner_from(request)
    framework = await in_thread(_framework, request, store)
    access: Access = request.state.access
    keys = [key] if await in_thread(access.sees_learner, key) else []
    body = await in_thread(
        next_steps, store, framework, [(key, keys)], request.query_params.get("target"),
        _until(request), _limit(request), _language(request),
    )  # fmt: skip
    await log_read(request, "learner/recommendations", key, 1, {"framework": framework.id})
    return json_response({"learner": key, **body})


@query_endpoint
async def person_recommendations(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    framework = await in_thread(_framework, request, store)
    body = await in_thread(
        next_steps, store, framework, [(person, keys)], request.query_params.get("target"),
        _until(request), _limit(request), _language(request),
    )  # fmt: skip
    await log_read(request, "person/recommendations", person, 1, {"framework": framework.id})
    return json_response({"person": person, **body})


@query_endpoint
async def group_recommendations(request: Request, store: Store) -> Response:
    group = request.path_params["group"]
    framework = await in_thread(_framework, request, store)
    views = await in_thread(
        group_views, store, framework, group, _language(request), request.state.access
    )
    people = [(v.get("person") or v["learner"], v["keys"]) for v in views]
    body = await in_thread(
        next_steps, store, framework, people, request.query_params.get("target"),
        _until(request), _limit(request), _language(request),
    )  # fmt: skip
    await log_read(request, "group/recommendations", None, len(people), {"group": group})
    return json_response({"group": group, **body})


# ------------------------------------------------------------------------------ alignment rules


def _validate_only(request: Request) -> bool:
    value = request.query_params.get("validate_only", "false")
    if value not in ("true", "false"):
        raise ValidationError("validate_only: true or false", "validate_only")
    return value == "true"


def _ruleset_summary(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    versions = rule_versions(store, data["id"])
    return {
        "id": data["id"],
        "framework": data["framework"],
        "title": data.get("title"),
        "rules": len(data["rules"]),
        "version": versions[-1]["version"] if versions else None,
    }


@admin_endpoint
async def list_alignments(request: Request, store: Store) -> Response:
    """The imported rule sets, and the shipped examples in force."""

    def listing() -> dict[str, Any]:
        imported = [_ruleset_summary(store, d) for d in store.list_definitions(ALIGNMENT)]
        examples = [r.id for r in rulesets(store) if r.id.startswith("example-")]
        return {"alignments": imported, "examples_in_force": examples}

    return json_response(await in_thread(listing))


@admin_endpoint
async def get_alignment(request: Request, store: Store) -> Response:
    ruleset_id = request.path_params["ruleset"]
    versions = await in_thread(rule_versions, store, ruleset_id)
    asked = request.query_params.get("version")
    if asked is not None:
        found = [v for v in versions if str(v["version"]) == asked]
        if not found:
            raise NotFound(f"no version {asked!r} of rule set {ruleset_id!r}", "version")
        return json_response(found[0])
    data = await in_thread(store.get_definition, ALIGNMENT, ruleset_id)
    if data is None:
        raise NotFound(f"no rule set {ruleset_id!r}", "ruleset")
    return json_response(
        {"id": ruleset_id, "version": versions[-1]["version"] if versions else None,
         "versions": len(versions), "rules": data}
    )  # fmt: skip


async def _save(request: Request, store: Store, replace: str | None) -> Response:
    data = _json_body(await request.body())
    if _validate_only(request):
        ruleset = await in_thread(load_rules, data, await in_thread(frameworks, store))
        return json_response(
            {"valid": True, "id": ruleset.id, "framework": ruleset.framework,
             "rules": len(ruleset.rules)}
        )  # fmt: skip
    old = None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        old = await in_thread(store.get_definition, ALIGNMENT, data["id"])
    ruleset, version = await in_thread(save_rules, store, data, replace=replace)
    rebuild = _recompute(request, store, old, data)
    return json_response(
        {"id": ruleset.id, "version": version, "rules": len(ruleset.rules), "rebuild": rebuild},
        status=201 if replace is None else 200,
    )


@admin_endpoint
async def post_alignment(request: Request, store: Store) -> Response:
    """Create a rule set (`?validate_only=true`: check it, store nothing)."""
    return await _save(request, store, None)


@admin_endpoint
async def put_alignment(request: Request, store: Store) -> Response:
    """Replace a rule set with a new version (`?validate_only=true`: check only)."""
    return await _save(request, store, request.path_params["ruleset"])


@admin_endpoint
async def delete_alignment(request: Request, store: Store) -> Response:
    old = await in_thread(store.get_definition, ALIGNMENT, request.path_params["ruleset"])
    await in_thread(delete_rules, store, request.path_params["ruleset"])
    _recompute(request, store, old, None)
    return Response(status_code=204)


def _recompute(
    request: Request, store: Store, old: dict[str, Any] | None, new: dict[str, Any] | None
) -> str:
    """Recompute, in the background, only the status the change reaches (rebuilds.py)."""
    return recompute_later(store, request.app.state.competency_reducer, old, new)


__all__ = [
    "delete_alignment",
    "get_alignment",
    "list_alignments",
    "post_alignment",
    "put_alignment",
    "group_recommendations",
    "learner_recommendations",
    "person_recommendations",
    "competency_aggregates",
    "export_results",
    "get_framework",
    "learner_changes",
    "list_crosswalks",
    "person_changes",
    "post_crosswalk",
    "put_person_attributes",
    "group_competencies",
    "learner_competencies",
    "list_frameworks",
    "person_competencies",
]
