"""Reading a OneRoster CSV export (1.1 or 1.2): a directory or a zip of CSV files.

Exports come from many school information systems, and real ones are dirty: file names in
another case (userprofiles.csv), a byte order mark, headers with stray spaces or a typo
(`dataLastModified`, `prefferedGivenName`), trailing empty columns. So each header is read
leniently: exactly, then ignoring case, spaces and underscores, then as the one known
column it is a close misspelling of (reported as a warning, so the school can fix its
export). A required column that cannot be found is reported once, naming the file, the
column and the headers that are there; that file is then not used, and the run goes on.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Columns of each file we read, OneRoster 1.1 and 1.2 together (1.2 moved users' role and
# orgSourcedIds to roles.csv and added preferred names, primaryOrgSourcedId, pronouns...).
KNOWN: dict[str, tuple[str, ...]] = {
    "orgs": (
        "sourcedId", "status", "dateLastModified", "name", "type", "identifier",
        "parentSourcedId",
    ),
    "users": (
        "sourcedId", "status", "dateLastModified", "enabledUser", "orgSourcedIds", "role",
        "username", "userIds", "givenName", "familyName", "middleName", "identifier", "email",
        "sms", "phone", "agentSourcedIds", "grades", "password", "userMasterIdentifier",
        "resourceSourcedIds", "preferredGivenName", "preferredMiddleName",
        "preferredFamilyName", "primaryOrgSourcedId", "pronouns",
    ),
    "classes": (
        "sourcedId", "status", "dateLastModified", "title", "grades", "courseSourcedId",
        "classCode", "classType", "location", "schoolSourcedId", "termSourcedIds", "subjects",
        "subjectCodes", "periods", "resourceSourcedIds",
    ),
    "courses": (
        "sourcedId", "status", "dateLastModified", "schoolYearSourcedId", "title",
        "courseCode", "grades", "orgSourcedId", "subjects", "subjectCodes",
        "resourceSourcedIds",
    ),
    "enrollments": (
        "sourcedId", "status", "dateLastModified", "classSourcedId", "schoolSourcedId",
        "userSourcedId", "role", "primary", "beginDate", "endDate",
    ),
    "lineItems": (
        "sourcedId", "status", "dateLastModified", "title", "description", "assignDate",
        "dueDate", "classSourcedId", "categorySourcedId", "gradingPeriodSourcedId",
        "academicSessionSourcedId", "schoolSourcedId", "resultValueMin", "resultValueMax",
        "learningObjectiveSet",
    ),
    "results": (
        "sourcedId", "status", "dateLastModified", "lineItemSourcedId", "studentSourcedId",
        "classSourcedId", "scoreStatus", "score", "textScore", "scoreDate", "comment",
        "scoreScaleSourcedId", "learningObjectiveSet", "inProgress", "incomplete", "late",
        "missing",
    ),
    "userProfiles": (
        "sourcedId", "status", "dateLastModified", "userSourcedId", "profileType", "vendorId",
        "applicationId", "description", "credentialType", "username", "password",
    ),
}  # fmt: skip

# What the connector needs from each file (less than the standard requires: a missing
# optional column costs nothing, and refusing a whole export for it would help no one).
REQUIRED: dict[str, tuple[str, ...]] = {
    "orgs": ("sourcedId", "name"),
    "users": ("sourcedId",),
    "classes": ("sourcedId", "title"),
    "courses": ("sourcedId", "title"),
    "enrollments": ("classSourcedId", "userSourcedId", "role"),
    "lineItems": ("sourcedId", "title", "classSourcedId"),
    "results": ("sourcedId", "lineItemSourcedId", "studentSourcedId", "score"),
    "userProfiles": ("userSourcedId",),
}

# Files of an export the connector does not need (listed so they are not "unknown").
IGNORED = ("academicSessions", "demographics", "roles", "categories", "manifest", "resources",
           "classResources", "courseResources", "userResources", "scoreScales",
           "lineItemScoreScales", "resultScoreScales", "lineItemLearningObjectiveIds",
           "resultLearningObjectiveIds")  # fmt: skip


def canonical(header: str) -> str:
    """A header as compared: case, spaces, underscores and a byte order mark do not count."""
    return re.sub(r"[\s_\-]", "", header.replace("\ufeff", "")).lower()


@dataclass(frozen=True)
class Row:
    line: int  # the line the record ends on, for reports
    values: dict[str, str]  # by standard column name; extra columns by their header

    def get(self, column: str) -> str:
        return (self.values.get(column) or "").strip()


@dataclass
class Table:
    file: str  # the file name as found (for reports)
    rows: list[Row] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # header -> column name
    digest: str = ""

    def has(self, column: str) -> bool:
        return column in self.columns.values()


@dataclass
class Export:
    """The files of one export that the connector reads, and what was wrong with them."""

    tables: dict[str, Table] = field(default_factory=dict)
    version: str = "1.1"
    delta: set[str] = field(default_factory=set)  # files the manifest says hold changes only
    warnings: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    def table(self, name: str) -> Table | None:
        return self.tables.get(name)


def resolve_headers(
    file: str, headers: list[str], known: Iterable[str], extra: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """Map each header to a column name: exact, then loose, then a close misspelling of a
    known column (with a warning). `extra` are columns asked for by name (the national ID
    column), matched exactly or loosely only. Unmatched headers keep their own name."""
    known = list(known)
    wanted = {canonical(c): c for c in [*known, *extra]}
    columns: dict[str, str] = {}
    warnings: list[str] = []
    unmatched: list[str] = []
    for header in headers:
        name = header.strip().replace("\ufeff", "")
        if not name:
            continue  # a trailing empty column
        column = wanted.get(canonical(name))
        if column is not None and column not in columns.values():
            columns[header] = column
        else:
            unmatched.append(header)
    free = {canonical(c): c for c in known if c not in columns.values()}
    for header in unmatched:
        name = header.strip().replace("\ufeff", "")
        close = difflib.get_close_matches(canonical(name), list(free), n=1, cutoff=0.85)
        if close and not name.lower().startswith("metadata."):
            column = free.pop(close[0])
            columns[header] = column
            warnings.append(f"{file}: header {name!r} read as {column!r}")
        else:
            columns[header] = name
    return columns, warnings


def _decode(data: bytes, file: str, warnings: list[str]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{file}: not UTF-8; read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def parse_table(
    name: str, file: str, data: bytes, export: Export, extra: Iterable[str] = ()
) -> Table | None:
    """One CSV file as rows by column name; None (with a problem) when a required column
    is missing, since none of its rows could be used."""
    text = _decode(data, file, export.warnings)
    table = Table(file, digest=hashlib.sha256(data).hexdigest()[:16])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        table.headers = next(reader, [])
        table.columns, warnings = resolve_headers(file, table.headers, KNOWN[name], extra)
        export.warnings.extend(warnings)
        missing = [c for c in REQUIRED[name] if not table.has(c)]
        if missing:
            hints = []
            for column in missing:
                close = difflib.get_close_matches(column, table.headers, n=1, cutoff=0.6)
                hints.append(f"{column!r}" + (f" (is {close[0]!r} meant?)" if close else ""))
            shown = ", ".join(repr(h) for h in table.headers if h.strip()) or "nothing"
            export.problems.append(
                (
                    file,
                    f"missing required column {', '.join(hints)}; the header has {shown}; "
                    f"{file} was not used",
                )
            )
            return None
        order = [table.columns.get(h) for h in table.headers]
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                continue
            values = {c: v for c, v in zip(order, cells, strict=False) if c}
            table.rows.append(Row(reader.line_num, values))
    except csv.Error as exc:
        export.problems.append((f"{file} line {reader.line_num}", f"unreadable CSV: {exc}"))
    return table


class Source:
    """The CSV files of a directory (searched below it too) or of a zip, by lower-case name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: dict[str, tuple[str, Path | str]] = {}
        if path.is_dir():
            candidates = sorted(path.rglob("*.csv"), key=lambda p: (len(p.parts), str(p)))
            for found in candidates:
                self.files.setdefault(found.name.lower(), (found.name, found))
        elif zipfile.is_zipfile(path):
            self.archive = zipfile.ZipFile(path)
            members = [n for n in self.archive.namelist() if n.lower().endswith(".csv")]
            for member in sorted(members, key=lambda n: (n.count("/"), n)):
                base = member.rsplit("/", 1)[-1]
                self.files.setdefault(base.lower(), (base, member))
        else:
            raise FileNotFoundError(f"{path} is neither a directory nor a zip file")

    def read(self, name: str) -> tuple[str, bytes] | None:
        found = self.files.get(name.lower() + ".csv")
        if found is None:
            return None
        file, where = found
        if isinstance(where, Path):
            return file, where.read_bytes()
        return file, self.archive.read(where)


