"""Confirmed results for exchange with national systems (VNeID), one record per person.

A record carries only what the receiving system needs: the person's pseudonymised e-ID
account (the HMAC account of `lrs.national_id`, never a number), their target group, the
framework, level, date and the ids of the statements that earned it. Writers implement
`ResultSink`; JSON lines and CSV are here, and a real national endpoint can be added as
another sink without touching how records are chosen.

Formats (documented in README.md, "Exporting confirmed results"):
- JSON lines: one object per line with the keys of `ResultRecord.as_dict`;
- CSV: a header row with the same keys; `evidence` is the ids joined by spaces.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import orjson

from lrs.competency.confirmation import CONFIRMED, confirmation, confirmation_rule
from lrs.competency.crosswalk import into
from lrs.competency.framework import Framework
from lrs.competency.reading import directions_into, read_status, status_learners
from lrs.competency.registry import crosswalk_list
from lrs.national_id import DEFAULT_HOME_PAGE
from lrs.ports import Store
from lrs.rosters import get_person
from lrs.xapi.errors import ValidationError

FIELDS = (
    "eid_account",
    "eid_home_page",
    "target_group",
    "framework",
    "framework_version",
    "level",
    "date",
    "confirmed_at",
    "evidence",
)


@dataclass(frozen=True)
class ResultRecord:
    eid_account: str
    eid_home_page: str
    target_group: str | None
    framework: str
    framework_version: str
    level: str
    date: str  # the date in Viet Nam
    confirmed_at: str  # UTC, the stored form
    evidence: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELDS} | {"evidence": list(self.evidence)}


class ResultSink(Protocol):
    """Where confirmed results go: a file today, a national endpoint later."""

    def write(self, records: Iterable[ResultRecord]) -> int:
        """Send every record; return how many were sent."""
        ...


class JsonLinesSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, records: Iterable[ResultRecord]) -> int:
        count = 0
        for record in records:
            self.out.write(orjson.dumps(record.as_dict()).decode() + "\n")
            count += 1
        return count


class CsvSink:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, records: Iterable[ResultRecord]) -> int:
        writer = csv.writer(self.out, lineterminator="\n")
        writer.writerow(FIELDS)
        count = 0
        for record in records:
            row = record.as_dict()
            row["evidence"] = " ".join(record.evidence)
            writer.writerow([row[name] if row[name] is not None else "" for name in FIELDS])
            count += 1
        return count


SINKS: dict[str, type[JsonLinesSink] | type[CsvSink]] = {"jsonl": JsonLinesSink, "csv": CsvSink}


def eid_account(keys: Iterable[str], home_page: str = DEFAULT_HOME_PAGE) -> str | None:
    """The account name of the person's national e-ID key, if they have one."""
    prefix = f"account:{home_page}|"
    return next((k[len(prefix) :] for k in sorted(keys) if k.startswith(prefix)), None)


def confirmed_records(
    store: Store, framework: Framework, until: str | None = None
) -> Iterator[ResultRecord]:
    """Every person with a national e-ID key who is confirmed (as of `until`), once each,
    whatever framework their evidence was aligned to (crosswalks count)."""
    rule = confirmation_rule(framework.id)
    if rule is None:
        raise ValidationError(f"{framework.id} has no confirmation rule", "framework")
    sources = {framework.id} | {d.source for d in into(crosswalk_list(store), framework.id)}
    done: set[str] = set()
    directions = directions_into(store, framework)
    for key in status_learners(store, sorted(sources)):
        person = store.person_of(key)
        if (person or key) in done:
            continue
        done.add(person or key)
        keys = store.keys_of(person) if person else [key]
        account = eid_account(keys)
        if account is None:
            continue  # nothing the national systems could match
        attributes = get_person(store, person or key) or {}
        state, _ = read_status(store, framework, keys, until, directions)
        result = confirmation(framework, rule, state, attributes.get("target_group"))
        if result["state"] != CONFIRMED:
            continue
        yield ResultRecord(
            eid_account=account,
            eid_home_page=DEFAULT_HOME_PAGE,
            target_group=attributes.get("target_group"),
            framework=framework.id,
            framework_version=framework.version,
            level=result["level"],
            date=result["date"],
            confirmed_at=result["confirmed_at"],
            evidence=tuple(result["evidence"]),
        )
