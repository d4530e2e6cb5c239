"""Moodle connector: `logstore_standard_log` from a Moodle database or a CSV export -> xAPI,
mapped the way the Moodle xAPI logstore plugin maps live events (see mapping.py), so history
replayed from the log looks like what the plugin would have sent at the time, except where the
plugin's data is wrong (another learner's attempt, the current grade for every attempt, scores
in [-1, 1], English-only true/false, one name order): `--plugin-compatible` brings those back.

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
from connectors.moodle.mapping import (
    DELETED_USERS,
    EVENTS,
    LOGGED_IN_AS,
    LOGGED_IN_AS_CHOICES,
    Config,
    Lookup,
    map_event,
)
from connectors.moodle.readers import (
    OVERLAP,
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
    parser.add_argument(
        "--send-username", action="store_true",
        help="actors by username, as the plugin's 'send username' setting (set it as the live "
        "plugin is set, so that replayed and live statements name one actor per person)",
    )
    parser.add_argument(
        "--send-mbox", action="store_true",
        help="actors by email (mbox), as the plugin's 'send mbox' setting",
    )
    parser.add_argument(
        "--name-format",
        help="full-name template, e.g. 'lastname firstname' (default: the site's own "
        "fullnamedisplay; 'language' means its language's order)",
    )
    parser.add_argument(
        "--deleted-users", choices=DELETED_USERS, default="skip",
        help="skip (default): leave deleted users' events out; erase: keep them with the "
        "person reduced to the bare user id (no name, username or email)",
    )
    parser.add_argument(
        "--logged-in-as", choices=LOGGED_IN_AS_CHOICES, default="skip",
        help="rows done by someone 'logged in as' the user: skip (default) or mark (kept, "
        f"the real user in the context extension {LOGGED_IN_AS})",
    )
    parser.add_argument(
        "--overlap", type=int, default=OVERLAP, metavar="SECONDS",
        help=f"on resuming, re-read the rows of the last SECONDS before the checkpoint (default "
        f"{OVERLAP}): rows that committed out of id order are not missed",
    )
    parser.add_argument(
        "--plugin-compatible", action="store_true",
        help="match the xAPI logstore plugin 5.x byte for byte where it is wrong: "
        "attempt_viewed names the log id as attempt, quiz results from the current grade, "
        "score.scaled in [-1, 1], names as firstname lastname",
    )


def mapping_for(lookup: Lookup, config: Config) -> Callable[[Any], list[dict[str, Any]]]:
    def mapping(row: Any) -> list[dict[str, Any]]:
        if not isinstance(row, dict):
            raise MappingError("a log row must be a mapping of columns")
        if row.get("_bad"):
            raise MappingError(str(row["_bad"]))
        return map_event(row, lookup, config)

    return mapping


def config_from(args: argparse.Namespace, app_url: str, **more: Any) -> Config:
    """The mapping's configuration from `lrs connect moodle`'s options."""
    if args.overlap < 0:
        raise SystemExit("error: --overlap is a number of seconds, 0 or more")
    settings: dict[str, Any] = {
        "app_url": app_url,
        "send_username": args.send_username,
        "send_mbox": args.send_mbox,
        "name_format": args.name_format,
        "deleted_users": args.deleted_users,
        "logged_in_as": args.logged_in_as,
        "plugin_compatible": args.plugin_compatible,
    }
    return Config(**{**settings, **more})


def _since(args: argparse.Namespace) -> int | None:
    moment = getattr(args, "since_time", None)
    return None if moment is None else int(moment.timestamp())


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    app_url = str(args.app_url).rstrip("/")
    name = f"{NAME}:{app_url}"
    if args.csv:
        path = Path(args.csv)
        if not path.is_file():
            raise SystemExit(f"error: no file {path}")
        # Without the user table there are no names to send (the account id stays).
        config = config_from(args, app_url, send_name=False)
        return CSVReader(path, name, since=_since(args)), mapping_for(RowOnlyLookup(), config)
    try:
        connection, _ = connect(args.dsn)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    except Exception as exc:  # the driver's own connection errors
        raise SystemExit(f"error: cannot connect to {args.dsn}: {exc}") from None
    config = config_from(args, app_url)
    return (
        DatabaseReader(connection, name, args.prefix, since=_since(args), overlap=args.overlap),
        mapping_for(SQLLookup(connection, args.prefix), config),
    )
