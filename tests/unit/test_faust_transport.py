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


def test_the_worker_uses_the_transport(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteStore(tmp_path / "lrs.db")
        try:
            app = create_faust_app(Settings(bus="kafka://127.0.0.1:9"), store)
            assert isinstance(app.transport, faust_transport.Transport)
            assert isinstance(app.consumer, faust_transport.Consumer)
        finally:
            store.close()

    asyncio.run(scenario())
