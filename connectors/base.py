"""The shape every connector shares: a reader with a checkpoint, a pure mapping, a sink.

    reader (source records, resumable) -> mapping (record -> statements, pure) -> sink

A bad record never stops a run: it is refused (reported with its position and reason) and
the run goes on; a record no mapping covers is counted unmapped, one a policy leaves out
excluded, and neither is an error. Statement ids are deterministic (UUID v5 of source system and record id), so
running a connector twice over the same input stores nothing twice.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

# All connector statement ids live under this namespace (uuid5 of "lrs connectors").
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://w3id.org/lrs/connectors")


def statement_id(source: str, record_id: str, index: int = 0) -> str:
    """The id of the `index`-th statement a source record maps to: the same every run."""
    return str(uuid.uuid5(NAMESPACE, f"{source}|{record_id}|{index}"))


def fraction(raw: float, maximum: float) -> float:
    """`result.score.scaled` for every connector: the share of the maximum (7.5 of 10 ->
    0.75), what xAPI consumers and the competency rules read; 0 when the maximum is 0, and kept
    within xAPI's [-1, 1]."""
    if maximum == 0:
        return 0.0
    return max(-1.0, min(1.0, raw / maximum))


class MappingError(Exception):
    """A record the mapping cannot turn into statements: refused, reported, the run goes on
    (and ends with exit status 3, because the source holds something this tool got wrong or
    could not read)."""


class Unmapped(MappingError):
    """A record of a kind no mapping covers (a Moodle event the plugin never sends): counted
    per kind and reported, never an error: most sources log far more than learning."""


class Excluded(MappingError):
    """A record left out on purpose by a policy the operator chose (a deleted user's event, a
    row done by someone logged in as the learner): counted, reported, never an error."""


@dataclass(frozen=True)
class SourceRecord:
    position: str  # where the reader resumes after this record (a checkpoint value)
    data: Any
    label: str = ""  # how to name the record in a report (line 12, log id 4711, ...)
    group: str = ""  # what kind of record it is, for the per-kind report (a Moodle event name)


class Reader(Protocol):
    """A source, readable from a checkpoint on."""

    name: str  # the source system, part of every statement id

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        """Records after the checkpoint `after` (all when None), in source order."""
        ...

    def size(self) -> int | None:
        """How many records there are in all, when cheap to know (for an ETA)."""
        ...


Mapping = Callable[[Any], list[dict[str, Any]]]


class Sink(Protocol):
    """Where statements go. `rejected` collects the statements the destination refused (label:
    the statement id) and `already` the ids it held already (a repeat, stored once): both are
    appended to by `send`, so a run can tell stored from already stored from refused."""

    rejected: list[Skipped]
    already: list[str]

    def send(self, statements: list[dict[str, Any]]) -> None:
        """Deliver durably; raise on failure (the run stops before moving the checkpoint)."""
        ...

    def close(self) -> None: ...


@dataclass
class Skipped:
    label: str
    reason: str
    group: str = ""


@dataclass
class Tally:
    """One kind of record's outcome: records read, statements stored (new), already stored,
    records unmapped or excluded by policy, and records or statements refused."""

    read: int = 0
    stored: int = 0
    already: int = 0
    unmapped: int = 0
    excluded: int = 0
    refused: int = 0


@dataclass
class Summary:
    read: int = 0
    emitted: int = 0  # statements delivered: stored + already stored
    skipped: list[Skipped] = field(default_factory=list)  # refused records and statements
    unmapped: list[Skipped] = field(default_factory=list)
    excluded: list[Skipped] = field(default_factory=list)
    already: int = 0
    groups: dict[str, Tally] = field(default_factory=dict)
    checkpoint: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing refused: unmapped and excluded records are choices, not errors."""
        return not self.skipped

    @property
    def stored(self) -> int:
        return self.emitted - self.already

    def tally(self, group: str) -> Tally:
        return self.groups.setdefault(group or "(records)", Tally())

    def line(self) -> str:
        """The last line of every run, the same for every connector."""
        return (
            f"read {self.read:,}, stored {self.stored:,}, already stored {self.already:,}, "
            f"unmapped {len(self.unmapped):,}, refused {len(self.skipped):,}"
        )


class Checkpoints:
    """Positions per source, in a small JSON file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, source: str) -> str | None:
        try:
            value = json.loads(self.path.read_text()).get(source)
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return None if value is None else str(value)

    def set(self, source: str, position: str) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            data = {}
        data[source] = position
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, self.path)


