"""OneRoster 1.1 / 1.2 CSV exports (what school information systems export).

`lrs connect oneroster --input EXPORT --sis-url URL` reads a directory or zip of OneRoster
CSV files and

- saves each class with its students as a roster group (`lrs.rosters`), which the class
  view (`GET /api/v1/groups/{class IRI}/competencies`) lists in full, learners without
  statements included;
- links users whose national ID number the export carries (`--national-id-column`) to the
  pseudonymous account of that number, never storing the number itself;
- emits one `scored` statement per result (lineItems.csv + results.csv).

The roster is not a statement, so it cannot travel through the statement sinks: it is
written to the configured store (the embedded one, or LRS_STORE) when the statements go to
the store or to Kafka; with `--dry-run` or an LRS over HTTP it is only summarised. Problems
in the roster files (a missing required column, an enrollment in an unknown class, an
invalid national ID) are reported and counted like bad results, so the exit status says
whether anything was skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from connectors.base import SourceRecord
from connectors.oneroster.files import Export, Row, read_export
from connectors.oneroster.mapping import (
    NationalIds,
    Roster,
    build_gradebook,
    build_roster,
    mapping_for,
    source_name,
)
from connectors.tabular import BadRecord
from lrs.config import load_settings
from lrs.national_id import DEFAULT_HOME_PAGE
from lrs.rosters import class_members, delete_class, get_class, save_class
from lrs.storage import open_store

NAME = "oneroster"
HELP = "OneRoster 1.1/1.2 CSV export (directory or zip): class rosters and gradebook results"


class OneRosterReader:
    """Problems found in the export, then the rows of results.csv.

    The checkpoint is `<digest of results.csv>:<rows read>`: exports are full snapshots
    written under the same file names, so a row count is only meaningful for the same file;
    for a new export the reader starts again (deterministic ids keep that from duplicating).
    """

    def __init__(self, name: str, export: Export, problems: list[tuple[str, str]]) -> None:
        self.name = name
        results = export.table("results")
        self.file = results.file if results is not None else "results.csv"
        self.rows: list[Row] = results.rows if results is not None else []
        self.digest = results.digest if results is not None else "none"
        self.problems = problems

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        done = 0
        if after and after.startswith(self.digest + ":"):
            done = int(after.split(":", 1)[1])
        here = f"{self.digest}:{done}"
        for where, reason in self.problems:
            yield SourceRecord(here, BadRecord(reason), where)
        for number, row in enumerate(self.rows, start=1):
            if number > done:
                yield SourceRecord(f"{self.digest}:{number}", row, f"{self.file} line {row.line}")

    def size(self) -> int | None:
        return len(self.rows) + len(self.problems)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="the export: a directory or a .zip")
    parser.add_argument(
        "--sis-url",
        required=True,
        help="the school information system's URL: accounts' homePage, base of class IRIs",
    )
    parser.add_argument(
        "--national-id-column",
        help="users.csv (or userProfiles.csv) column holding national ID numbers; each is "
        "linked as a pseudonymous account (HMAC under LRS_IDENTITY_SECRET), never stored",
    )
    parser.add_argument(
        "--national-id-home-page",
        default=DEFAULT_HOME_PAGE,
        help=f"homePage of national ID accounts (default {DEFAULT_HOME_PAGE})",
    )
    parser.add_argument(
        "--language", default="en", help="language tag of titles in the export (default en)"
    )
    parser.add_argument(
        "--no-roster", action="store_true", help="emit result statements only; save no classes"
    )


def build(args: argparse.Namespace) -> tuple[OneRosterReader, Any]:
    path = Path(args.input)
    if not path.exists():
        raise SystemExit(f"error: no directory or zip {path}")
    sis = args.sis_url.rstrip("/")
    if not sis.startswith(("http://", "https://")):
        raise SystemExit("error: --sis-url must be an http(s) URL (it becomes an IRI)")
    national = None
    if args.national_id_column:
        secret = os.environ.get("LRS_IDENTITY_SECRET", "").encode()
        if len(secret) < 16:
            raise SystemExit(
                "error: --national-id-column needs LRS_IDENTITY_SECRET (at least 16 bytes): "
                "national ID numbers are only ever kept as an HMAC under it"
            )
        national = NationalIds(args.national_id_column, secret, args.national_id_home_page)
    extra: dict[str, Iterable[str]] = (
        {"users": [args.national_id_column], "userProfiles": [args.national_id_column]}
        if national
        else {}
    )
    try:
        export = read_export(path, extra)
    except (FileNotFoundError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if not export.tables:
        raise SystemExit(
            f"error: {path} holds no OneRoster CSV files (classes.csv, results.csv...)"
        )
    if national is not None and not any(
        t is not None and t.has(national.column)
        for t in (export.table("users"), export.table("userProfiles"))
    ):
        raise SystemExit(f"error: no column {national.column!r} in users.csv or userProfiles.csv")
    for warning in export.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    roster = build_roster(export, sis, national)
    problems = export.problems + roster.problems
    _apply_roster(args, roster, export, problems)
    book = build_gradebook(export, sis, args.language)
    return OneRosterReader(source_name(sis), export, problems), mapping_for(book)


def merged(store: Any, definition: dict[str, Any], roster: Roster) -> dict[str, Any]:
    """A class after a delta export: stored members, plus the added, less the removed."""

    group = definition["id"]
    members = set(class_members(store, group)) | set(definition.get("members") or [])
    members = (members | roster.added.get(group, set())) - roster.removed.get(group, set())
    stored = get_class(store, group) or {}
    teachers = set(stored.get("teachers") or []) | set(definition.get("teachers") or [])
    return {**definition, "members": sorted(members), "teachers": sorted(teachers)}


def _apply_roster(
    args: argparse.Namespace, roster: Roster, export: Export, problems: list[tuple[str, str]]
) -> None:
    """Write classes and identity links to the store the deployment is configured with;
    what cannot be applied is added to `problems`."""
    what = (
        f"OneRoster {export.version}: {len(roster.classes)} classes, {roster.students} "
        f"students, {len(roster.links)} national ID links"
    )
    to = getattr(args, "to", "store") or "store"
    if args.no_roster:
        print(f"{what}; roster not saved (--no-roster)", file=sys.stderr)
        return
    if getattr(args, "dry_run", False) or to.startswith(("http://", "https://")):
        why = (
            "--dry-run"
            if getattr(args, "dry_run", False)
            else "an LRS over HTTP takes statements only"
        )
        print(f"{what}; roster not saved ({why})", file=sys.stderr)
        return

    settings = load_settings(
        getattr(args, "config", None),
        data=getattr(args, "data", None),
        store=getattr(args, "store", None),
    )
    store = open_store(settings.store_url)
    try:
        for definition in roster.classes:
            if roster.delta:
                definition = merged(store, definition, roster)
            save_class(store, definition)
        if roster.delta:
            listed = {d["id"] for d in roster.classes}
            for group in sorted((roster.added.keys() | roster.removed.keys()) - listed):
                known = get_class(store, group)
                if known is None:
                    problems.append(
                        ("enrollments.csv", f"class {group} is in no classes.csv seen so far")
                    )
                else:
                    save_class(store, merged(store, known, roster))
        for group in roster.deleted:
            delete_class(store, group)
        for person, keys in roster.links:
            store.link_keys(person, keys)
    finally:
        store.close()
    print(f"{what}; roster saved", file=sys.stderr)
