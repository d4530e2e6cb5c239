"""The worker runs on consumers/runtime/faust_transport.py, and its overrides reach aiokafka.

The overrides live in faust's private methods; if a faust upgrade stopped calling them,
the worker would still work, only slower, and no integration test would notice. These
checks would. (What the transport delivers is covered by the Kafka integration tests.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from consumers.runtime import faust_transport
from consumers.runtime.faust_app import create_faust_app
from lrs.adapters.sqlite import SQLiteStore
from lrs.config import Settings


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


def test_the_worker_makes_its_directories_under_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """faust's default datadir is relative to the working directory: every test run and
    every `lrs process` left a `<prefix>lrs-processors-data` directory wherever it ran."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    data = tmp_path / "data"
    data.mkdir()

    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "lrs.db")
        try:
            settings = Settings(bus="kafka://127.0.0.1:9", data=str(data), kafka_topic_prefix="t1.")
            app = create_faust_app(settings, store)
            await app.on_first_start()  # where faust creates its directories
        finally:
            store.close()

    asyncio.run(scenario())
    assert list(cwd.iterdir()) == []
    assert (data / "t1.lrs-processors-data" / "v1").is_dir()
