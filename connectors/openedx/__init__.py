"""Open edX tracking logs -> xAPI, statement for statement as event-routing-backends maps them.

The reader is the shared JSON-lines reader (checkpoint = byte offset); a line may carry the
tracking logger's prefix. The LMS look-ups the plugin makes (anonymous learner ids, course
names) come from optional JSON tables, so that, given the same tables, our statements and
their ids equal the plugin's and a log replayed next to a live plugin stores nothing twice.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from connectors.base import LinesReader, MappingError, SourceRecord
from connectors.openedx.mapping import Deployment, map_event, parse_log_line

NAME = "openedx"
HELP = "Open edX tracking log (one JSON event per line), mapped as event-routing-backends does"


def mapping_for(lms_url: str | None, actors: dict[str, str], courses: dict[str, str]) -> Any:
    """The record mapping: a log line -> statements. Without --lms-url the LMS is the event's
    own `host` (https); an event without one is skipped with the reason."""
    fixed = Deployment.with_names(lms_url, actors, courses) if lms_url else None

    def mapping(line: bytes) -> list[dict[str, Any]]:
        event = parse_log_line(line)
        deployment = fixed
        if deployment is None:
            context = event.get("context")
            host = event.get("host") or (context.get("host") if isinstance(context, dict) else None)
            if not host:
                raise MappingError("the event names no LMS host: give --lms-url")
            deployment = Deployment.with_names(f"https://{host}", actors, courses)
        return map_event(event, deployment)

    return mapping


class TrackingLogReader(LinesReader):
    """The shared lines reader, each line's kind its event name, so that the run's report
    counts stored, unmapped and refused events per event name (the line is parsed once more
    for that, which costs little beside the mapping)."""

    def read(self, after: str | None) -> Iterator[SourceRecord]:
        for record in super().read(after):
            yield replace(record, group=event_name(record.data))


def event_name(line: bytes) -> str:
    try:
        name = parse_log_line(line).get("name")
    except MappingError:
        return "(unreadable line)"
    return str(name) if name else "(no event name)"


def _table(path: str | None, option: str) -> dict[str, str]:
    if not path:
        return {}
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"error: {option} {path}: {exc}") from None
    if not isinstance(table, dict):
        raise SystemExit(f"error: {option} {path} must hold one JSON object")
    return {str(k): str(v) for k, v in table.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a tracking log file (tracking.log)")
    parser.add_argument(
        "--lms-url",
        help="the LMS root URL (LMS_ROOT_URL), e.g. https://lms.example.org; "
        "default: https:// + each event's host",
    )
    parser.add_argument(
        "--actors",
        help="JSON object: Open edX user id or username -> xAPI account name (the learner's "
        "anonymous external id, as the plugin uses); default: the user id or username",
    )
    parser.add_argument("--courses", help="JSON object: course id -> course display name")


def build(args: argparse.Namespace) -> tuple[LinesReader, Any]:
    path = Path(args.input)
    if not path.is_file():
        raise SystemExit(f"error: no file {path}")
    lms_url = args.lms_url.rstrip("/") if args.lms_url else None
    mapping = mapping_for(
        lms_url, _table(args.actors, "--actors"), _table(args.courses, "--courses")
    )
    return TrackingLogReader(path, f"{NAME}:{path.name}"), mapping
