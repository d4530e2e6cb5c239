"""The faust application: the scaled-out runner of the same processors (`lrs process`).

Agents stay thin: decode, call the pure processor code, hand state to the store. Processor
state lives in the store (MongoDB or SQLite), not in faust tables, so any number of workers
can share the partitions and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
import orjson

from consumers.ingest import Rejected, connector_authority, store_all, triage
from consumers.reducers.base import Change, Reducer, changes_of_records
from consumers.reducers.enabled import reducers
from consumers.runtime import faust_transport
from consumers.runtime.local import apply_in_parts, gc_paused
from lrs.competency.aggregates import refresh_changes
from lrs.config import Settings
from lrs.events.base import DLQ, INBOUND, PROCESSORS_GROUP, STATEMENTS
from lrs.events.kafka import KafkaBus, LagLogger, ensure_topics
from lrs.ops.connector_runs import record_summary, split_run_records
from lrs.outbox import OutboxRelay
from lrs.ports import Store
from lrs.readmodels import COMPETENCIES
from lrs.storage import open_store_waiting

log = logging.getLogger("lrs.processors")


def processors_datadir(settings: Settings) -> Path:
    """Where faust makes its directories: under the LRS data directory, not the cwd."""
    name = f"{settings.kafka_topic_prefix}{PROCESSORS_GROUP}-data"
    return Path(settings.data).resolve() / name


def create_faust_app(settings: Settings, store: Store | None = None) -> faust.App:
    if not settings.bus.startswith("kafka://"):
        raise ValueError(
            "`lrs process` needs LRS_BUS=kafka://host:port (the embedded mode runs "
            "its processors inside `lrs serve`)"
        )
    if settings.kafka_processing_guarantee not in ("at_least_once", "exactly_once"):
        raise ValueError(
            f"LRS_KAFKA_PROCESSING_GUARANTEE={settings.kafka_processing_guarantee!r}: "
            "use at_least_once or exactly_once"
        )
    store = store if store is not None else open_store_waiting(settings.store_url)
    prefix = settings.kafka_topic_prefix
    app = faust.App(
        prefix + PROCESSORS_GROUP,
        broker=settings.bus,
        # faust's default is "<name>-data" in the working directory: one per topic prefix
        # left wherever a worker ran (the tables live in memory; faust still makes it)
        datadir=processors_datadir(settings),
        store="memory://",
        processing_guarantee=settings.kafka_processing_guarantee,
        broker_session_timeout=settings.kafka_session_timeout,
        topic_partitions=settings.kafka_partitions,
        web_enabled=False,
        autodiscover=False,
    )
    # Before any topic exists (topics create the transport): faust's own, with two
    # per-record costs removed (consumers/runtime/faust_transport.py says which and why).
    app.transport = faust_transport.Transport(app.conf.broker_consumer, app)
    statements = app.topic(prefix + STATEMENTS, key_serializer="raw", value_serializer="raw")
    inbound = app.topic(prefix + INBOUND, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(prefix + DLQ, key_serializer="raw", value_serializer="raw")
    batch, within = settings.processor_batch, settings.processor_wait

    projections = reducers(store)
    first, *rest = projections

    def apply(reducer: Reducer, changes: list[Change]) -> None:
        with gc_paused():
            apply_in_parts(store, reducer, changes)
        if reducer.name == COMPETENCIES:  # the stored competency aggregates follow
            refresh_changes(store, changes)

    def decode_and_apply_first(values: list[bytes]) -> list[list[Change]]:
        with gc_paused():
            changes = changes_of_records(projections, values)
        apply(first, changes[0])
        return changes[1:]

    async def project_batch(values: list[bytes]) -> None:
        later = await _until_done(f"{first.name} batch", decode_and_apply_first, values)
        await asyncio.gather(
            *(
                _until_done(f"{r.name} batch", apply, r, changes)
                for r, changes in zip(rest, later, strict=True)
            )
        )

    # One agent for every projection: each batch is decoded once (in the worker thread, so
    # the event loop keeps taking records meanwhile) into each projection's changes, and
    # applied a few thousand learners at a time, as the embedded runner does (bounded
    # memory); memberships first (the views rely on them), then the others side by side,
    # each in its own thread, so one waiting on the store (MongoDB's round trips) does not
    # hold the rest up.
    @app.agent(statements, name="lrs.projections")
    async def project(stream: Any) -> None:
        await in_batches(stream, batch, within, project_batch)

    authority = connector_authority("kafka", settings.public_url)

    async def reject(item: Rejected) -> None:
        headers = {"reason": item.reason.encode(), "field": (item.field or "").encode()}
        await dlq.send(value=item.payload, headers=headers)

    async def ingest_batch(values: list[bytes]) -> None:
        # `lrs connect --to kafka://` ends each run with its summary on this topic: counted
        # in the store (for /metrics and the operations page), after the batch's statements.
        runs, values = split_run_records(values)
        valid, rejected = triage(values)
        for item in rejected:
            await reject(item)
        if valid:
            refused = await _until_done("ingest batch", store_all, store, valid, authority, "kafka")
            for statement, error in refused:
                await reject(Rejected(orjson.dumps(statement), error.message, error.field))
        for run in runs:
            await _until_done("connector run", record_summary, store, run)

    @app.agent(inbound, name="lrs.ingest")
    async def ingest(stream: Any) -> None:
        await in_batches(stream, batch, within, ingest_batch)

    app.conf.lrs_store = store  # for tests and the CLI
    return app


async def in_batches(
    stream: Any,
    size: int,
    within: float,
    apply_batch: Callable[[list[Any]], Awaitable[None]],
) -> None:
    """Apply a stream in batches, acknowledging each record only after its batch is applied.

    The stream is read all the time, also while a batch is being applied (in a thread);
    what arrived meanwhile is the next batch. A batch is applied once it holds `size`
    records or its oldest record has waited `within` seconds, so a backlog is folded in
    large batches back to back and a trickle waits at most `within`. (faust's `take()`
    stopped reading while the agent worked, then waited `within` again for every batch.)

    Acks are manual (`noack()`): faust commits an offset only once every record before it
    was acknowledged, so a worker that dies mid-batch has committed nothing of that batch,
    and the next owner of the partition gets it again (the idempotent store makes that
    harmless). One batch is applied at a time, in the order the records arrived.
    """
    loop = asyncio.get_running_loop()
    manual = stream.noack()
    pending: list[Any] = []  # events read, not handed to the applier yet
    oldest = 0.0  # when the first of them arrived (loop time)
    arrived = asyncio.Event()  # pending is not empty
    full = asyncio.Event()  # pending holds `size` events: apply now, read no more
    taken = asyncio.Event()  # the applier took what was pending

    async def applier() -> None:
        nonlocal pending
        while True:
            await arrived.wait()
            wait = oldest + within - loop.time()
            if wait > 0 and not full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), wait)
            events, pending = pending, []
            arrived.clear()
            full.clear()
            taken.set()
            await apply_batch([event.value for event in events])
            for event in events:
                await manual.ack(event)

    task = asyncio.ensure_future(applier())
    task.add_done_callback(_log_failure)
    try:
        async for event in manual.events():
            if task.done():  # the applier never gives up; if it stopped, say why
                task.result()
                raise RuntimeError("the batch applier stopped")
            if not pending:
                oldest = loop.time()
            pending.append(event)
            arrived.set()
            if len(pending) >= size:
                taken.clear()
                full.set()
                waiting = asyncio.ensure_future(taken.wait())
                await asyncio.wait([waiting, task], return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
    finally:
        task.cancel()


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the batch applier stopped", exc_info=task.exception())


async def _until_done(what: str, func: Any, *args: Any) -> Any:
    """Run blocking store work, retrying until it succeeds.

    faust acknowledges the records of an agent that raises, so giving up on a batch (the
    store is restarting, say) would lose it. Holding the partition until the store is back
    keeps at-least-once delivery; the idempotent store makes the retries harmless.
    """
    attempt = 0
    while True:
        try:
            return await asyncio.to_thread(func, *args)
        except Exception:
            attempt += 1
            log.exception("%s failed (attempt %d); retrying", what, attempt)
            await asyncio.sleep(min(0.2 * 2 ** min(attempt, 5), 5.0))


def run_worker(settings: Settings) -> None:
    """Run a faust worker with the outbox relay beside it, until stopped."""
    from faust import Worker

    from consumers.runtime.retention import RetentionLoop, RetentionSchedule
    from lrs.access import org_resolver
    from lrs.forwarding.delivery import Forwarder

    processors_datadir(settings).parent.mkdir(parents=True, exist_ok=True)  # faust: no parents
    prefix = settings.kafka_topic_prefix
    ensure_topics(settings.bus.removeprefix("kafka://"), settings.kafka_partitions, prefix=prefix)
    app = create_faust_app(settings)
    bus = KafkaBus(
        settings.bus.removeprefix("kafka://"), partitions=settings.kafka_partitions, prefix=prefix
    )
    relay = OutboxRelay(app.conf.lrs_store, bus)
    lag = LagLogger(bus, settings.kafka_lag_log_interval)
    store = app.conf.lrs_store
    schedule = RetentionSchedule(settings.retention_interval, settings.retention_access_log_min_days)
    retention = RetentionLoop(store, reducers(store), schedule)
    # Forwarding reads the store's log (its total order), not the partitioned topic; a
    # lease per rule keeps one sender per destination among the workers.
    forwarder = Forwarder(app.conf.lrs_store, org_resolver(app.conf.lrs_store))
    relay.start()
    lag.start()
    forwarder.start()
    retention.start()
    try:
        Worker(app, loglevel=settings.log_level.upper()).execute_from_commandline()
    finally:
        retention.stop()
        forwarder.stop()
        lag.stop()
        relay.stop()
        bus.close()
