"""The shape every connector shares: a reader with a checkpoint, a pure mapping, a sink.

    reader (source records, resumable) -> mapping (record -> statements, pure) -> sink

A bad record never stops a run: it is reported with its position and reason, counted and
skipped. Statement ids are deterministic (UUID v5 of source system and record id), so
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


class MappingError(Exception):
    """A record the mapping cannot turn into statements; the run skips and reports it."""


@dataclass(frozen=True)
class SourceRecord:
    position: str  # where the reader resumes after this record (a checkpoint value)
    data: Any
    label: str = ""  # how to name the record in a report (line 12, log id 4711, ...)


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
    def send(self, statements: list[dict[str, Any]]) -> None:
        """Deliver durably; raise on failure (the run stops before moving the checkpoint)."""
        ...

    def close(self) -> None: ...


@dataclass
class Skipped:
    label: str
    reason: str


@dataclass
class Summary:
    read: int = 0
    emitted: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    checkpoint: str | None = None

    @property
    def ok(self) -> bool:
        return not self.skipped


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
) -> Summary:
    """Read, map, send in batches; move the checkpoint only after a batch is delivered."""
    key = checkpoint_key or reader.name
    after = checkpoints.get(key) if checkpoints else None
    summary = Summary(checkpoint=after)
    pending: list[dict[str, Any]] = []
    position: str | None = None

    def flush() -> None:
        if pending:
            sink.send(list(pending))
            summary.emitted += len(pending)
            pending.clear()
        if checkpoints is not None and position is not None:
            checkpoints.set(key, position)
            summary.checkpoint = position

    for record in reader.read(after):
        summary.read += 1
        try:
            statements = mapping(record.data)
        except MappingError as exc:
            summary.skipped.append(Skipped(record.label or record.position, str(exc)))
            statements = []
        pending.extend(s for s in statements if keep is None or keep(s))
        position = record.position
        if progress is not None:
            progress(1)
        if len(pending) >= batch:
            flush()
    flush()
    return summary


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
