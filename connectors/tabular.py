"""Any CSV or JSON lines file, with a mapping file: column -> statement template.

For every source without a connector of its own (a gradebook export, a quiz tool's log, a
spreadsheet a teacher keeps), the operator writes a small JSON mapping (schema:
`lrs/schemas/connector-mapping.schema.json`) instead of code:

    {"source": "gradebook-2025", "id": "{row_id}",
     "statement": {"actor": {"account": {"homePage": "https://sis.example.org",
                                         "name": "{student}"}},
                   "verb": {"id": "http://adlnet.gov/expapi/verbs/{verb}"},
                   "object": {"id": "https://x/{activity}"},
                   "result": {"score": {"raw": "{score:number}"}},
                   "timestamp": "{date:timestamp}"}}

Placeholders are typed (string, number, integer, boolean, timestamp), because a spreadsheet
holds only text while xAPI wants numbers and RFC 3339 instants. An empty column leaves its
field out (an ungraded row has no score), rather than failing the row. A row that cannot be
mapped (missing column, unparsable number or date, a statement the LRS would refuse) is
reported with its file and line, counted and skipped: the mapping validates each statement
itself so that the report points at the line, not at a statement id nobody can find.

The checkpoint is the number of CSV records read, or the byte offset in a JSON lines file
(both assume a file that only grows; `--no-checkpoint` reads a rewritten file again, and
deterministic ids keep that from storing anything twice).
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

import lrs
from connectors.base import LinesReader, MappingError, SourceRecord, fraction, statement_id
from lrs.domain.times import format_stored
from lrs.xapi.errors import XAPIError
from lrs.xapi.validation import validate_statement

NAME = "csv"
HELP = "CSV or JSON lines, mapped to statements by a mapping file (column -> template)"

TYPES = ("string", "number", "integer", "boolean", "timestamp")
SCHEMA = Path(lrs.__file__).resolve().parent / "schemas" / "connector-mapping.schema.json"
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


class MappingFileError(ValueError):
    """The mapping file itself is wrong: nothing can be mapped, so the run does not start."""


@dataclass(frozen=True)
class BadRecord:
    """A record the reader could not even split into columns; the mapping reports it."""

    reason: str


# --- values --------------------------------------------------------------------------------


def is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def to_number(value: Any) -> int | float:
    """A JSON number from a cell: integers stay integers (85, not 85.0)."""
    if isinstance(value, bool):
        raise ValueError(f"{_show(value)} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        number = value
    else:
        text = str(value).strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{_show(value)} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{_show(value)} is not a finite number")
    return number


def to_integer(value: Any) -> int:
    number = to_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"{_show(value)} is not an integer")
        return int(number)
    return number


def to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{_show(value)} is not a boolean (true/false, yes/no, 1/0)")


@cache
def zone(name: str) -> tzinfo:
    """An IANA zone or a fixed offset (+07:00) for times written without one."""
    match = _OFFSET.fullmatch(name.strip())
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-delta if sign == "-" else delta)
    if name.strip().upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name or +HH:MM)") from None


def to_timestamp(value: Any, default_zone: tzinfo = UTC) -> str:
    """An RFC 3339 UTC timestamp (millisecond precision) from an ISO 8601 date or date-time.

    A date alone means its midnight; a time without an offset is read in `default_zone`.
    Day-first or month-first forms (1/05/2023) are refused: they are ambiguous. A JSON
    number is read as seconds since the Unix epoch.
    """
    if isinstance(value, bool):
        raise ValueError(f"{_show(value)} is not a date or date-time")
    if isinstance(value, int | float):
        try:
            return format_stored(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{_show(value)} is not a time in seconds since 1970") from None
    text = str(value).strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{_show(value)} is not an ISO 8601 date or date-time (like 2025-01-15T09:30:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_zone)
    try:
        return format_stored(moment)
    except (OverflowError, ValueError):
        raise ValueError(f"{_show(value)} is out of range") from None


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def convert(value: Any, kind: str, default_zone: tzinfo = UTC) -> Any:
    """A cell as the placeholder's type; ValueError says why it is not one."""
    if kind == "number":
        return to_number(value)
    if kind == "integer":
        return to_integer(value)
    if kind == "boolean":
        return to_boolean(value)
    if kind == "timestamp":
        return to_timestamp(value, default_zone)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return to_text(value)


