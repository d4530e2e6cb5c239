"""xAPI statements as JSON lines (an export from another LRS, a platform's log): re-emit.

The reference connector: the smallest reader and mapping the shared machinery needs.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import orjson

from connectors.base import LinesReader, MappingError, statement_id

NAME = "xapi"
HELP = "xAPI statements, one JSON object per line"


def mapping_for(source: str) -> Any:
    def mapping(line: bytes) -> list[dict[str, Any]]:
        try:
            statement = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise MappingError(f"not JSON: {exc}") from None
        if not isinstance(statement, dict):
            raise MappingError("a line must hold one statement object")
        if "id" not in statement:
            digest = hashlib.sha256(
                orjson.dumps(statement, option=orjson.OPT_SORT_KEYS)
            ).hexdigest()
            statement = {"id": statement_id(source, digest), **statement}
        return [statement]

    return mapping


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a .jsonl file of statements")


def build(args: argparse.Namespace) -> tuple[LinesReader, Any]:
    path = Path(args.input)
    if not path.is_file():
        raise SystemExit(f"error: no file {path}")
    return LinesReader(path, f"{NAME}:{path.name}"), mapping_for(f"{NAME}:{path.name}")
