"""Competency status as read: own evidence plus crosswalked evidence, folded in time order.

Every status endpoint reads through here, so "as of a date", "through which crosswalk"
and "when was each level reached" mean the same thing for a learner key, a person and a
class.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from lrs.competency.crosswalk import Direction, into
from lrs.competency.framework import Framework
from lrs.competency.registry import crosswalk_list, frameworks
from lrs.domain.records import Contribution, StateQuery
from lrs.domain.times import format_stored
from lrs.ports import Store
from lrs.readmodels import COMPETENCIES
from lrs.readmodels.competencies import CompetencyState, StateChange, fold_timeline, state_key
from lrs.xapi.errors import ValidationError


def as_of_bound(value: str | None) -> str | None:
    """`as_of` as an exclusive bound on evidence times (the stored UTC form).

    A date (`2025-12-31`) means the end of that day in UTC; a date and time with a zone
    (`2025-12-31T17:00:00+07:00`) means that moment, evidence at that very moment included.
    """
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError("no zone")
            moment += timedelta(milliseconds=1)
    except ValueError:
        raise ValidationError(
            "as_of: a date (2025-12-31) or a date and time with its zone "
            "(2025-12-31T17:00:00+07:00)",
            "as_of",
        ) from None
    return format_stored(moment.astimezone(UTC))


def directions_into(store: Store, framework: Framework) -> list[Direction]:
    """The crosswalk directions that bring evidence into `framework` (ask once per view)."""
    known = frameworks(store)
    return [d for d in into(crosswalk_list(store), framework.id) if d.source in known]


def evidence_for(
    store: Store, framework: Framework, keys: list[str], directions: list[Direction] | None = None
) -> list[Contribution]:
    """The live contributions of `keys` to `framework`, and those of the frameworks
    crosswalked into it, translated (each keeps `via`: the crosswalk it came through).
    All in one store read: the keys of every framework concerned at once."""
    if not keys:
        return []
    if directions is None:
        directions = directions_into(store, framework)
    wanted = [state_key(framework.id, k) for k in keys]
    for direction in directions:
        wanted += [state_key(direction.source, k) for k in keys]
    by_source = {d.source: d for d in directions}
    found: list[Contribution] = []
    for item in store.get_contributions(COMPETENCIES, wanted):
        source, _, learner = item.key.partition("|")
        if source == framework.id:
            found.append(item)
            continue
        through = by_source.get(source)
        if through is not None:
            translated = through.translate(item, framework, state_key(framework.id, learner))
            if translated is not None:
                found.append(translated)
    return found


def evidence_of_many(
    store: Store,
    framework: Framework,
    entries: dict[str, list[str]],
    directions: list[Direction] | None = None,
) -> dict[str, list[Contribution]]:
    """`evidence_for` of several persons (entry -> their keys) in one store read: a class
    of 40 is one query, not 40."""
    owner = {key: entry for entry, keys in entries.items() for key in keys}
    found: dict[str, list[Contribution]] = {entry: [] for entry in entries}
    for item in evidence_for(store, framework, sorted(owner), directions):
        found[owner[item.key.partition("|")[2]]].append(item)
    return found


def read_status(
    store: Store,
    framework: Framework,
    keys: list[str],
    until: str | None = None,
    directions: list[Direction] | None = None,
) -> tuple[CompetencyState | None, list[StateChange]]:
    """The status of the person with these keys (as of `until`) and its list of changes."""
    return fold_timeline(evidence_for(store, framework, keys, directions), until)


def status_learners(store: Store, framework_ids: list[str]) -> list[str]:
    """Every learner key with a stored status in any of these frameworks."""
    keys: set[str] = set()
    for framework_id in framework_ids:
        after = None
        while True:
            query = StateQuery(equals={"framework": framework_id}, limit=1000, after=after)
            page = store.list_states(COMPETENCIES, query)
            keys.update(key.partition("|")[2] for key, _ in page)
            if len(page) < 1000:
                break
            after = page[-1][0]
    return sorted(keys)
