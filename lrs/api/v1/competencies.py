"""Frameworks and competency status: per learner key, per person, per group (class)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lrs.access import Access
from lrs.api.v1.audit import log_read
from lrs.api.v1.learners import learner_from
from lrs.api.v1.permissions import query_endpoint
from lrs.api.v1.persons import person_keys
from lrs.api.xapi.common import in_thread, json_response
from lrs.competency.framework import Framework
from lrs.competency.registry import find_framework, frameworks
from lrs.competency.status import class_matrix_csv, status_view
from lrs.readmodels import COMPETENCIES, PROFILES
from lrs.readmodels.competencies import (
    CompetencyState,
    CompetencyStatus,
    fold_contributions,
    read_state,
    state_key,
)
from lrs.rosters import class_members, get_class
from lrs.storage.base import StateQuery, Store
from lrs.xapi.errors import NotFound, ValidationError
from lrs.xapi.identity import normalise_key

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


@query_endpoint
async def learner_competencies(request: Request, store: Store) -> Response:
    key = learner_from(request)
    framework = await in_thread(_framework, request, store)
    access: Access = request.state.access
    # Another organisation's learner reads like one with no evidence yet.
    visible = await in_thread(access.sees_learner, key)
    state = await in_thread(read_state, store, framework.id, key) if visible else None
    await log_read(request, "learner/competencies", key, 1, {"framework": framework.id})
    return json_response(status_view(framework, key, state, _language(request)))


def person_state(store: Store, framework: Framework, keys: list[str]) -> CompetencyState | None:
    """A person's status: the evidence of all their keys, folded together."""
    contributions = store.get_contributions(
        COMPETENCIES, [state_key(framework.id, k) for k in keys]
    )
    return fold_contributions(contributions)


@query_endpoint
async def person_competencies(request: Request, store: Store) -> Response:
    person, keys = await person_keys(request, store)
    framework = await in_thread(_framework, request, store)
    state = await in_thread(person_state, store, framework, keys)
    view = status_view(framework, person, state, _language(request))
    await log_read(request, "person/competencies", person, 1, {"framework": framework.id})
    return json_response({**view, "person": person, "keys": keys})


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


def group_views(
    store: Store, framework: Framework, group: str, language: str, access: Access | None = None
) -> list[CompetencyStatus]:
    views = []
    for key in group_members(store, normalise_key(group), access):
        state = read_state(store, framework.id, key)
        views.append(status_view(framework, key, state, language))
    return views


@query_endpoint
async def group_competencies(request: Request, store: Store) -> Response:
    group = request.path_params["group"]
    framework = await in_thread(_framework, request, store)
    language = _language(request)
    views = await in_thread(group_views, store, framework, group, language, request.state.access)
    await log_read(
        request, "group/competencies", None, len(views), {"group": group, "framework": framework.id}
    )
    if request.query_params.get("format") == "csv":
        body = class_matrix_csv(framework, views)
        name = "".join(ch if ch.isalnum() else "-" for ch in group)[-60:]
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="competencies-{name}.csv"'},
        )
    return json_response(
        {"group": group, "framework": framework.id, "learners": views, "count": len(views)}
    )


__all__ = [
    "get_framework",
    "group_competencies",
    "learner_competencies",
    "list_frameworks",
    "person_competencies",
]
