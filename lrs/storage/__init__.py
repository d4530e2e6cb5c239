"""The one module that picks adapters for a store URL: `open_store(url)`.

The ports are in lrs.ports, the adapters in lrs.adapters (one package per backend, one
module per capability), the decisions in lrs.ops. `open_store` returns one object that
exposes every port of the chosen backend (they share its connections and transactions).
"""

from __future__ import annotations

import logging
import time

from lrs.domain.errors import StoreUnavailable
from lrs.ports import Store

log = logging.getLogger("lrs.storage")


def open_store_waiting(url: str, patience: float = 300.0) -> Store:
    """`open_store`, waiting for a database that is not up yet (a service starting first).

    Processes of a scaled-out deployment start in any order; crashing because the database
    is a few seconds late would only make the orchestrator restart them.
    """
    deadline = time.monotonic() + patience
    delay = 0.5
    while True:
        try:
            return open_store(url)
        except StoreUnavailable as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("the store is not reachable yet (%s); retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def open_store(url: str, *, read_only: bool = False) -> Store:
    """`sqlite:///path/to/file.db` (embedded default) or `mongodb://...` (scaled out).

    `read_only` opens SQLite files that cannot be written (a read-only data directory) for
    reading; a MongoDB store's rights are the server's business and it ignores the flag."""
    if url.startswith("sqlite://"):
        from lrs.adapters.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite://"), read_only=read_only)
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from lrs.adapters.mongodb import MongoStore

        return MongoStore(url)
    raise ValueError(f"unknown store URL {url!r}: use sqlite:///path or mongodb://host/db")


__all__ = ["Store", "StoreUnavailable", "open_store", "open_store_waiting"]
