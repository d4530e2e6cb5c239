"""The embedded runner: processors read the store's own log, inside `lrs serve`.

Each processor keeps its offset in the store. A batch is applied, then the offset moves;
a crash between the two replays the batch, which the idempotent apply makes harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import orjson

from consumers.projection import Reducer, changes_for
from lrs.storage.base import Store

log = logging.getLogger("lrs.processors")


def offset_name(reducer: Reducer) -> str:
    return f"processor:{reducer.name}"


def process_once(store: Store, reducer: Reducer, batch: int = 1000) -> int:
    """Apply the next batch of the log to one projection; how many statements it read."""
    records = store.read_log(store.get_offset(offset_name(reducer)), batch)
    if not records:
        return 0
    statements = [orjson.loads(record.value) for record in records]
    store.apply_changes(reducer, changes_for(reducer, statements))
    store.set_offset(offset_name(reducer), records[-1].offset)
    return len(records)


def catch_up(store: Store, reducers: Sequence[Reducer], batch: int = 1000) -> int:
    """Process until every projection has read the whole log (tests, replays, backfills)."""
    total = 0
    for reducer in reducers:
        while read := process_once(store, reducer, batch):
            total += read
    return total


def rebuild(
    store: Store,
    reducer: Reducer,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Replay the whole log from offset zero into empty projection storage.

    Safe beside a live runner: applying is idempotent, and offsets only move forward.
    """
    store.clear_projection(reducer.name)
    position, total = 0, 0
    while records := store.read_log(position, batch):
        statements = [orjson.loads(record.value) for record in records]
        store.apply_changes(reducer, changes_for(reducer, statements))
        position = records[-1].offset
        total += len(records)
        if progress is not None:
            progress(len(records))
    store.set_offset(offset_name(reducer), position)
    return total


class LocalRunner:
    """A background thread running every processor over the embedded log."""

    def __init__(
        self, store: Store, reducers: Sequence[Reducer], *, batch: int = 1000, idle: float = 0.02
    ) -> None:
        self.store = store
        self.reducers = list(reducers)
        self.batch = batch
        self.idle = idle
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lrs-processors", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New statements were stored: look now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                busy = sum(process_once(self.store, r, self.batch) for r in self.reducers)
                failures = 0
            except Exception:
                failures += 1
                log.exception("processor batch failed; retrying (attempt %d)", failures)
                busy = 0
                self._stop.wait(min(0.1 * 2**failures, 5.0))
            if not busy:
                self._wake.wait(self.idle)
                self._wake.clear()
