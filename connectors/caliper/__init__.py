"""Caliper events (Canvas live events, Open edX, any Caliper 1.1/1.2 sensor) -> xAPI.

The file reader takes JSON lines, each an envelope `{sensor, sendTime, dataVersion, data}` or a
bare event (checkpoint = byte offset, the shared JSON-lines reader). The HTTP endpoint that
sensors post to live is `lrs.api.caliper`; both use `connectors.caliper.mapping`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson

from connectors.base import LinesReader, MappingError
from connectors.caliper.mapping import events_of, map_event

NAME = "caliper"
HELP = "Caliper 1.1/1.2 envelopes or events, one JSON object per line (Canvas live events)"


def mapping_for(default_sensor: str) -> Any:
    """A line -> statements; a bare event (no envelope) is credited to `default_sensor`.

    An envelope holding several events maps as a whole: one bad event skips the line, with
    the reason, so a line is either stored or reported, never half."""

    def mapping(line: bytes) -> list[dict[str, Any]]:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MappingError(f"not JSON: {exc}") from None
        sensor, events = events_of(value)
        statements: list[dict[str, Any]] = []
        for event in events:
            statements.extend(map_event(event, sensor or default_sensor))
        return statements

    return mapping


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a .jsonl file of Caliper envelopes or events")
    parser.add_argument(
        "--sensor",
        default="",
        help="the sensor URL for lines that are bare events (envelopes name their own), "
        "e.g. https://canvas.example.edu; also the account homePage for URN actor ids",
    )


def build(args: argparse.Namespace) -> tuple[LinesReader, Any]:
    path = Path(args.input)
    if not path.is_file():
        raise SystemExit(f"error: no file {path}")
    return LinesReader(path, f"{NAME}:{path.name}"), mapping_for(args.sensor)