# --- templates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Placeholder:
    column: str
    kind: str


Part = str | Placeholder
_OMIT = object()


def parse_string(text: str, where: str = "") -> list[Part]:
    """A template string as literal text and placeholders."""
    parts: list[Part] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        else:
            inner = match.group(1).strip()
            column, _, kind = inner.rpartition(":") if ":" in inner else (inner, "", "string")
            column, kind = column.strip(), (kind.strip() or "string")
            if not column:
                raise MappingFileError(f"{where}: empty placeholder {token!r}")
            if kind not in TYPES:
                raise MappingFileError(
                    f"{where}: unknown type {kind!r} in {token!r}; use one of {', '.join(TYPES)}"
                )
            parts.append(Placeholder(column, kind))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    stray = [p for p in parts if isinstance(p, str) and ("{" in p or "}" in p) and len(p) > 1]
    if stray:
        raise MappingFileError(f"{where}: unbalanced brace in {text!r} (write {{{{ or }}}})")
    # merge adjacent literals (from {{ and }})
    merged: list[Part] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + part
        else:
            merged.append(part)
    return merged


def compile_template(node: Any, where: str = "statement") -> Any:
    """The template with every string parsed once (strings without placeholders stay str)."""
    if isinstance(node, dict):
        return {key: compile_template(value, f"{where}.{key}") for key, value in node.items()}
    if isinstance(node, list):
        return [compile_template(value, f"{where}[{i}]") for i, value in enumerate(node)]
    if isinstance(node, str):
        parts = parse_string(node, where)
        if all(isinstance(p, str) for p in parts):
            return "".join(p for p in parts if isinstance(p, str))
        return tuple(parts)
    return node


