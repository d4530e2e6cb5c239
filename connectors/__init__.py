"""Source connectors, one module per source; each maps source records to xAPI statements.

A connector module has NAME, HELP, `add_arguments(parser)` and `build(args) -> (reader,
mapping)`; `lrs connect NAME` runs it with the shared machinery in `connectors.base`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {
    "xapi": "connectors.xapi_lines",
    "moodle": "connectors.moodle",
    "openedx": "connectors.openedx",
    "caliper": "connectors.caliper",
    "oneroster": "connectors.oneroster",
    "csv": "connectors.tabular",
    "jsonl": "connectors.tabular",
}


def available() -> dict[str, ModuleType]:
    """The connectors present in this installation, by source name."""
    found: dict[str, ModuleType] = {}
    for name, module in MODULES.items():
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        if all(hasattr(loaded, attribute) for attribute in REQUIRED):
            found[name] = loaded
    return found


# What `lrs connect` needs from a connector module.
REQUIRED = ("NAME", "HELP", "add_arguments", "build")
