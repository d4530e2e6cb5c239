"""Where Moodle log rows come from: the Moodle database (MariaDB/MySQL or PostgreSQL) or a CSV
export of `logstore_standard_log`; and the lookups the mapping needs, answered by SQL.

The checkpoint is the log row id. Moodle assigns ids when a row is inserted, but rows become
visible when their transaction commits, which on a live site is not always in id order: a row
with a lower id can appear after a higher one was read. So a resumed read also reads again the
rows from the last `overlap` seconds before the checkpoint (by `timecreated`); statement ids are
deterministic, so what was stored already is counted "already stored", never stored twice.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from connectors.base import MappingError, SourceRecord

LOG_TABLE = "logstore_standard_log"
_NAME = re.compile(r"[A-Za-z0-9_]+")
# logstore_standard_log columns holding integers (a CSV export gives them as text).
INTEGER_COLUMNS = (
    "id", "objectid", "contextid", "contextlevel", "contextinstanceid", "userid", "courseid",
    "relateduserid", "anonymous", "timecreated", "realuserid", "edulevel",
)
PAGE = 1000
# Seconds before the checkpoint's row re-read on resuming (rows that committed out of id order).
OVERLAP = 600


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """Database values as JSON-ready Python values (NUMERIC columns arrive as Decimal)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("utf-8", "replace")
        out[key] = value
    return out


def connect(dsn: str) -> tuple[Any, str]:
    """A DB-API connection (autocommit: the connector only reads) and its dialect."""
    scheme = urlsplit(dsn).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        import psycopg
        from psycopg.rows import dict_row

        return psycopg.connect(dsn, autocommit=True, row_factory=dict_row), "postgresql"
    if scheme in ("mysql", "mariadb", "mysql+pymysql"):
        import pymysql

        parts = urlsplit(dsn)
        connection = pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or None,
            charset="utf8mb4",
            autocommit=True,
            cursorclass=pymysql.cursors.DictCursor,
        )
        return connection, "mysql"
    raise ValueError(f"unsupported DSN scheme {scheme!r}: use mysql://... or postgresql://...")


class SQLLookup:
    """The plugin's repository over the Moodle database: `SELECT * FROM prefix+table WHERE ...`.

    Small tables read again and again (the site course, modules) are cached per run.
    """

    def __init__(self, connection: Any, prefix: str = "mdl_") -> None:
        self.connection = connection
        self.prefix = prefix
        self.cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def records(self, table: str, where: dict[str, Any], sort: str = "") -> list[dict[str, Any]]:
        names = [table, *where, *re.findall(r"[A-Za-z0-9_]+", sort)]
        if not all(_NAME.fullmatch(name) for name in names):
            raise MappingError(f"refusing an odd table or column name in {names}")
        key = (table, tuple(sorted((k, str(v)) for k, v in where.items())), sort)
        if key in self.cache:
            return self.cache[key]
        order = ""
        if sort:
            terms = []
            for part in sort.split(","):
                column, _, direction = part.strip().partition(" ")
                terms.append(f"{column} {'DESC' if direction.upper() == 'DESC' else 'ASC'}")
            order = " ORDER BY " + ", ".join(terms)
        condition = " AND ".join(f"{column} = %s" for column in where) or "1 = 1"
        sql = f"SELECT * FROM {self.prefix}{table} WHERE {condition}{order}"
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(sql, [None if v is None else v for v in where.values()])
                rows = [_plain(row) for row in cursor.fetchall()]
        except Exception as exc:  # driver errors differ; a missing table is the usual one
            if type(exc).__module__.split(".")[0] not in ("pymysql", "psycopg"):
                raise
            raise MappingError(f"cannot read {self.prefix}{table}: {exc}") from None
        if len(self.cache) > 50_000:
            self.cache.clear()
        self.cache[key] = rows
        return rows


