"""Recomputing competency status after a rule set changed, only where the change reaches.

A change of a rule set (created, replaced, deleted) can only alter the evidence of the
statements that a changed rule matches, in its old or its new version: rules whose
definition is the same in both versions give the same evidence. So the log is scanned
with those rules only (a byte search for each rule's most specific match value skips
most statements without parsing them), and the matched statements contribute again under
the rules in force (`Aggregates.recontribute`, one transaction per chunk): their learners'
states are rebuilt, every other state is left as it is. Rules apply per statement, so
the other competences of a rebuilt state come out as they were. The rebuilt learners'
persons are then re-placed in the stored aggregates.

Changes made over the API run in the background, one at a time per process, in the order
made. Each waits `settle` seconds first: running processors reload rules every few
seconds (consumers.reducers.competencies), and a statement they fold with the old rules
after the scan passed it would keep old evidence.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from lrs.competency.aggregates import refresh
from lrs.competency.alignment import Rule, RuleSet, load_rules
from lrs.competency.registry import frameworks
from lrs.ports import Store
from lrs.xapi.errors import XAPIError
from lrs.xapi.statements import is_voiding

log = logging.getLogger(__name__)

_CHUNK = 500  # statements re-contributed per transaction


@dataclass
class Recomputed:
    """What a rule change recomputed (the CLI prints it, the API returns it)."""

    rules: int = 0  # changed rules (old and new versions)
    scanned: int = 0  # log records read
    statements: int = 0  # statements a changed rule matches
    keys: int = 0  # (framework, learner) states rebuilt
    learners: int = 0  # distinct learner keys among them
    persons: int = 0  # aggregate rows changed
    full: bool = False  # the change could not be narrowed: every statement was tried
    status_s: float = 0.0  # scanning and re-contributing (wall seconds)
    aggregates_s: float = 0.0  # re-placing the persons in the stored aggregates

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def changed_rules(
    old: dict[str, Any] | None, new: dict[str, Any] | None, store: Store
) -> list[Rule]:
    """The rules of either version whose definition differs in the other (pure over the
    two versions; the frameworks resolve levels). A version that no longer loads (its
    framework was removed) counts with all its rules, as far as they load."""
    known = frameworks(store)

    def rules_of(data: dict[str, Any] | None) -> dict[str, tuple[dict[str, Any], Rule]]:
        if not data:
            return {}
        try:
            loaded = load_rules(data, known)
        except XAPIError:
            return {}
        raw = {str(r["id"]): r for r in data.get("rules") or []}
        return {rule.id: (raw[rule.id], rule) for rule in loaded.rules}

    before, after = rules_of(old), rules_of(new)
    moved = (old or {}).get("framework") != (new or {}).get("framework")
    found: list[Rule] = []
    for rule_id in sorted(set(before) | set(after)):
        a, b = before.get(rule_id), after.get(rule_id)
        if moved or a is None or b is None or a[0] != b[0]:
            found += [version[1] for version in (a, b) if version is not None]
    return found


_SPECIFIC = ("activity", "activity_prefix", "competency", "activity_type", "verb")


def _needle(rule: Rule) -> bytes | None:
    """The most specific value of the rule's match (an activity before a type or a verb,
    which many statements share): every statement the rule matches contains it."""
    for prop in _SPECIFIC:
        value = rule.match.get(prop)
        if isinstance(value, str) and value:
            return value.encode()
    return None


def recompute(
    store: Store,
    reducer: Any,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    batch: int = 5000,
) -> Recomputed:
    """Recompute what replacing rule set version `old` by `new` changes (None: absent)."""
    report = Recomputed()
    rules = changed_rules(old, new, store)
    report.rules = len(rules)
    if not rules:
        return report
    started = time.perf_counter()
    probe = RuleSet("changed", rules[0].competence, tuple(rules), {})
    needles = [_needle(r) for r in rules]
    report.full = any(n is None for n in needles)
    matched: dict[str, dict[str, Any]] = {}
    keys: set[str] = set()
    position = 0

    def flush() -> None:
        if matched:
            keys.update(store.recontribute(reducer, dict(matched)))
            report.statements += len(matched)
            matched.clear()

    while records := store.read_log(position, batch):
        for record in records:
            report.scanned += 1
            value = record.value
            if not report.full and not any(n is not None and n in value for n in needles):
                continue
            statement = orjson.loads(value)
            if is_voiding(statement) or not probe.matching_positions(statement):
                continue
            matched[str(statement["id"])] = statement
            if len(matched) >= _CHUNK:
                flush()
        position = records[-1].offset
    flush()
    report.keys = len(keys)
    learners = {key.partition("|")[2] for key in keys}
    report.learners = len(learners)
    report.status_s = time.perf_counter() - started
    report.persons = refresh(store, learners)
    report.aggregates_s = time.perf_counter() - started - report.status_s
    return report


# ------------------------------------------------------------------------------ background

Job = Callable[[], object]

_lock = threading.Lock()
_queue: list[Job] = []
_state: dict[str, Any] = {"running": False, "done": 0, "last": None}


def recompute_later(
    store: Store,
    reducer: Callable[[], Any],
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    settle: float = 2.5,
) -> str:
    """Queue the recomputation of one rule change; "started" or "queued"."""

    def job() -> Recomputed:
        time.sleep(settle)
        return recompute(store, reducer(), old, new)

    with _lock:
        _queue.append(job)
        if _state["running"]:
            return "queued"
        _state["running"] = True
    threading.Thread(target=_run, daemon=True, name="competencies-recompute").start()
    return "started"


def _run() -> None:
    while True:
        with _lock:
            if not _queue:
                _state["running"] = False
                return
            job = _queue.pop(0)
        try:
            _state["last"] = job()
        except Exception:  # the next change or `lrs rebuild competencies` repairs it
            log.exception("recomputing competencies after a rule change failed")
        with _lock:
            _state["done"] += 1


def last_recomputed() -> Recomputed | None:
    """What the last background recomputation did (tests, the admin's check)."""
    last = _state["last"]
    return last if isinstance(last, Recomputed) else None


def wait_for_rebuilds(timeout: float = 30.0) -> bool:
    """Block until no recomputation runs (tests, and a clean shutdown); False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _lock:
            if not _state["running"]:
                return True
        time.sleep(0.02)
    return False
