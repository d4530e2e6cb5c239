"""The worker runs on consumers/runtime/faust_transport.py, and its overrides reach aiokafka.

The overrides live in faust's private methods; if a faust upgrade stopped calling them,
the worker would still work, only slower, and no integration test would notice. These
checks would. (What the transport delivers is covered by the Kafka integration tests.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from consumers.runtime import faust_transport
from consumers.runtime.faust_app import create_faust_app
from lrs.config import Settings
from lrs.storage.sqlite import SQLiteStore


def test_the_worker_uses_the_transport_and_a_short_fetch_wait(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "lrs.db")
        try:
            app = create_faust_app(Settings(bus="kafka://127.0.0.1:9"), store)
            assert isinstance(app.transport, faust_transport.Transport)
            consumer = app.consumer
            assert isinstance(consumer, faust_transport.Consumer)
            thread = consumer._new_consumer_thread()
            assert isinstance(thread, faust_transport.ConsumerThread)
            kafka = thread._create_worker_consumer(app.transport)  # built, never started
            try:
                assert kafka._fetch_max_wait_ms == faust_transport.FETCH_MAX_WAIT_MS
            finally:
                await kafka.stop()
        finally:
            store.close()

    asyncio.run(scenario())
