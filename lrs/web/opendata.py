"""Open data releases: the aggregates of lrs.competency.aggregates, through disclosure
control (lrs.opendata.disclosure), with a licence and a data dictionary, each release
recorded in the access log.

A release is one computed dataset (framework x dimension); it is kept for `CACHE_SECONDS`
so public downloads do not recompute the province's aggregates, and recorded once, when
computed, with the SHA-256 of its records: any published file can be matched to its entry.
Classes are never a public dimension (a class is a handful of persons).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from lrs.competency.aggregates import ORGANISATION, aggregates
from lrs.competency.framework import Framework
from lrs.domain.times import format_stored
from lrs.opendata.disclosure import Table, protect_all, rounded
from lrs.ports import Store
from lrs.web.data import STATES, framework_or_default, release_tables
from lrs.xapi.errors import ValidationError

PUBLIC_DIMENSIONS = ("commune", "org", "target_group")
CACHE_SECONDS = 300
LICENCE = {
    "name": "Creative Commons Attribution 4.0 International (CC BY 4.0)",
    "url": "https://creativecommons.org/licenses/by/4.0/",
}
COLUMNS = ("framework", "by", "group", "label", "measure", "category", "count", "withheld")
DICTIONARY = [
    {"field": "framework", "type": "IRI", "description": "The competency framework counted."},
    {"field": "by", "type": "text", "description": "The dimension the persons are grouped by: commune (commune or ward), org (school or organisation) or target_group (Decision 757 target group)."},
    {"field": "group", "type": "text", "description": "The group's identifier; empty for a person whose value is unknown; '*' for all groups together."},
    {"field": "label", "type": "text", "description": "The group's name where the LRS knows one."},
    {"field": "measure", "type": "text", "description": "A competence code of the framework, or 'confirmed' (confirmed at the basic level, frameworks with a confirmation rule)."},
    {"field": "category", "type": "text", "description": "not_started, in_progress or achieved (a competence's state), confirmed or not_confirmed, or total (every person of the group)."},
    {"field": "count", "type": "integer or empty", "description": "Persons; empty when withheld. Rounded to a multiple of the release's rounding base when it has one."},
    {"field": "withheld", "type": "boolean", "description": "True when the count is withheld: under the minimum count, or it would let a withheld count be worked out from the totals."},
]  # fmt: skip

_cache: dict[tuple[int, str, str, int, int], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def policy() -> tuple[int, int]:
    """(minimum count, rounding base: 0 for none), from LRS_OPEN_DATA_MINIMUM (default 10)
    and LRS_OPEN_DATA_ROUNDING (e.g. 5)."""
    minimum = os.environ.get("LRS_OPEN_DATA_MINIMUM", "10")
    base = os.environ.get("LRS_OPEN_DATA_ROUNDING", "0")
    if not minimum.isdigit() or int(minimum) < 1 or not base.isdigit():
        raise ValueError("LRS_OPEN_DATA_MINIMUM: a whole number >= 1; LRS_OPEN_DATA_ROUNDING: >= 0")
    return int(minimum), int(base)


def _labels(store: Store, by: str, groups: list[dict[str, Any]]) -> dict[str | None, str]:
    labels: dict[str | None, str] = {}
    for group in groups:
        value = group["value"]
        if by == "org" and value:
            labels[value] = str((store.get_definition(ORGANISATION, value) or {}).get("name") or value)
        else:
            labels[value] = str(value or "")
    return labels


def records(
    framework: Framework, by: str, groups: list[dict[str, Any]], tables: dict[str, Table],
    labels: dict[str | None, str], base: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Pure: every cell of every protected table as a row of the release."""
    found = []
    for measure, table in tables.items():
        categories = list(STATES) if measure != "confirmed" else ["confirmed", "not_confirmed"]
        for r in range(table.rows + 1):
            group = groups[r]["value"] if r < table.rows else "*"
            for c, category in enumerate([*categories, "total"]):
                published = table.published((r, c))
                found.append(
                    {
                        "framework": framework.id,
                        "by": by,
                        "group": group or "",
                        "label": labels.get(group, "") if r < table.rows else "",
                        "measure": measure,
                        "category": category,
                        "count": rounded(published, base),
                        "withheld": published is None,
                    }
                )
    return found


def release(store: Store, framework_name: str | None, by: str) -> dict[str, Any]:
    """Blocking: the release for a framework and dimension (cached), recorded when made."""
    if by not in PUBLIC_DIMENSIONS:
        raise ValidationError(f"by: one of {', '.join(PUBLIC_DIMENSIONS)}", "by")
    framework = framework_or_default(store, framework_name)
    minimum, base = policy()
    memo = (id(store), framework.id, by, minimum, base)
    with _lock:
        cached = _cache.get(memo)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    groups = aggregates(store, framework, by)
    tables = release_tables(framework, groups)
    protect_all(list(tables.values()), minimum)
    rows = records(framework, by, groups, tables, _labels(store, by, groups), base)
    digest = hashlib.sha256(orjson.dumps(rows)).hexdigest()
    released = format_stored(datetime.now(UTC))
    body = {
        "title": f"{framework.title.text('en')}: persons by {by}",
        "framework": framework.id,
        "by": by,
        "released": released,
        "licence": LICENCE,
        "disclosure": {"minimum_count": minimum, "rounding_base": base or None, "complementary": True},
        "sha256": digest,
        "dictionary": DICTIONARY,
        "records": rows,
    }
    store.append_access(
        {
            "at": released,
            "action": "release",
            "credential": "public",
            "name": "open data",
            "role": "public",
            "org": None,
            "what": "opendata",
            "learner": None,
            "query": {"framework": framework.id, "by": by, "minimum": minimum, "rounding": base, "sha256": digest},
            "count": len(rows),
        }
    )
    with _lock:
        _cache[memo] = (time.monotonic(), body)
    return body


def as_csv(body: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in body["records"]:
        writer.writerow(
            [
                "" if row[c] is None else ("true" if row[c] is True else "false" if row[c] is False else row[c])
                for c in COLUMNS
            ]
        )
    return buffer.getvalue().encode()


def forget() -> None:
    """Drop cached releases (tests; a deployment that changed its policy)."""
    with _lock:
        _cache.clear()