def columns_of(node: Any) -> set[str]:
    """Every column a compiled template reads."""
    if isinstance(node, dict):
        return set().union(*(columns_of(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(columns_of(v) for v in node)) if node else set()
    if isinstance(node, tuple):
        return {p.column for p in node if isinstance(p, Placeholder)}
    return set()


def lookup(row: dict[str, Any], column: str) -> Any:
    """A column's value; `a.b` reads nested JSON when there is no column named `a.b`."""
    if column in row:
        return row[column]
    if "." in column:
        value: Any = row
        for step in column.split("."):
            if not isinstance(value, dict) or step not in value:
                break
            value = value[step]
        else:
            return value
    raise MappingError(f"missing column {column!r}")


def render(node: Any, row: dict[str, Any], default_zone: tzinfo = UTC) -> Any:
    """The template filled from one row (pure); `_OMIT` where an empty column empties a
    field, and containers left empty by that are omitted as well."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            rendered = render(value, row, default_zone)
            if rendered is not _OMIT:
                out[key] = rendered
        return out if out or not node else _OMIT
    if isinstance(node, list):
        items = [render(v, row, default_zone) for v in node]
        kept = [v for v in items if v is not _OMIT]
        return kept if kept or not node else _OMIT
    if isinstance(node, tuple):
        values: list[Any] = []
        for part in node:
            if isinstance(part, str):
                values.append(part)
                continue
            raw = lookup(row, part.column)
            if is_empty(raw):
                return _OMIT
            try:
                values.append(convert(raw, part.kind, default_zone))
            except ValueError as exc:
                raise MappingError(f"column {part.column!r}: {exc}") from None
        if len(values) == 1 and isinstance(node[0], Placeholder):
            return values[0]
        return "".join(to_text(v) for v in values)
    return node


# --- the mapping file ----------------------------------------------------------------------


@dataclass(frozen=True)
class MappingSpec:
    source: str
    record_id: Any  # compiled template, or None: hash of the row
    statements: list[Any]  # compiled templates
    zone: tzinfo
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    @property
    def columns(self) -> set[str]:
        found = columns_of(self.statements)
        return found | (columns_of(self.record_id) if self.record_id is not None else set())


@cache
def _schema_validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(orjson.loads(SCHEMA.read_bytes()))


def load_mapping(data: Any) -> MappingSpec:
    """Check a mapping against its schema and compile it; MappingFileError says what is wrong."""
    import jsonschema

    error = jsonschema.exceptions.best_match(_schema_validator().iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise MappingFileError(f"mapping {where}: {error.message}")
    templates = data["statements"] if "statements" in data else [data["statement"]]
    compiled = [
        compile_template(t, "statement" if "statement" in data else f"statements[{i}]")
        for i, t in enumerate(templates)
    ]
    record_id = compile_template(data["id"], "id") if "id" in data else None
    try:
        default_zone = zone(data.get("timezone", "UTC"))
    except ValueError as exc:
        raise MappingFileError(f"mapping timezone: {exc}") from None
    return MappingSpec(
        source=data["source"],
        record_id=record_id,
        statements=compiled,
        zone=default_zone,
        delimiter=data.get("delimiter", ","),
        encoding=data.get("encoding", "utf-8-sig"),
    )


def read_mapping(path: Path) -> MappingSpec:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise MappingFileError(f"no mapping file {path}") from None
    except orjson.JSONDecodeError as exc:
        raise MappingFileError(f"{path} is not JSON: {exc}") from None
    return load_mapping(data)


def with_scaled(statement: dict[str, Any]) -> None:
    """A score with raw and max but no scaled gets scaled as the fraction of the maximum, as
    every connector's scores have it (competency rules read `scaled`); a template's own
    scaled stays, and the validator refuses one outside [-1, 1] (a percentage, say)."""
    result = statement.get("result")
    score = result.get("score") if isinstance(result, dict) else None
    if not isinstance(score, dict) or "scaled" in score:
        return
    raw, maximum = score.get("raw"), score.get("max")
    if (
        isinstance(raw, int | float)
        and not isinstance(raw, bool)
        and isinstance(maximum, int | float)
        and not isinstance(maximum, bool)
        and maximum > 0
    ):
        score["scaled"] = fraction(raw, maximum)


def mapping_for(spec: MappingSpec) -> Callable[[Any], list[dict[str, Any]]]:
    """The pure mapping: one row (a dict of columns) -> its statements, validated."""

    def mapping(row: Any) -> list[dict[str, Any]]:
        if isinstance(row, BadRecord):
            raise MappingError(row.reason)
        if not isinstance(row, dict):
            raise MappingError("a record must be an object of columns")
        if spec.record_id is None:
            record_id = hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS)).hexdigest()
        else:
            rendered = render(spec.record_id, row, spec.zone)
            if rendered is _OMIT or rendered == "":
                raise MappingError('the record id is empty (see the mapping\'s "id")')
            record_id = to_text(rendered)
        statements = []
        for index, template in enumerate(spec.statements):
            statement = render(template, row, spec.zone)
            if statement is _OMIT:
                raise MappingError("every field of the statement is empty")
            statement = {"id": statement_id(spec.source, record_id, index), **statement}
            with_scaled(statement)
            try:
                validate_statement(statement, "1.0.3")
            except XAPIError as exc:
                field = f" ({exc.field})" if exc.field else ""
                raise MappingError(f"invalid statement{field}: {exc.message}") from None
            statements.append(statement)
        return statements

    return mapping


# --- readers -------------------------------------------------------------------------------


def canonical(header: str) -> str:
    """A header as compared: case, spaces, underscores and a byte order mark do not count."""
    return re.sub(r"[\s_\-]", "", header.replace("\ufeff", "")).lower()


def match_columns(headers: list[str], wanted: set[str]) -> tuple[dict[str, str], list[str]]:
    """Which header each wanted column is read from (exactly, else ignoring case, spaces and
    underscores) and the wanted columns no header matches."""
    exact = {h.strip().replace("\ufeff", ""): h for h in headers}
    loose: dict[str, str] = {}
    for header in headers:
        loose.setdefault(canonical(header), header)
    found: dict[str, str] = {}
    missing: list[str] = []
    for column in sorted(wanted):
        matched = exact.get(column) or loose.get(canonical(column))
        if matched is None:
            missing.append(column)
        else:
            found[column] = matched
    return found, missing


def describe_missing(name: str, missing: list[str], headers: list[str]) -> str:
    hints = []
    for column in missing:
        close = difflib.get_close_matches(column, headers, n=1, cutoff=0.6)
        hints.append(f"{column!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"{name}: no column {', '.join(hints)}; its header has " + ", ".join(
        repr(h) for h in headers
    )


class CSVReader:
    """A CSV file with a header; the checkpoint is the number of records read after it."""

    def __init__(self, path: Path, name: str, spec: MappingSpec) -> None:
        self.path = path
        self.name = name
        self.spec = spec
        with self._open() as handle:
            self.headers = next(csv.reader(handle, delimiter=spec.delimiter), [])
        if not self.headers:
            raise MappingFileError(f"{path.name} is empty: a CSV file needs a header")
        # wanted columns that only exist as nested JSON paths cannot be in a CSV header
        self.columns, missing = match_columns(self.headers, spec.columns)
        if missing:
            raise MappingFileError(describe_missing(path.name, missing, self.headers))

    def _open(self) -> Any:
        return open(self.path, encoding=self.spec.encoding, newline="")

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        skip = int(after) if after else 0
        index = {header: i for i, header in reversed(list(enumerate(self.headers)))}
        width = len(self.headers)
        with self._open() as handle:
            rows = csv.reader(handle, delimiter=self.spec.delimiter)
            try:
                next(rows, None)
                number = 0
                for cells in rows:
                    number += 1
                    if number <= skip:
                        continue
                    label = f"{self.path.name} line {rows.line_num}"
                    if not cells or all(not c.strip() for c in cells):
                        continue  # blank line: nothing to map, nothing to report
                    data: Any
                    if len(cells) > width and any(c.strip() for c in cells[width:]):
                        data = BadRecord(
                            f"{len(cells)} fields where the header has {width} "
                            "(an unquoted delimiter?)"
                        )
                    else:
                        # every column (the default record id hashes the whole row), and
                        # each template column under its own name when the header's
                        # spelling differs in case or spacing; a short row lacks the rest
                        data = {h.strip(): c for h, c in zip(self.headers, cells, strict=False)}
                        for column, header in self.columns.items():
                            if index[header] < len(cells):
                                data[column] = cells[index[header]]
                            else:
                                data.pop(column, None)
                    yield SourceRecord(str(number), data, label)
            except (csv.Error, UnicodeDecodeError) as exc:
                # the rest of the file cannot be split into records: report it once
                yield SourceRecord(
                    str(number),
                    BadRecord(f"unreadable from here on: {exc}"),
                    f"{self.path.name} line {rows.line_num}",
                )

    def size(self) -> int | None:
        with self._open() as handle:
            return max(sum(1 for _ in csv.reader(handle, delimiter=self.spec.delimiter)) - 1, 0)


class JSONLinesReader(LinesReader):
    """One JSON object per line: the shared lines reader, each line parsed here."""

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        for record in super().read(after):
            data: Any
            try:
                data = orjson.loads(record.data)
            except orjson.JSONDecodeError as exc:
                data = BadRecord(f"not JSON: {exc}")
            else:
                if not isinstance(data, dict):
                    data = BadRecord("a line must hold one JSON object")
            yield SourceRecord(record.position, data, record.label)


# --- command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mapping", required=True, help="mapping JSON (column -> statement)")
    parser.add_argument("--input", required=True, help="the CSV or JSON lines file")


def build(args: argparse.Namespace) -> tuple[CSVReader | JSONLinesReader, Any]:
    path = Path(args.input)
    if not path.is_file():
        raise SystemExit(f"error: no file {path}")
    kind = getattr(args, "source", None)
    if kind not in ("csv", "jsonl"):
        kind = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"
    try:
        spec = read_mapping(Path(args.mapping))
        name = f"{spec.source}:{path.name}"  # the checkpoint is per file
        reader: CSVReader | JSONLinesReader = (
            CSVReader(path, name, spec) if kind == "csv" else JSONLinesReader(path, name)
        )
    except MappingFileError as exc:
        raise SystemExit(f"error: {exc}") from None
    return reader, mapping_for(spec)
