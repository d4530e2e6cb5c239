"""What each page shows, read from the store (blocking: pages call these in a thread).

Every read goes through the same functions as the query API (lrs.api.v1: class views,
next steps, history entries; lrs.competency.aggregates) with the reader's
`lrs.access.Access`, so a page never shows what the same credential could not read over
/api/v1. Reads of learner data are logged as the API logs them (lrs.ops.audit.record_read).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import orjson

from lrs.access import Access
from lrs.api.v1.competencies import group_views, keyed_view, next_steps
from lrs.api.v1.history import Sources, entry
from lrs.competency.aggregates import aggregates
from lrs.competency.framework import Framework
from lrs.competency.reading import as_of_bound
from lrs.competency.registry import find_framework, frameworks, rulesets
from lrs.domain.records import HistoryQuery, StatementQuery
from lrs.opendata.disclosure import Table, protect_all
from lrs.ops.audit import record_read, verify
from lrs.ports import Store
from lrs.readmodels import PROFILES
from lrs.rosters import GROUP, get_class, get_person
from lrs.xapi.agent_keys import normalise_key
from lrs.xapi.errors import NotFound

STATES = ("not_started", "in_progress", "achieved")
QUIZ_PAGES = 50  # statements read for item analysis: at most 50 pages of 500
DIMENSIONS = ("org", "commune", "target_group", "class")


def framework_or_default(store: Store, name: str | None, course: str | None = None) -> Framework:
    """The framework asked for; else the one the course's alignment rules name; else the
    first bundled one."""
    if name:
        found = find_framework(store, name)
        if found is None:
            raise NotFound(f"no framework {name!r}", "framework")
        return found
    known = frameworks(store)
    if course:
        for ruleset in rulesets(store):
            for rule in ruleset.rules:
                if str(rule.match.get("activity", "")).startswith(course) and ruleset.framework in known:
                    return known[ruleset.framework]
    return next(iter(known.values()))


def framework_choices(store: Store, language: str) -> list[dict[str, str]]:
    return [{"id": f.id, "title": f.title.text(language)} for f in frameworks(store).values()]


def visible_classes(store: Store, access: Access) -> list[dict[str, Any]]:
    return sorted(
        (r for r in store.list_definitions(GROUP) if access.everything or access.sees_roster(r)),
        key=lambda r: str(r.get("title") or r.get("id")),
    )


def _last_active(store: Store, keys: list[str]) -> str | None:
    times = []
    for key in keys:
        profile = store.get_state(PROFILES, key) or {}
        if profile.get("last_activity"):
            times.append(str(profile["last_activity"]))
    return max(times) if times else None


def quiz_items(store: Store, access: Access, activity: str) -> list[dict[str, Any]]:
    """Per question (an activity with an interaction definition), from the statements that
    name the class or course: attempts, and the share with `result.success` true."""
    items: dict[str, dict[str, Any]] = {}
    query = access.scope.apply(
        StatementQuery(activity=activity, related_activities=True, limit=500)
    )
    for _ in range(QUIZ_PAGES):
        page = store.query_statements(query)
        for raw in page.statements:
            statement = orjson.loads(raw)
            obj = statement.get("object") or {}
            definition = obj.get("definition") or {}
            if not definition.get("interactionType") or "result" not in statement:
                continue
            item = items.setdefault(
                obj.get("id", ""),
                {"id": obj.get("id"), "definition": definition, "attempts": 0, "correct": 0},
            )
            item["attempts"] += 1
            item["correct"] += 1 if (statement.get("result") or {}).get("success") is True else 0
        if page.cursor is None:
            break
        query.cursor = page.cursor
    found = []
    for item in items.values():
        item["share"] = item["correct"] / item["attempts"] if item["attempts"] else 0.0
        found.append(item)
    return sorted(found, key=lambda i: (i["share"], str(i["id"])))


def class_page(
    store: Store, access: Access, group: str, framework_name: str | None, language: str, days: int
) -> dict[str, Any]:
    group = normalise_key(group)
    roster = get_class(store, group) or {}
    framework = framework_or_default(store, framework_name, roster.get("course"))
    views = group_views(store, framework, group, language, access)
    now = datetime.now(UTC)
    cutoff = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S")
    inactive: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for view in views:
        row: dict[str, Any] = {**view, "last_active": _last_active(store, view["keys"])}
        rows.append(row)
        if row["last_active"] is None or row["last_active"] < cutoff:
            inactive.append(row)
    quiz = quiz_items(store, access, group)
    if roster.get("course"):
        quiz += [q for q in quiz_items(store, access, roster["course"]) if q["id"] not in {i["id"] for i in quiz}]
    record_read(
        store, access.credential, "page/class", None, len(views),
        {"group": group, "framework": framework.id},
    )  # fmt: skip
    return {
        "group": group,
        "roster": roster,
        "framework": framework,
        "views": rows,
        "inactive": inactive,
        "quiz": quiz,
    }


def person_entry(store: Store, access: Access, entry_id: str) -> tuple[str, list[str]]:
    """A person id, or a learner key of nobody linked: (the entry, its keys the reader
    sees); a person or key the reader may not see is not found, as over the API."""
    keys = store.keys_of(entry_id)
    if not keys:
        key = normalise_key(entry_id)
        person = store.person_of(key)
        keys = store.keys_of(person) if person else [key]
        entry_id = person or key
    visible = access.visible_keys(keys)
    if not visible:
        raise NotFound(f"no person {entry_id!r}", "person")
    return entry_id, visible


def person_page(
    store: Store, access: Access, entry_id: str, framework_name: str | None, language: str
) -> dict[str, Any]:
    entry_id, keys = person_entry(store, access, entry_id)
    framework = framework_or_default(store, framework_name)
    view = keyed_view(store, framework, entry_id, keys, None, language)
    steps = next_steps(store, framework, [(entry_id, keys)], None, None, 10, language)
    evidence: dict[str, list[str]] = {}
    for competence in view["competences"]:
        for statement_id in competence.get("evidence") or []:
            evidence.setdefault(statement_id, []).append(competence["code"])
    history = timeline(store, access, keys, HistoryQuery(learners=keys, limit=200))
    for item in history:
        item["evidence_for"] = evidence.get(str(item["id"]), [])
    record_read(store, access.credential, "page/person", entry_id, len(history), {"framework": framework.id})
    record = get_person(store, entry_id) or {}
    return {
        "entry": entry_id,
        "keys": keys,
        "name": record.get("name") or view.get("name"),
        "framework": framework,
        "view": view,
        "steps": steps,
        "timeline": history,
    }


def timeline(
    store: Store, access: Access, keys: list[str], query: HistoryQuery
) -> list[dict[str, Any]]:
    """The newest page of a person's history, newest first (the API's history entries)."""
    access.scope.apply(query)
    sources = Sources(store)
    records = []
    while True:
        page = store.statement_history(query)
        records.extend(page.records)
        records = records[-query.limit :]
        if page.cursor is None:
            break
        query.after = page.cursor
    return [entry(record, sources) for record in reversed(records)]


def audit_page(store: Store, access: Access, anchor: Any = None) -> dict[str, Any]:
    """The access log's verification state and its latest entries (the reader's orgs')."""
    checked, problem = verify(store, anchor)
    head = store.access_head()
    from lrs.api.v1.audit import read_page

    latest = read_page(store, access.credential, {"limit": "20", "after": str(max(0, (head.seq if head else 0) - 20))})
    return {"checked": checked, "problem": problem, "head": head, "latest": latest["entries"]}