def run(
    reader: Reader,
    mapping: Mapping,
    sink: Sink,
    *,
    checkpoints: Checkpoints | None = None,
    checkpoint_key: str | None = None,
    batch: int = 500,
    progress: Callable[[int], None] | None = None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Read, map, send in batches; move the checkpoint only after a batch is delivered.

    `summary`, when given, is filled in as the run goes, so that a caller whose run stops (the
    destination failing) still reports what was read and refused before.

    Every record ends in exactly one tally of its kind (`SourceRecord.group`): its statements
    stored or already stored, or the record unmapped, excluded or refused; a statement the sink
    refuses is counted refused under its record's kind and reported with the record's label.
    """
    key = checkpoint_key or reader.name
    after = checkpoints.get(key) if checkpoints else None
    summary = summary if summary is not None else Summary()
    summary.checkpoint = after
    pending: list[dict[str, Any]] = []
    origin: dict[str, tuple[str, str]] = {}  # statement id -> (record label, group)
    position: str | None = None

    def flush() -> None:
        if pending:
            refused_before, already_before = len(sink.rejected), len(sink.already)
            sink.send(list(pending))
            refused = sink.rejected[refused_before:]
            already = set(sink.already[already_before:])
            refused_ids = {item.label for item in refused}
            for item in refused:  # name the record, not only the statement, in the report
                label, group = origin.get(item.label, (item.label, ""))
                if label != item.label:
                    item.label = f"{label} (statement {item.label})"
                item.group = group
                summary.skipped.append(item)
                summary.tally(group).refused += 1
            for statement in pending:
                sid = statement_key(statement)
                if sid in refused_ids:
                    continue
                summary.emitted += 1
                group = origin.get(sid, ("", ""))[1]
                if sid in already:
                    summary.already += 1
                    summary.tally(group).already += 1
                else:
                    summary.tally(group).stored += 1
            pending.clear()
            origin.clear()
        if checkpoints is not None and position is not None:
            checkpoints.set(key, position)
            summary.checkpoint = position

    for record in reader.read(after):
        summary.read += 1
        label = record.label or record.position
        tally = summary.tally(record.group)
        tally.read += 1
        try:
            statements = mapping(record.data)
        except Unmapped as exc:
            summary.unmapped.append(Skipped(label, str(exc), record.group))
            tally.unmapped += 1
            statements = []
        except Excluded as exc:
            summary.excluded.append(Skipped(label, str(exc), record.group))
            tally.excluded += 1
            statements = []
        except MappingError as exc:
            summary.skipped.append(Skipped(label, str(exc), record.group))
            tally.refused += 1
            statements = []
        for statement in statements:
            if keep is None or keep(statement):
                pending.append(statement)
                origin[statement_key(statement)] = (label, record.group)
        position = record.position
        if progress is not None:
            progress(1)
        if len(pending) >= batch:
            flush()
    flush()
    return summary


def statement_key(statement: dict[str, Any]) -> str:
    """How a sink names a statement in `rejected` and `already`: its id."""
    return str(statement.get("id", "?"))


class LinesReader:
    """A file of lines (JSON lines, tracking logs); the checkpoint is the byte offset after
    the last line read. Yields each non-blank line as bytes; mappings parse it."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        offset = int(after) if after else 0
        if offset > self.path.stat().st_size:
            offset = 0  # the file was replaced by a shorter one: read it all again
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            number = 0
            for line in handle:
                offset += len(line)
                number += 1
                if line.strip():
                    suffix = " after the checkpoint" if after else ""
                    yield SourceRecord(str(offset), line, f"{self.path.name} line {number}{suffix}")

    def size(self) -> int | None:
        with open(self.path, "rb") as handle:
            return sum(1 for line in handle if line.strip())


def records_from(items: Iterable[tuple[str, Any, str]]) -> Iterator[SourceRecord]:
    for position, data, label in items:
        yield SourceRecord(position, data, label)
