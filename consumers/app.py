"""The faust application: the scaled-out runner of the same processors (`lrs process`).

Agents stay thin: decode, call the pure processor code, hand state to the store. Processor
state lives in the store (MongoDB or SQLite), not in faust tables, so any number of workers
can share the partitions and a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import orjson

from consumers.ingest import Rejected, connector_authority, store_all, triage
from consumers.projection import Reducer, changes_for
from consumers.registry import reducers
from consumers.runner import gc_paused
from lrs.config import Settings
from lrs.events.base import DLQ, INBOUND, STATEMENTS
from lrs.storage import open_store_waiting
from lrs.storage.base import Store

log = logging.getLogger("lrs.processors")


def create_faust_app(settings: Settings, store: Store | None = None) -> faust.App:
    if not settings.bus.startswith("kafka://"):
        raise ValueError(
            "`lrs process` needs LRS_BUS=kafka://host:port (the embedded mode runs "
            "its processors inside `lrs serve`)"
        )
    store = store if store is not None else open_store_waiting(settings.store_url)
    app = faust.App(
        "lrs-processors",
        broker=settings.bus,
        store="memory://",
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.kafka_session_timeout,
        topic_partitions=settings.kafka_partitions,
        web_enabled=False,
        autodiscover=False,
    )
    statements = app.topic(STATEMENTS, key_serializer="raw", value_serializer="raw")
    inbound = app.topic(INBOUND, key_serializer="raw", value_serializer="raw")
    dlq = app.topic(DLQ, key_serializer="raw", value_serializer="raw")
    batch, within = settings.processor_batch, settings.processor_wait

    first, *rest = reducers(store)

    def apply(reducer: Reducer, decoded: list[Any]) -> None:
        with gc_paused():
            store.apply_changes(reducer, changes_for(reducer, decoded))

    # One agent for every projection: each batch is decoded once; memberships first (the
    # views rely on them), then the others side by side, each in its own thread, so one
    # waiting on the store (MongoDB's round trips) does not hold the rest up.
    @app.agent(statements, name="lrs.projections")
    async def project(stream: Any) -> None:
        async for values in stream.take(batch, within=within):
            decoded = [_decode(v) for v in values]
            await _until_done(f"{first.name} batch", apply, first, decoded)
            await asyncio.gather(*(_until_done(f"{r.name} batch", apply, r, decoded) for r in rest))

    authority = connector_authority("kafka", settings.public_url)

    async def reject(item: Rejected) -> None:
        headers = {"reason": item.reason.encode(), "field": (item.field or "").encode()}
        await dlq.send(value=item.payload, headers=headers)

    @app.agent(inbound, name="lrs.ingest")
    async def ingest(stream: Any) -> None:
        async for values in stream.take(batch, within=within):
            valid, rejected = triage(list(values))
            for item in rejected:
                await reject(item)
            if valid:
                refused = await _until_done(
                    "ingest batch", store_all, store, valid, authority, "kafka"
                )
                for statement, error in refused:
                    await reject(Rejected(orjson.dumps(statement), error.message, error.field))

    app.conf.lrs_store = store  # for tests and the CLI
    return app


def _decode(value: bytes) -> Any:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None  # changes_for skips it, with a warning


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

    from lrs.events import open_bus
    from lrs.events.kafka import ensure_topics
    from lrs.outbox import OutboxRelay

    ensure_topics(settings.bus.removeprefix("kafka://"), settings.kafka_partitions)
    app = create_faust_app(settings)
    bus = open_bus(settings.bus, settings.kafka_partitions)
    assert bus is not None
    relay = OutboxRelay(app.conf.lrs_store, bus)
    relay.start()
    try:
        Worker(app, loglevel=settings.log_level.upper()).execute_from_commandline()
    finally:
        relay.stop()
        bus.close()
