"""The outbox relay: every stored statement reaches the bus at least once.

The store is the system of record and answers the client first; the relay then publishes
what the store lists as unpublished and marks it published only after the bus acknowledged
it. A crash between storing and publishing, or a bus outage, only delays publication.
"""

from __future__ import annotations

import logging
import threading
import time

from lrs.events.base import STATEMENTS, BusUnavailable, Event, EventBus
from lrs.storage.base import Store

log = logging.getLogger("lrs.outbox")


def relay_once(store: Store, bus: EventBus, batch: int = 500) -> int:
    """Publish the next unpublished statements; how many were published."""
    records = store.unpublished(batch)
    if not records:
        return 0
    bus.publish(STATEMENTS, [Event(r.key.encode(), r.value) for r in records])
    store.mark_published(records)
    return len(records)


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        batch: int = 500,
        idle: float = 0.02,
        check_every: float = 5.0,
    ) -> None:
        self.store = store
        self.check_every = check_every
        self.bus = bus
        self.batch = batch
        self.idle = idle
        self.published = 0
        self.failures = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lrs-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def check_log(self) -> None:
        """If the bus lost the statements topic (a broker that lost its data), republish all.

        Consumers are idempotent, so replaying the whole log costs time, never correctness.
        """
        if not self.bus.has_topic(STATEMENTS):
            log.warning("the bus has no %s topic: recreating it and republishing", STATEMENTS)
            self.bus.create_topics()
            self.store.reset_published()

    def _run(self) -> None:
        outage = 0
        last_check = 0.0
        while not self._stop.is_set():
            try:
                if outage or time.monotonic() - last_check > self.check_every:
                    self.check_log()
                    last_check = time.monotonic()
                sent = relay_once(self.store, self.bus, self.batch)
                if outage:
                    log.warning("event bus is back after %d failed attempts", outage)
                outage = 0
                self.published += sent
            except BusUnavailable as exc:
                outage += 1
                self.failures += 1
                if outage == 1:
                    log.warning("event bus unavailable, statements wait in the outbox: %s", exc)
                self._stop.wait(min(0.2 * 2 ** min(outage, 5), 5.0))
                continue
            except Exception:
                self.failures += 1
                log.exception("outbox relay failed; retrying")
                self._stop.wait(1.0)
                continue
            if not sent:
                self._wake.wait(self.idle)
                self._wake.clear()
