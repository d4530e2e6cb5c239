"""The embedded runner: processors read the store's own log, inside `lrs serve`.

Each processor keeps its offset in the store. A batch is applied, then the offset moves;
a crash between the two replays the batch, which the idempotent apply makes harmless.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from consumers.reducers.base import Change, Reducer, changes_of_records, key_parts
from consumers.reducers.enabled import reducers as enabled_reducers
from consumers.runtime.retention import RetentionLoop, RetentionSchedule
from lrs.access import org_resolver
from lrs.background import BackgroundLoop
from lrs.competency.aggregates import maintain as maintain_aggregates
from lrs.forwarding.delivery import Forwarder
from lrs.memory import release_free_memory, resident_mib
from lrs.ports import Store
from lrs.storage import open_store_waiting

log = logging.getLogger("lrs.processors")
AGGREGATE_EVERY = 5.0  # seconds between refreshes of the stored competency aggregates
# Statements read in one round (over all projections) after which freed memory is handed
# back: a trim costs a few milliseconds, a round of this size far more.
RELEASE_AFTER = 2_000
# States held in memory at once while a batch is applied (see key_parts).
KEYS_PER_PART = 2_000


_paused = 0
_paused_lock = threading.Lock()
_enable_after = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while folding a batch.

    A batch allocates hundreds of thousands of containers (parsed statements, contributions,
    decoded states) that reference counting frees, none in cycles; their allocation set off
    collections that walked every live object again and again: about a quarter of the
    processors' CPU time (benchmarks/PIPELINE.md). Collection resumes after the batch
    (nested and concurrent uses, such as the Kafka worker's threads, are counted).
    """
    global _paused, _enable_after
    with _paused_lock:
        if _paused == 0:
            _enable_after = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _enable_after:
                gc.enable()


def offset_name(reducer: Reducer) -> str:
    return f"processor:{reducer.name}"


def process_round(store: Store, reducers: Sequence[Reducer], batch: int = 1000) -> int:
    """Apply the next batch of the log to every projection; how many statements they read.

    Projections at the same offset (the usual case) share one read and one parse of the
    log: reading and decoding statements costs as much as folding some of them.
    """
    at: dict[int, list[Reducer]] = {}
    for reducer in reducers:  # registry order is kept within each group
        at.setdefault(store.get_offset(offset_name(reducer)), []).append(reducer)
    read = 0
    for position in sorted(at):
        records = store.read_log(position, batch)
        if not records:
            continue
        count, last = len(records), records[-1].offset
        group = at[position]
        with gc_paused():
            changes = changes_of_records(group, [record.value for record in records])
            del records  # the raw batch is not needed while the changes are applied
            for reducer, reducer_changes in zip(group, changes, strict=True):
                apply_in_parts(store, reducer, reducer_changes, (offset_name(reducer), last))
                read += count
    return read


def apply_in_parts(
    store: Store,
    reducer: Reducer,
    changes: list[Change],
    offset: tuple[str, int] | None = None,
    *,
    keys_per_part: int = KEYS_PER_PART,
) -> None:
    """Apply a batch's changes a few thousand keys at a time; the offset moves with the last
    part. A crash between parts replays the whole batch, which the idempotent apply absorbs."""
    parts = key_parts(changes, keys_per_part)
    for number, part in enumerate(parts, 1):
        store.apply_changes(reducer, part, offset=offset if number == len(parts) else None)


def catch_up(store: Store, reducers: Sequence[Reducer], batch: int = 1000) -> int:
    """Process until every projection has read the whole log (tests, replays, backfills)."""
    total = 0
    while read := process_round(store, reducers, batch):
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
        with gc_paused():
            (changes,) = changes_of_records([reducer], [record.value for record in records])
            apply_in_parts(store, reducer, changes)
        position = records[-1].offset
        total += len(records)
        if progress is not None:
            progress(len(records))
    store.set_offset(offset_name(reducer), position)
    return total