@cache
def programme_targets() -> dict[str, Any]:
    text = resources.files("lrs.web").joinpath("programme_targets.json").read_text("utf-8")
    return dict(json.loads(text))


def _measure(framework: Framework, groups: list[dict[str, Any]], measure: str) -> float | None:
    total = int(sum(g["persons"] for g in groups))
    if not total:
        return None
    if measure == "confirmed":
        confirmed = int(sum((g.get("confirmed") or {}).get("count", 0) for g in groups))
        return confirmed / total
    achieved = int(sum(c["states"]["achieved"]["count"] for g in groups for c in g["competences"]))
    return achieved / (total * max(1, len(framework.competences)))


def month_ends(now: datetime, count: int) -> list[datetime]:
    ends = []
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(count):
        ends.append(first - timedelta(seconds=1))
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(ends)) + [now]


AREA_CACHE_SECONDS = 300
_areas: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}
_areas_lock = threading.Lock()


def area_page(
    store: Store, access: Access, framework_name: str | None, by: str, language: str, minimum: int,
    months: int = 6, end: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The figures by group and the trend, kept 5 minutes per reader's organisations (the
    aggregates are computed on read, over every person the reader sees); each view is
    logged all the same."""
    framework = framework_or_default(store, framework_name)
    by = by if by in DIMENSIONS else "org"
    moment = end or datetime.now(UTC)
    memo = (id(store), access.orgs, framework.id, by, minimum, months, moment.strftime("%Y-%m-%d"))
    with _areas_lock:
        cached = _areas.get(memo)
    if cached is not None and time.monotonic() - cached[0] < AREA_CACHE_SECONDS:
        found = cached[1]
    else:
        found = _area_figures(store, access, framework, by, minimum, months, moment)
        with _areas_lock:
            if len(_areas) > 1000:
                _areas.clear()
            _areas[memo] = (time.monotonic(), found)
    record_read(
        store, access.credential, "page/aggregates", None, len(found["groups"]),
        {"by": by, "framework": framework.id},
    )  # fmt: skip
    return found


def _area_figures(
    store: Store, access: Access, framework: Framework, by: str, minimum: int, months: int,
    end: datetime,
) -> dict[str, Any]:  # fmt: skip
    groups = aggregates(store, framework, by, None, access)
    tables = release_tables(framework, groups)
    protect_all(list(tables.values()), minimum)
    target = programme_targets().get(framework.id) or {}
    measure = str(target.get("measure", "achieved"))
    trend = []
    for moment in month_ends(end, months):
        until = as_of_bound(moment.strftime("%Y-%m-%d"))  # the end of that day: stored counts
        at = aggregates(store, framework, "target_group", until, access)
        # the whole population's share: one figure over many persons, withheld under the minimum
        persons = sum(g["persons"] for g in at)
        share = _measure(framework, at, measure) if persons >= minimum else None
        trend.append({"date": moment.strftime("%Y-%m-%d"), "share": share, "persons": persons})
    return {
        "framework": framework,
        "by": by,
        "groups": groups,
        "tables": tables,
        "trend": trend,
        "target": target,
        "measure": measure,
    }


def release_tables(framework: Framework, groups: list[dict[str, Any]]) -> dict[str, Table]:
    """One table per competence (rows: groups; columns: the states, which partition each
    group) and, with a confirmation rule, one for confirmed / not confirmed."""
    tables: dict[str, Table] = {}
    for index, competence in enumerate(framework.competences):
        tables[competence.code] = Table(
            [[g["competences"][index]["states"][s]["count"] for s in STATES] for g in groups]
        )
    if groups and any("confirmed" in g for g in groups):
        tables["confirmed"] = Table(
            [
                [
                    (g.get("confirmed") or {}).get("count", 0),
                    g["persons"] - (g.get("confirmed") or {}).get("count", 0),
                ]
                for g in groups
            ]
        )
    return tables


def state_counts(views: list[dict[str, Any]]) -> Counter[str]:
    return Counter(c["state"] for v in views for c in v["competences"])