class DatabaseReader:
    """`logstore_standard_log` rows in id order, a page at a time: those after the checkpoint,
    plus those before it written within `overlap` seconds of the checkpoint's row (rows that
    may have committed late), and only rows at or after `since` (epoch seconds), in SQL."""

    def __init__(
        self,
        connection: Any,
        name: str,
        prefix: str = "mdl_",
        *,
        since: int | None = None,
        overlap: int = OVERLAP,
    ) -> None:
        self.connection = connection
        self.name = name
        self.prefix = prefix
        self.since = since
        self.overlap = overlap

    def _rows(self, condition: str, values: list[Any]) -> Iterator[dict[str, Any]]:
        where = condition + (" AND timecreated >= %s" if self.since is not None else "")
        extra = [self.since] if self.since is not None else []
        last = -1
        while True:
            sql = (
                f"SELECT * FROM {self.prefix}{LOG_TABLE} WHERE id > %s AND {where} "
                f"ORDER BY id LIMIT {PAGE}"
            )
            with self.connection.cursor() as cursor:
                cursor.execute(sql, [last, *values, *extra])
                rows = [_plain(row) for row in cursor.fetchall()]
            for row in rows:
                last = int(row["id"])
                yield row
            if len(rows) < PAGE:
                return

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        checkpoint = int(after) if after else 0
        if checkpoint and self.overlap > 0:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT timecreated FROM {self.prefix}{LOG_TABLE} WHERE id <= %s "
                    "ORDER BY id DESC LIMIT 1",
                    [checkpoint],
                )
                found = cursor.fetchone()
            if found:
                start = int(next(iter(found.values()))) - self.overlap
                # Positions stay at the checkpoint: re-reading never moves it back.
                for row in self._rows("id <= %s AND timecreated >= %s", [checkpoint, start]):
                    yield _record(row, str(checkpoint), " (re-read: may have committed late)")
        for row in self._rows("id > %s", [checkpoint]):
            yield _record(row, str(row["id"]))

    def size(self) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) AS n FROM {self.prefix}{LOG_TABLE}")
            row = cursor.fetchone()
        return int(next(iter(row.values()))) if row else None


def _record(row: dict[str, Any], position: str, note: str = "") -> SourceRecord:
    return SourceRecord(position, row, f"log id {row['id']}{note}", event_group(row))


def event_group(row: dict[str, Any]) -> str:
    """The per-kind report's kind for a log row: its event name."""
    name = row.get("eventname")
    return str(name) if name else "(no event name)"


class CSVReader:
    """A CSV export of `logstore_standard_log` (a header row of column names).

    The checkpoint is the row id, as for the database: rows with id <= checkpoint are skipped,
    so an export made later (with more rows) resumes where the last run stopped.
    """

    def __init__(self, path: Path, name: str, *, since: int | None = None) -> None:
        self.path = path
        self.name = name
        self.since = since

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        last = int(after) if after else None
        with open(self.path, newline="", encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                event: dict[str, Any] = {k: (None if v in ("", "NULL") else v) for k, v in row.items()}
                label = f"{self.path.name} line {number}"
                for column in INTEGER_COLUMNS:
                    value = event.get(column)
                    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
                        event[column] = int(value)
                rid = event.get("id")
                if not isinstance(rid, int):
                    # Still passed on: the mapping reports it with this line's position.
                    bad = {**event, "_bad": "no numeric id"}
                    yield SourceRecord(after or "0", bad, label, event_group(event))
                    continue
                if last is not None and rid <= last:
                    continue
                if self.since is not None and _seconds(event.get("timecreated")) < self.since:
                    continue
                yield SourceRecord(str(rid), event, f"{label} (log id {rid})", event_group(event))

    def size(self) -> int | None:
        with open(self.path, newline="", encoding="utf-8-sig") as handle:
            return max(sum(1 for _ in handle) - 1, 0)


def _seconds(value: Any) -> int:
    """A CSV row's timecreated; a row without a readable one is kept (the mapping refuses it)."""
    return value if isinstance(value, int) else 2**62


class RowOnlyLookup:
    """What a CSV export alone can answer: a user or course is known by its id only.

    Actors then carry no name and courses the plugin's fallback name ("A Moodle course");
    anything else (modules, quiz attempts, grades...) needs the database and is refused.
    """

    def records(self, table: str, where: dict[str, Any], sort: str = "") -> list[dict[str, Any]]:
        if table in ("user", "course") and set(where) == {"id"} and where["id"] is not None:
            return [{"id": where["id"]}]
        raise MappingError(
            f"needs the Moodle table {table!r}, which a CSV export of the log does not hold: "
            "read from the database (--dsn) to map this event"
        )