class LocalRunner(BackgroundLoop):
    """A background thread running every processor over the embedded log.

    With `max_growth_mib`, it stops once its process's memory (measured after the freed
    heap is handed back) has grown by more than that since its first large round, and sets
    `outgrown`: the processors' child then exits and a fresh one takes over. What grows is
    not data: Python's allocator keeps a 1 MiB arena resident while any object in it lives,
    and each batch leaves a few long-lived objects (cache entries of orjson and sqlite3)
    in arenas it otherwise freed, so memory creeps up with nothing in it to free
    (benchmarks/MEASUREMENTS.md).
    """

    name = "lrs-processors"

    def __init__(
        self,
        store: Store,
        reducers: Sequence[Reducer],
        *,
        batch: int = 1000,
        idle: float = 0.02,
        max_growth_mib: float | None = None,
        resident: Callable[[], float | None] = resident_mib,
    ) -> None:
        super().__init__(idle=idle)
        self.store = store
        self.reducers = list(reducers)
        self.batch = batch
        self.max_growth_mib = max_growth_mib
        self.baseline_mib: float | None = None
        self.outgrown = threading.Event()
        self._resident = resident
        self.aggregates = AggregatesLoop(store)

    def start(self) -> None:
        super().start()
        self.aggregates.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.aggregates.stop(timeout)
        super().stop(timeout)

    def step(self) -> int:
        read = process_round(self.store, self.reducers, self.batch)
        if read >= RELEASE_AFTER:
            release_free_memory()  # a big round's garbage would otherwise stay resident
            self.check_growth()
        return read

    def check_growth(self) -> None:
        if self.max_growth_mib is None or (now := self._resident()) is None:
            return
        if self.baseline_mib is None:
            self.baseline_mib = now
        elif now - self.baseline_mib > self.max_growth_mib:
            log.info(
                "the processors' memory grew from %.0f to %.0f MiB; handing over to a fresh"
                " process",
                self.baseline_mib,
                now,
            )
            self.outgrown.set()
            self._stop.set()  # no further round: the offsets hold where the next one starts


class AggregatesLoop(BackgroundLoop):
    """The stored competency aggregates follow the competencies processor, every
    AGGREGATE_EVERY seconds, in a thread of their own.

    A refresh reads the whole evidence of every learner the processor touched since the
    last one: seconds, once a few thousand learners are busy. Run between the processors'
    rounds, it held every projection up that long, every 5 s (the paced benchmark's lag
    p95 at 1,000 statements/s; benchmarks/PIPELINE.md); beside them, the rounds go on.
    """

    name = "lrs-aggregates"

    def __init__(self, store: Store) -> None:
        super().__init__(idle=AGGREGATE_EVERY)
        self.store = store

    def step(self) -> int:
        maintain_aggregates(self.store)
        return 0  # wait AGGREGATE_EVERY before the next, whatever it found


class ProcessRunner:
    """The embedded processors in a child process of `lrs serve`, restarted if it dies.

    Folding is Python work: in a thread it would share the API's GIL and halve ingest on a
    busy server. A child process has its own interpreter; the projections have their own
    SQLite file, so it does not take the statement writer's lock either. A watchdog thread
    starts a new child when one dies (a crash loses nothing: offsets move with the state),
    at once and without an error when it exits cleanly because its memory outgrew
    `max_growth_mib` (see LocalRunner).
    """

    def __init__(
        self,
        store_url: str,
        *,
        batch: int = 1000,
        max_growth_mib: float | None = None,
        retention: RetentionSchedule | None = None,
    ) -> None:
        self.store_url = store_url
        self.retention = retention
        self.batch = batch
        self.max_growth_mib = max_growth_mib
        self.restarts = 0  # after a crash
        self.handovers = 0  # after outgrowing its memory
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads or connections
        self._process = context.Process(
            target=_run_child,
            args=(self.store_url, os.getpid(), self.batch, self.max_growth_mib, self.retention),
            name="lrs-processors",
            daemon=True,
        )
        self._process.start()

    def start(self) -> None:
        self._spawn()
        self._watchdog = threading.Thread(target=self._watch, name="lrs-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        delay = 0.5
        while not self._stopping.wait(0.2):
            process = self._process
            if process is None or process.is_alive():
                continue
            if process.exitcode == 0:  # it outgrew its memory and stopped between rounds
                self.handovers += 1
                self._spawn()
                continue
            log.error(
                "the processors' process exited (code %s); starting a new one",
                process.exitcode,
            )
            self._stopping.wait(delay)
            if self._stopping.is_set():
                return
            self.restarts += 1
            self._spawn()
            delay = min(delay * 2, 10.0)

    def wake(self) -> None:
        """The child polls the log every few milliseconds; nothing to signal."""

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout)
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(timeout)


def _run_child(
    store_url: str,
    parent: int,
    batch: int,
    max_growth_mib: float | None,
    retention: RetentionSchedule | None = None,
) -> None:
    # Storing statements (what clients wait for) goes first; folding uses the CPU left over
    # and catches up when ingest slows down.
    os.nice(10)

    store = open_store_waiting(store_url)
    runner = LocalRunner(
        store, enabled_reducers(store), batch=batch, max_growth_mib=max_growth_mib
    )
    # Forwarding (lrs.forwarding) is one more consumer of the log, with its own offsets.
    forwarder = Forwarder(store, org_resolver(store))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    runner.start()
    forwarder.start()
    # retention runs are scheduled here too (lrs.ops.retention): one process per store
    scheduled = RetentionLoop(store, runner.reducers, retention) if retention else None
    if scheduled is not None:
        scheduled.start()
    try:
        # Exit with the parent, even if it was killed and could not stop us.
        while not stopping.wait(0.5):
            if os.getppid() != parent or runner.outgrown.is_set():
                break
    finally:
        if scheduled is not None:
            scheduled.stop()
        forwarder.stop()
        runner.stop()
        store.close()