def read_manifest(source: Source) -> dict[str, str]:
    """manifest.csv as canonical property name -> value (empty without a manifest)."""
    found = source.read("manifest")
    if found is None:
        return {}
    text = found[1].decode("utf-8-sig", errors="replace")
    return {
        canonical(cells[0]): cells[1].strip()
        for cells in csv.reader(io.StringIO(text))
        if len(cells) >= 2
    }


def read_export(path: Path, extra: dict[str, Iterable[str]] | None = None) -> Export:
    """Every file the connector uses; `extra` asks for more columns per file by name."""
    source = Source(path)
    export = Export()
    for name in KNOWN:
        found = source.read(name)
        if found is None:
            continue
        file, data = found
        table = parse_table(name, file, data, export, (extra or {}).get(name, ()))
        if table is not None:
            export.tables[name] = table
    manifest = read_manifest(source)
    version = manifest.get("oneroster.version") or None
    export.delta = {
        name for name in KNOWN if manifest.get(canonical(f"file.{name}"), "").lower() == "delta"
    }
    if version is None:
        users = export.tables.get("users")
        newer = source.read("roles") is not None or source.read("userProfiles") is not None
        newer = newer or (users is not None and users.has("primaryOrgSourcedId"))
        version = "1.2" if newer else "1.1"
    export.version = version
    known = {n.lower() for n in [*KNOWN, *IGNORED]}
    for base, (file, _) in sorted(source.files.items()):
        if base.removesuffix(".csv") not in known:
            export.warnings.append(f"{file}: not a OneRoster file this connector knows; ignored")
    return export
