"""Which frameworks and alignment rules are in force: the bundled ones plus those imported.

Imported definitions live in the store (every API and processor process sees the same);
parsed objects are cached by content, so reading them on every request costs a lookup.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import orjson

from lrs.competency.alignment import RuleSet, load_rules
from lrs.competency.crosswalk import CROSSWALK, Crosswalk, crosswalks, load_crosswalk
from lrs.competency.framework import Framework, bundled_frameworks, load_framework
from lrs.ports import Store
from lrs.xapi.errors import Conflict, NotFound, ValidationError

FRAMEWORK = "framework"
ALIGNMENT = "alignment"

_parsed: dict[tuple[str, str], Any] = {}


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


def frameworks(store: Store) -> dict[str, Framework]:
    """Every framework by its id (IRI): bundled, then imported (an import may replace one)."""
    found = {f.id: f for f in bundled_frameworks().values()}
    for data in store.list_definitions(FRAMEWORK):
        key = (FRAMEWORK, _digest(data))
        if key not in _parsed:
            _parsed[key] = load_framework(data)
        framework = _parsed[key]
        found[framework.id] = framework
    return found


def find_framework(store: Store, name: str) -> Framework | None:
    """A framework by id, or by the short name of a bundled one (`digcomp-2.2`)."""
    known = frameworks(store)
    if name in known:
        return known[name]
    return bundled_frameworks().get(name)


def rulesets(store: Store) -> list[RuleSet]:
    """The imported rule sets, then the shipped example rule set of every framework the
    site has imported no rules for: a new site gets status from its first statements that
    carry a competency tag, and its own rules replace the examples framework by framework."""
    known = frameworks(store)
    found: list[RuleSet] = []
    for data in store.list_definitions(ALIGNMENT):
        key = (ALIGNMENT, _digest(data) + ":" + ",".join(sorted(known)))
        if key not in _parsed:
            _parsed[key] = load_rules(data, known)
        found.append(_parsed[key])
    covered = {ruleset.framework for ruleset in found}
    for data in example_rules():
        if data["framework"] in known and data["framework"] not in covered:
            key = (ALIGNMENT, "example:" + _digest(data) + ":" + ",".join(sorted(known)))
            if key not in _parsed:
                _parsed[key] = load_rules(data, known)
            found.append(_parsed[key])
    return found


@cache
def _example_files() -> tuple[dict[str, Any], ...]:
    folder = resources.files("lrs.competency.rules")
    return tuple(
        orjson.loads(entry.read_bytes())
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    )


def example_rules() -> list[dict[str, Any]]:
    """The example rule sets shipped in lrs/competency/rules (one per bundled framework)."""
    return [dict(d) for d in _example_files()]


def import_framework(store: Store, data: dict[str, Any]) -> Framework:
    """Check and store a framework in our format; the stored form is the checked one.

    A new version must keep what the stored alignment rules refer to: rules that no longer
    load would stop every competencies processor."""
    framework = load_framework(data)
    known = {**frameworks(store), framework.id: framework}
    for rules in store.list_definitions(ALIGNMENT):
        if rules.get("framework") == framework.id:
            try:
                load_rules(rules, known)
            except ValidationError as exc:
                raise ValidationError(
                    f"alignment rule set {rules['id']!r} would no longer load: {exc.message}"
                ) from None
    store.put_definition(FRAMEWORK, framework.id, framework.as_dict())
    return framework


def import_rules(store: Store, data: dict[str, Any]) -> RuleSet:
    """Check and store a rule set, new or replacing (the CLI's import); a new version."""
    ruleset = load_rules(data, frameworks(store))
    _store_version(store, ruleset.id, data)
    return ruleset


def _store_version(store: Store, ruleset_id: str, data: dict[str, Any] | None) -> int:
    """Store (or, with no data, delete) a rule set and record it as its next version."""
    version = len(rule_versions(store, ruleset_id)) + 1
    if data is None:
        store.delete_definition(ALIGNMENT, ruleset_id)
    else:
        store.put_definition(ALIGNMENT, ruleset_id, data)
    record = {"id": ruleset_id, "version": version, "saved": _now(), "deleted": data is None}
    store.put_definition(RULE_VERSION, f"{ruleset_id}|{version}", {**record, "rules": data})
    return version


def crosswalk_list(store: Store) -> list[Crosswalk]:
    """Bundled and imported crosswalks in force (an import replaces a bundled one of its id).
    Loaded once per content: a class view asks for them once per person."""
    known = frameworks(store)
    imported = store.list_definitions(CROSSWALK)
    key = (CROSSWALK, _digest({"walks": imported, "frameworks": sorted(known)}))
    if key not in _parsed:
        _parsed[key] = crosswalks(known, imported)
    return list(_parsed[key])


def import_crosswalk(store: Store, data: dict[str, Any]) -> Crosswalk:
    """Check a crosswalk against the frameworks in force and store it. Evidence counts
    through it from the next read on: crosswalks apply when status is read, so no rebuild."""
    if isinstance(data, dict):
        # a bundled framework may be named by its short name (`digcomp-2.2`); store the IRI
        for end in ("from", "to"):
            found = find_framework(store, data[end]) if isinstance(data.get(end), str) else None
            if found is not None:
                data = {**data, end: found.id}
    walk = load_crosswalk(data, frameworks(store))
    store.put_definition(CROSSWALK, walk.id, data)
    return walk


# ------------------------------------------------------------------------------ rule sets over
# the admin API (issue 14.4): create, replace, delete, versions

RULE_VERSION = "alignment-version"


def rule_versions(store: Store, ruleset_id: str) -> list[dict[str, Any]]:
    """Every saved version of a rule set, oldest first: {version, saved, deleted, rules}."""
    found = [v for v in store.list_definitions(RULE_VERSION) if v.get("id") == ruleset_id]
    return sorted(found, key=lambda v: int(v["version"]))


def save_rules(store: Store, data: Any, *, replace: str | None = None) -> tuple[RuleSet, int]:
    """Check and store a rule set as a new version. `replace` is the id in the request
    path (PUT): the body must name the same set, which must exist; without it (POST) the
    set must be new. Returns the rule set and its version number (1, 2, ...)."""
    ruleset = load_rules(data, frameworks(store))
    exists = store.get_definition(ALIGNMENT, ruleset.id) is not None
    if replace is not None:
        if ruleset.id != replace:
            raise ValidationError(f"id: the body names {ruleset.id!r}, the path {replace!r}", "id")
        if not exists:
            raise NotFound(f"no rule set {replace!r}; create it with POST", "id")
    elif exists:
        raise Conflict(f"rule set {ruleset.id!r} exists; replace it with PUT", "id")
    return ruleset, _store_version(store, ruleset.id, data)


def delete_rules(store: Store, ruleset_id: str) -> int:
    """Delete a rule set (its versions stay readable); the deletion is a version too."""
    if store.get_definition(ALIGNMENT, ruleset_id) is None:
        raise NotFound(f"no rule set {ruleset_id!r}", "id")
    return _store_version(store, ruleset_id, None)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
