"""Moodle connector: `logstore_standard_log` from a Moodle database or a CSV export -> xAPI,
mapped the way the Moodle xAPI logstore plugin maps live events (see mapping.py), so history
replayed from the log looks like what the plugin would have sent at the time.

    lrs connect moodle --dsn mysql://user:pass@host/moodle --app-url https://moodle.example.org
    lrs connect moodle --csv logstore_standard_log.csv --app-url https://moodle.example.org
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.base import MappingError
from connectors.moodle import (  # noqa: F401  (register the events)
    events_assign,
    events_bigbluebutton,
    events_book,
    events_core,
    events_facetoface,
    events_feedback,
    events_forum,
    events_glossary,
    events_lesson,
    events_messages,
    events_mod,
    events_polls,
    events_quiz,
    events_scorm,
    events_tools,
    events_wiki,
)
from connectors.moodle.mapping import EVENTS, Config, Lookup, map_event
from connectors.moodle.readers import (
    CSVReader,
    DatabaseReader,
    RowOnlyLookup,
    SQLLookup,
    connect,
)

__all__ = ["EVENTS", "Config", "Lookup", "map_event", "mapping_for"]

NAME = "moodle"
HELP = "Moodle logstore_standard_log (database via --dsn, or a CSV export) as the xAPI plugin maps it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--dsn", help="the Moodle database: mysql://user:pass@host/db or postgresql://..."
    )
    source.add_argument("--csv", help="a CSV export of logstore_standard_log (header row)")
    parser.add_argument(
        "--app-url", required=True,
        help="the Moodle site's wwwroot (actor homePage, activity ids, statement ids)",
    )
    parser.add_argument("--prefix", default="mdl_", help="Moodle table prefix (default mdl_)")


def mapping_for(lookup: Lookup, config: Config) -> Callable[[Any], list[dict[str, Any]]]:
    def mapping(row: Any) -> list[dict[str, Any]]:
        if not isinstance(row, dict):
            raise MappingError("a log row must be a mapping of columns")
        if row.get("_bad"):
            raise MappingError(str(row["_bad"]))
        return map_event(row, lookup, config)

    return mapping


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    app_url = str(args.app_url).rstrip("/")
    name = f"{NAME}:{app_url}"
    if args.csv:
        path = Path(args.csv)
        if not path.is_file():
            raise SystemExit(f"error: no file {path}")
        # Without the user table there are no names to send (the account id stays).
        config = Config(app_url=app_url, send_name=False)
        return CSVReader(path, name), mapping_for(RowOnlyLookup(), config)
    try:
        connection, _ = connect(args.dsn)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    except Exception as exc:  # the driver's own connection errors
        raise SystemExit(f"error: cannot connect to {args.dsn}: {exc}") from None
    config = Config(app_url=app_url)
    return (
        DatabaseReader(connection, name, args.prefix),
        mapping_for(SQLLookup(connection, args.prefix), config),
    )
