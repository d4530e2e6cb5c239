"""Moodle tables on MariaDB and PostgreSQL from Moodle's own XMLDB definitions.

data/moodle_tables.xml holds the definitions (its header cites the install.xml files); this
turns them into CREATE TABLE statements the way Moodle's database drivers do (int -> BIGINT,
char -> VARCHAR, number -> NUMERIC(length, decimals), text -> LONGTEXT on MySQL and TEXT on
PostgreSQL, float -> DOUBLE PRECISION; NOT NULL and DEFAULT as declared), so that the connector
meets the column types a real site has (NUMERIC sumgrades arriving as Decimal, for one).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFINITIONS = Path(__file__).with_name("data") / "moodle_tables.xml"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    length: str
    decimals: str
    notnull: bool
    default: str | None
    sequence: bool

    def ddl(self, dialect: str) -> str:
        if self.sequence:
            return f"{self.name} " + (
                "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY" if dialect == "mysql"
                else "BIGSERIAL PRIMARY KEY"
            )
        kind = {
            "int": "BIGINT",
            "char": f"VARCHAR({self.length})",
            "number": f"NUMERIC({self.length}, {self.decimals or 0})",
            "float": "DOUBLE PRECISION",
            "text": "LONGTEXT" if dialect == "mysql" else "TEXT",
            "binary": "LONGBLOB" if dialect == "mysql" else "BYTEA",
        }[self.type]
        out = f"{self.name} {kind}"
        if self.default is not None and self.type not in ("text", "binary"):
            quoted = self.default if self.type in ("int", "number", "float") else (
                "'" + self.default.replace("'", "''") + "'"
            )
            out += f" DEFAULT {quoted}"
        if self.notnull:
            out += " NOT NULL"
        return out

    def blank(self) -> Any:
        """What a row leaves out of a NOT NULL column without a default: '' or 0."""
        return "" if self.type in ("char", "text") else 0


def tables() -> dict[str, list[Column]]:
    root = ET.parse(DEFINITIONS).getroot()
    found: dict[str, list[Column]] = {}
    for table in root.iter("TABLE"):
        found[table.attrib["NAME"]] = [
            Column(
                field.attrib["NAME"],
                field.attrib["TYPE"],
                field.attrib.get("LENGTH", ""),
                field.attrib.get("DECIMALS", ""),
                field.attrib.get("NOTNULL") == "true",
                field.attrib.get("DEFAULT"),
                field.attrib.get("SEQUENCE") == "true",
            )
            for field in table.iter("FIELD")
        ]
    return found


def create(cursor: Any, dialect: str, prefix: str) -> list[str]:
    """Create every defined table under `prefix`; the names created."""
    created = []
    for name, columns in tables().items():
        spec = ", ".join(column.ddl(dialect) for column in columns)
        cursor.execute(f"CREATE TABLE {prefix}{name} ({spec})")
        created.append(name)
    return created


def insert(cursor: Any, prefix: str, table: str, row: dict[str, Any]) -> None:
    """Insert `row`, NOT NULL columns it leaves out (and that have no default) blank; a column
    the table does not define is an error, as it is to Moodle."""
    columns = {column.name: column for column in tables()[table]}
    unknown = set(row) - set(columns)
    if unknown:
        raise KeyError(f"{table} has no column {sorted(unknown)}")
    values = dict(row)
    for column in columns.values():
        if column.name not in values and column.notnull and column.default is None:
            if not column.sequence:
                values[column.name] = column.blank()
    names = list(values)
    marks = ", ".join(["%s"] * len(names))
    cursor.execute(
        f"INSERT INTO {prefix}{table} ({', '.join(names)}) VALUES ({marks})",
        [values[n] for n in names],
    )
